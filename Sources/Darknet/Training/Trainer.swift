import Foundation

/// Trains a Darknet classifier as Darknet's `train_network` does on the CPU: a forward pass
/// with batch norm on the batch's statistics, softmax with cost (`softmax_x_ent`) on one-hot
/// truths, the backward pass adding the parameters' gradients, and every `batch` images the SGD
/// update of `update_network` (learning rate by the `[net]` policy, momentum, decay).
///
/// Its convolutions sum as Darknet's (`ConvolutionAlgorithm.darknet`). Not thread-safe.
public final class Trainer {
    /// The network with the parameters as trained so far.
    public private(set) var network: Network
    public let settings: TrainingSettings
    /// Images trained on, as Darknet's `seen`: the weights file's, then one more per image.
    public private(set) var seen: UInt64
    public let threads: Int
    private let softmax: Int
    private var states: [TrainingState]
    let workers: Workers?

    /// `network` with its weights loaded (or drawn); `threads` defaults to the processors
    /// available. Dropout draws from C's `rand()`, as Darknet's does: `seed` seeds it (`srand`),
    /// so that a run with Darknet seeded alike draws the same cells.
    public init(network: Network, threads: Int? = nil, seed: UInt32 = 1) throws {
        var network = network
        if network.convolution != .darknet { network.use(.darknet) }
        let settings = network.training
        func refuse(_ problem: String) -> DarknetError {
            DarknetError.cfg(file: settings.file, line: settings.line, problem: problem)
        }
        guard settings.batch > 0, settings.subdivisions > 0, settings.batch % settings.subdivisions == 0 else {
            throw refuse("[net] batch=\(settings.batch) must be positive and a multiple of subdivisions=\(settings.subdivisions) to train")
        }
        // Each layer's output and delta for the whole batch, and the input's delta (the buffers
        // of `prepare`), refused here rather than when the first step allocates them.
        let perImage = network.layers.reduce(network.input.count) { $0 + 2 * $1.output.count } * MemoryLayout<Float>.size
        try Memory.require(Memory.bytes(settings.batch, of: perImage),
                           for: "\(settings.file):\(settings.line): [net] batch=\(settings.batch): a batch's outputs and gradients")
        guard let softmax = network.layers.lastIndex(where: { $0 is Softmax }) else {
            throw refuse("the network has no [softmax] layer; darkscope trains classifiers by softmax with cost")
        }
        if let index = network.layers.prefix(softmax + 1).firstIndex(where: { !$0.trains }) {
            throw refuse("layer \(index) ([\(network.layers[index].sectionName)]) cannot be trained by darkscope yet")
        }
        guard network.weightsHeader != nil else { throw DarknetError.usage("load or draw the network's weights before training it") }
        self.network = network
        self.settings = settings
        self.softmax = softmax
        seen = network.weightsHeader?.seen ?? 0
        states = network.layers.map { TrainingState(parameters: $0.parameters) }
        srand(seed)
        OpenBLAS.useCallingThread()
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        workers = self.threads > 1 ? Workers(count: self.threads) : nil
    }

    deinit {
        workers?.stop()
        buffers.forEach { $0.deallocate() }
    }

    /// Every layer's output and delta, the input's delta, and the layers' working memory, kept
    /// from one pass to the next while the batch stays the same.
    private var buffers: [UnsafeMutablePointer<Float>] = []
    private var bufferSizes: [Int] = []

    /// Batches (updates) done: Darknet's `get_current_batch`.
    public var batches: Int { Int(seen) / settings.batch }

    /// The learning rate of the next update (under the random policy, one draw of it).
    public var rate: Float { settings.rate(afterBatches: batches) }

    /// The class each image of the last `train` call was taken for, in the forward pass
    /// before the update.
    public private(set) var guesses: [Int] = []

    /// Darknet's `train_network`: `images` (CHW, one after another, a multiple of
    /// `settings.passBatch` of them) with their classes, a pass of `passBatch` at a time, each
    /// followed by an update when a whole `batch` has passed. Returns the mean cost per image.
    public func train(images: [Float], labels: [Int]) throws -> Float {
        let size = network.input.count, pass = settings.passBatch, classes = network.layers[softmax].output.count
        guard !labels.isEmpty, images.count == labels.count * size, labels.count % pass == 0 else {
            throw DarknetError.usage("training takes a multiple of \(pass) images of \(network.input) floats each, with a class for each; got \(images.count) floats and \(labels.count) classes")
        }
        if let bad = labels.first(where: { !(0..<classes).contains($0) }) {
            throw DarknetError.usage("class \(bad) does not exist; the network has classes 0...\(classes - 1)")
        }
        var cost = 0.0
        guesses = []
        for first in stride(from: 0, to: labels.count, by: pass) {
            cost += try step(Array(images[(first * size)..<((first + pass) * size)]), labels: Array(labels[first..<(first + pass)]))
        }
        return Float(cost / Double(labels.count))
    }

