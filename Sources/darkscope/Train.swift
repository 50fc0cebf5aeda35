import ArgumentParser
import Darknet
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a Darknet classifier on labelled images, as Darknet's train_network does.",
        discussion: """
            DATA is a folder with one folder of .jpg or .png images per label (DATA/LABEL/*.jpg), the \
            labels in name order, or a Darknet data file (train= the list of images, labels= the label \
            names, backup= the output folder), where a label must be a whole folder or file-name part of \
            an image's path (Darknet matches any substring). Starts from WEIGHTS, or from random weights \
            (--seed) without it. Each batch of [net]'s batch images (in subdivisions passes) is one SGD \
            update with [net]'s learning rate policy, momentum and decay; images are resized to the \
            network's input (Darknet's augmentation is not done yet). Prints a line per batch as Darknet \
            does: batch, epoch: loss, average loss, learning rate, seconds, images seen. Writes \
            NAME_final.weights (NAME: the cfg's name) to --backup, never over an existing file without --force.
            """)

    @Argument(help: "A folder of label folders, or a Darknet data file.")
    var data: String

    @Argument(help: "The network's .cfg file; it must end in a softmax.")
    var cfg: String

    @Argument(help: "Weights to start from (default: random weights, --seed).")
    var weights: String?

    @Option(help: "Batches (updates) to train for (default: [net]'s max_batches).")
    var maxBatches: Int?

    @Option(help: "Seed of the random weights and of the images' order.")
    var seed: UInt64 = 1

    @Flag(help: "Take the images in list order, round and round, instead of at random.")
    var inOrder = false

    @Option(help: "Folder for the weights (default: the data file's backup=, else the current folder).")
    var backup: String?

    @Option(help: "Write NAME.backup every N batches.")
    var backupEvery = 100

    @Flag(help: "Overwrite existing weights files.")
    var force = false

    @Option(help: "Threads (default: one per processor).")
    var threads: Int?

    func validate() throws {
        if let maxBatches, maxBatches < 1 { throw ValidationError("--max-batches must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if backupEvery < 1 { throw ValidationError("--backup-every must be at least 1") }
    }

    func run() throws {
        var network = try Network(cfg: cfg)
        network.warnings.forEach(Output.warn)
        let data = try TrainingData(path: data)
        if let weights { try network.loadWeights(path: weights) } else { try network.randomize(seed: seed) }
        let trainer = try Trainer(network: network, threads: threads)
        let classes = trainer.network.outputCount
        guard data.labels.count == classes else {
            throw DarknetError.usage("\(self.data) has \(data.labels.count) labels but \(cfg) outputs \(classes) classes")
        }
        let batches = maxBatches ?? network.training.maxBatches
        guard batches > 0 else { throw DarknetError.usage("\(cfg) gives no max_batches; say how long to train with --max-batches") }
        let name = URL(fileURLWithPath: cfg).deletingPathExtension().lastPathComponent
        let folder = backup ?? data.backup ?? FileManager.default.currentDirectoryPath
        let output = (folder as NSString).appendingPathComponent("\(name)_final.weights")
        let backupPath = (folder as NSString).appendingPathComponent("\(name).backup")
        // Refused before any training, not after it; the backup it resumes from is its own to replace.
        for path in [output, backupPath] where !force && FileManager.default.fileExists(atPath: path) {
            guard let weights, path == backupPath,
                  URL(fileURLWithPath: weights).standardizedFileURL == URL(fileURLWithPath: path).standardizedFileURL else {
                throw DarknetError.usage("\(path) exists; darkscope never overwrites weights without --force")
            }
        }
        let stops = StopSignals()
        let size = network.input
        var order = ExampleOrder(count: data.examples.count, seed: seed, inOrder: inOrder)
        var average: Float?
        let start = Date()
        while trainer.batches < batches {
            if let signal = stops.received {
                try save(trainer, to: backupPath)
                Output.line("stopped by \(signal == SIGINT ? "SIGINT" : "SIGTERM") after batch \(trainer.batches): wrote \(backupPath); train from it to go on")
                try Output.finish()
                Darkscope.exit(withError: ExitCode(128 + signal))
            }
            var images: [Float] = [], labels: [Int] = []
            while labels.count < network.training.batch {
                let example = data.examples[order.next()]
                do {
                    images += try Image(contentsOf: example.path).resized(width: size.width, height: size.height).values
                    labels.append(example.label)
                } catch let error as DarknetError {
                    Output.warn("skipped an image: \(error)")
                    try order.drop(example.path)
                }
            }
            let loss = try trainer.train(images: images, labels: labels)
            average = average.map { $0 * 0.9 + loss * 0.1 } ?? loss
            Output.line(String(format: "%ld, %.3f: %f, %f avg, %f rate, %lf seconds, %ld images", trainer.batches,
                               Double(trainer.seen) / Double(data.examples.count), loss, average!, trainer.rate,
                               Date().timeIntervalSince(start), trainer.seen))
            fflush(stdout)
            if trainer.batches % backupEvery == 0 { try save(trainer, to: backupPath) }
        }
        try save(trainer, to: output)
        Output.line("wrote \(output)")
    }

    /// Writes the weights as trained so far; a file in the way was checked at the start.
    private func save(_ trainer: Trainer, to path: String) throws {
        let trained = trainer.network
        try WeightsFile.write(path: path, header: trained.weightsHeader ?? WeightsHeader(), overwrite: true) { put in
            try trained.parameters.withUnsafeBytes { try put($0) }
        }
    }
}

/// SIGINT and SIGTERM while training: taken note of, so that the batch under way finishes
/// and a backup is written before the process exits.
final class StopSignals: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var signal: Int32?

    init() {
        for number in [SIGINT, SIGTERM] {
            // Ignored by the default handler, so that only the source sees it.
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.note(number) }
            source.resume()
            sources.append(source)
        }
    }

    private func note(_ number: Int32) { lock.withLock { signal = signal ?? number } }

    /// The first stop signal received, if any.
    var received: Int32? { lock.withLock { signal } }
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
