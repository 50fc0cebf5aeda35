import Foundation

/// A training run as `darkscope train` makes it, batch after batch: examples drawn in list
/// order or at random, each image read and augmented (or only resized), an SGD update per
/// batch, and after each epoch a validation when there are images to validate on.
public final class TrainingRun {
    public let trainer: Trainer
    public let data: TrainingData
    /// Images validated on after each epoch, if any.
    public let validation: TrainingData?
    /// Whether images are augmented by `[net]`'s keys, or only resized to the input.
    public let augments: Bool
    /// How many of the best guesses count for validation's top-k.
    public let top: Int
    /// Darknet's `avg_loss`: the loss's running average, 0.9 of itself and 0.1 of each batch.
    public private(set) var averageLoss: Float?
    private var order: ExampleOrder
    private var random: SplitMix64
    private var epoch: Int

    /// Images of each batch kept in its report, to show what is being learnt.
    public static let samplesKept = 8

    public init(trainer: Trainer, data: TrainingData, validation: TrainingData? = nil, seed: UInt64,
                inOrder: Bool, augments: Bool) {
        self.trainer = trainer
        self.data = data
        self.validation = validation
        self.augments = augments
        top = min(data.top ?? 5, trainer.network.outputCount)
        order = ExampleOrder(count: data.examples.count, seed: seed, inOrder: inOrder)
        random = SplitMix64(seed: seed ^ 0xA5A5_A5A5)
        epoch = Int(trainer.seen) / data.examples.count
    }

    /// Trains one batch of `[net]`'s `batch` images. Images that cannot be read are skipped
    /// (and named in the report); it fails when none can be read.
    public func nextBatch() throws -> BatchReport {
        let size = trainer.network.input, batch = trainer.settings.batch
        var images: [Float] = [], labels: [Int] = [], samples: [TrainingSample] = [], skipped: [String] = []
        images.reserveCapacity(batch * size.count)
        while labels.count < batch {
            let example = data.examples[order.next()]
            do {
                let original = try Image(contentsOf: example.path)
                let image = augments
                    ? trainer.settings.augmentation.apply(to: original, size: size.width, using: &random)
                    : original.resized(width: size.width, height: size.height)
                guard image.values.count == size.count else {
                    throw DarknetError.usage("\(example.path) gives \(image.channels) channels; the network takes \(size.channels)")
                }
                images += image.values
                labels.append(example.label)
                if samples.count < TrainingRun.samplesKept { samples.append(TrainingSample(image: image, label: example.label, guess: 0)) }
            } catch let error as DarknetError {
                skipped.append("\(error)")
                try order.drop(example.path)
            }
        }
        let loss = try trainer.train(images: images, labels: labels)
        for index in samples.indices { samples[index].guess = trainer.guesses[index] }
        averageLoss = averageLoss.map { $0 * 0.9 + loss * 0.1 } ?? loss
        var report = BatchReport(batch: trainer.batches, seen: trainer.seen,
                                 epoch: Double(trainer.seen) / Double(data.examples.count), loss: loss,
                                 averageLoss: averageLoss!, rate: trainer.rate, skipped: skipped, samples: samples)
        let epochs = Int(trainer.seen) / data.examples.count
        if epochs > epoch, let validation {
            report.validation = try Validation(network: trainer.network, data: validation, top: top, threads: trainer.threads)
        }
        epoch = epochs
        return report
    }
}

/// What one batch of a training run did.
public struct BatchReport: Sendable {
    /// Batches (updates) done, this one included.
    public var batch: Int
    /// Images trained on, as Darknet's `seen`.
    public var seen: UInt64
    /// Passes over the training images so far.
    public var epoch: Double
    /// The batch's mean cost per image, and the running average.
    public var loss: Float, averageLoss: Float
    /// The learning rate of the next update, as Darknet prints it.
    public var rate: Float
    /// Images that could not be read, with why.
    public var skipped: [String]
    /// The batch's first images as trained on, with their labels and guesses.
    public var samples: [TrainingSample]
    /// The validation after an epoch ended with this batch.
    public var validation: Validation?

    public init(batch: Int, seen: UInt64, epoch: Double, loss: Float, averageLoss: Float, rate: Float,
                skipped: [String] = [], samples: [TrainingSample] = [], validation: Validation? = nil) {
        (self.batch, self.seen, self.epoch, self.loss, self.averageLoss, self.rate) = (batch, seen, epoch, loss, averageLoss, rate)
        (self.skipped, self.samples, self.validation) = (skipped, samples, validation)
    }
}

/// A training image as the network took it (augmented), its label and the class it was taken for.
public struct TrainingSample: Sendable {
    public var image: Image
    public var label: Int
    public var guess: Int

    public init(image: Image, label: Int, guess: Int) {
        (self.image, self.label, self.guess) = (image, label, guess)
    }
}

/// Which example comes next: list order round and round, or a seeded random draw; images
/// that fail to decode are dropped from the draw.
struct ExampleOrder {
    private var taken = 0, random: SplitMix64
    private let inOrder: Bool
    private var excluded: Set<Int> = []
    private var last = 0
    private let count: Int

    init(count: Int, seed: UInt64, inOrder: Bool) {
        self.count = count
        self.inOrder = inOrder
        random = SplitMix64(seed: seed)
    }

    mutating func next() -> Int {
        repeat {
            last = inOrder ? taken % count : Int.random(in: 0..<count, using: &random)
            taken += 1
        } while excluded.contains(last)
        return last
    }

    /// Drops the example `next()` gave last; fails when none is left.
    mutating func drop(_ path: String) throws {
        excluded.insert(last)
        guard excluded.count < count else { throw DarknetError.usage("no image could be read; the last was \(path)") }
    }
}