    /// One pass of `passBatch` images (`train_network_datum`); returns the cost summed over them.
    private func step(_ input: [Float], labels: [Int]) throws -> Double {
        let batch = labels.count, layers = network.layers.prefix(softmax + 1)
        seen += UInt64(batch)
        network.recordSeen(seen)
        // Each layer's output and delta, the input's delta, and the layers' working memory.
        let forwardScratch = ((layers.map(\.scratchCount).max() ?? 0) + 15) / 16 * 16
        let shared = ((layers.map(\.backwardScratch.shared).max() ?? 0) + 15) / 16 * 16
        let perThread = ((layers.map(\.backwardScratch.perThread).max() ?? 0) + 15) / 16 * 16
        let counts = layers.map { batch * $0.output.count }
        let sizes = counts + counts + [input.count, threads * forwardScratch, shared + threads * perThread]
        if bufferSizes != sizes {
            buffers.forEach { $0.deallocate() }
            buffers = sizes.map { count in
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
                buffer.initialize(repeating: 0, count: max(count, 1))
                return buffer
            }
            bufferSizes = sizes
        }
        // The deltas are added to: zero them; the outputs are written whole.
        for index in layers.count...(2 * layers.count) { zero(buffers[index], count: sizes[index]) }
        let outputs = Array(buffers[0..<layers.count]), deltas = Array(buffers[layers.count..<(2 * layers.count)])
        let inputDelta = buffers[2 * layers.count], scratch = buffers[2 * layers.count + 1], working = buffers[2 * layers.count + 2]
        let readOnly = outputs.map { UnsafePointer($0) }
        defer { workers?.rest() }
        input.withUnsafeBufferPointer { image in
            var context = ForwardContext(batch: batch, input: image.baseAddress!, output: outputs[0], layerOutputs: readOnly,
                                         threads: threads, scratch: scratch, scratchCount: forwardScratch, workers: workers)
            for (index, layer) in layers.enumerated() {
                context.output = outputs[index]
                layer.forward(training: context, state: states[index])
                context.input = readOnly[index]
            }
        }
        // Softmax with cost: Darknet's delta is truth - p, of the logits as of the probabilities.
        let classes = layers[softmax].output.count, p = outputs[softmax]
        var cost = 0.0
        for (b, label) in labels.enumerated() {
            for c in 0..<classes { deltas[softmax][b * classes + c] = (c == label ? 1 : 0) - p[b * classes + c] }
            cost += Double(-log(p[b * classes + label]))
            let row = UnsafeBufferPointer(start: p + b * classes, count: classes)
            guesses.append(row.indices.max { row[$0] < row[$1] || row[$0] == row[$1] && $0 > $1 }!)
        }
        input.withUnsafeBufferPointer { image in
            var context = BackwardContext(batch: batch, input: image.baseAddress!, output: readOnly[0],
                                          outputGradient: UnsafePointer(deltas[0]), inputGradient: inputDelta,
                                          layerGradients: deltas, layerOutputs: readOnly, threads: threads, shared: working,
                                          scratch: working + shared, scratchCount: perThread, workers: workers)
            for index in stride(from: softmax, through: 0, by: -1) {
                context.input = index == 0 ? image.baseAddress! : readOnly[index - 1]
                context.output = readOnly[index]
                context.outputGradient = UnsafePointer(deltas[index])
                context.inputGradient = index == 0 ? inputDelta : deltas[index - 1]
                context.wantsInputGradient = index > 0
                layers[index].backward(training: context, state: states[index])
            }
        }
        if (Int(seen) / batch) % settings.subdivisions == 0 { update() }
        return cost
    }

    /// Zeroes `count` floats at `buffer`, cut among the threads.
    private func zero(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        parallel(count, work: count) { (buffer + $0.lowerBound).update(repeating: 0, count: $0.count) }
    }

    /// Darknet's `update_convolutional_layer` (and connected's) for every layer: biases and
    /// scales move by rate / batch times their updates; weights first take their decay into
    /// theirs; then the updates keep `momentum` of themselves for the next batch. Darknet's
    /// three passes over each block in one, value by value, to the same floats.
    private func update() {
        // The random policy draws as Darknet's rand_uniform does, from C's rand().
        let rate = settings.rate(afterBatches: batches) { Float(rand()) / Float(RAND_MAX) }, batch = Float(settings.batch)
        let step = rate / batch, decay = -settings.decay * batch, momentum = settings.momentum
        for (index, layer) in network.layers.enumerated() where !layer.parameterBlocks.isEmpty {
            let state = states[index]
            state.parameters.withUnsafeMutableBufferPointer { parameters in
                state.updates.withUnsafeMutableBufferPointer { updates in
                    let (p, u) = (parameters.baseAddress!, updates.baseAddress!)
                    var offset = 0
                    for block in layer.parameterBlocks {
                        let first = offset
                        offset += block.count
                        let decays: Bool
                        switch block.kind {
                        case .rollingMean, .rollingVariance: continue
                        case .weights: decays = true
                        case .biases, .scales: decays = false
                        }
                        parallel(block.count, work: block.count) { range in
                            for i in (first + range.lowerBound)..<(first + range.upperBound) {
                                if decays { u[i] += decay * p[i] }
                                p[i] += step * u[i]
                                u[i] *= momentum
                            }
                        }
                    }
                }
            }
            network.replaceParameters(ofLayer: index, with: state.parameters)
        }
    }
}

/// The trainer's own passes (zeroing, the update) split as the layers' are; they need no scratch.
extension Trainer: LayerThreads {
    var scratch: UnsafeMutablePointer<Float>? { nil }
    var scratchCount: Int { 0 }
}
