import Foundation

/// The scalar a backward pass differentiates, one per image.
public enum Objective: Hashable, Sendable {
    /// A class's logit: its value at the input of the network's final softmax (at the output
    /// itself where the network does not end in a softmax).
    case logit(class: Int)
    /// A class's probability: its value in the network's output.
    case probability(class: Int)
    /// The mean of one channel of one layer's output; a flat output's channels are its values.
    case channelMean(layer: Int, channel: Int)
}

/// One backward pass's results, each laid out as the values it is the gradient of.
public struct Gradients: Sendable {
    public var batch: Int
    /// With respect to the network input, image after image (CHW).
    public var input: [Float]
    /// `layers[i]`: with respect to layer i's output, for every image; zero above the layer
    /// the objective reads, and empty for layers not kept (see `Backpropagator.backward`).
    public var layers: [[Float]]

    /// The gradient with respect to image `image` of the batch.
    public func input(image: Int) -> ArraySlice<Float> {
        let count = input.count / batch
        return input[(image * count)..<((image + 1) * count)]
    }
}

/// Runs a network backward: from a forward pass that kept every layer's output, the gradient
/// of an `Objective` (or of any gradient given at a layer's output) with respect to every
/// layer's output and to the input. Owns one gradient buffer per layer, allocated once per
/// batch size and reused, so that steady-state passes allocate nothing but results.
///
/// The forward pass must be the plain one, with Darknet's sums: `forward(_:batch:)` runs it.
/// A pass with Winograd's sums gives a different gradient where a maxpool's inputs tie, as in
/// a letterbox's flat margins, which Darknet's sums compute alike and Winograd's, whose
/// rounding varies with position, do not: the winner moves, and the gradient with it (a
/// tenth of Tiny Darknet's input gradient on the dog).
///
/// Not thread-safe: give each thread its own.
public final class Backpropagator {
    public let network: Network
    public let threads: Int
    private let workers: Workers?

    /// `threads` defaults to the processors available. `network` must be the one (with the
    /// same weights) whose forward passes it is given.
    public init(network: Network, threads: Int? = nil) {
        self.network = network
        OpenBLAS.useCallingThread()
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        workers = self.threads > 1 ? Workers(count: self.threads) : nil
    }

    /// Runs `input` (`batch` images, CHW) forward as `backward` needs: with Darknet's sums,
    /// whatever the network's convolutions use, keeping every layer's output and the values
    /// before the activations whose gradients need them.
    public func forward(_ input: [Float], batch: Int = 1) throws -> ForwardResult {
        try plainPredictor.forward(input, batch: batch, keepingActivationInputs: true)
    }

    private lazy var plainPredictor: Predictor = {
        var plain = network
        if plain.convolution != .darknet { plain.use(.darknet) }
        return Predictor(network: plain, threads: threads)
    }()

    deinit {
        workers?.stop()
        if let arena { munmap(arena, arenaBytes) }
    }

    private var batch = 0
    private var arena: UnsafeMutableRawPointer?
    private var arenaBytes = 0
    /// Every layer's output gradient, then the input's, then the layers' working memory.
    private var gradients: [UnsafeMutablePointer<Float>] = []
    private var inputGradient: UnsafeMutablePointer<Float>?
    private var shared: UnsafeMutablePointer<Float>?
    private var scratch: UnsafeMutablePointer<Float>?
    private var scratchCount = 0
    /// The forward pass's outputs during a pass, kept for its capacity.
    private var outputs: [UnsafePointer<Float>] = []

    private func prepare(batch: Int) throws {
        guard batch != self.batch else { return }
        if let arena { munmap(arena, arenaBytes) }
        arena = nil
        self.batch = 0
        let floats = network.layers.map { batch * $0.output.count } + [batch * network.input.count]
        let sizes = floats.map { ($0 * MemoryLayout<Float>.size + 63) / 64 * 64 }
        let sharedCount = ((network.layers.map(\.backwardScratch.shared).max() ?? 0) + 15) / 16 * 16
        scratchCount = ((network.layers.map(\.backwardScratch.perThread).max() ?? 0) + 15) / 16 * 16
        let gradientBytes = sizes.reduce(0, +)
        let bytes = gradientBytes + (sharedCount + threads * scratchCount) * MemoryLayout<Float>.size
        try Memory.require(bytes + gradientBytes, for: "\(network.cfgPath): the layers' gradients for a batch of \(batch)")
        guard let mapping = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapping != MAP_FAILED else {
            throw DarknetError.usage("\(network.cfgPath): the layers' gradients for a batch of \(batch) need \(bytes) bytes, more than this machine will map")
        }
        madvise(mapping, bytes, MADV_HUGEPAGE)
        arena = mapping
        arenaBytes = bytes
        var offset = 0
        var places: [UnsafeMutablePointer<Float>] = []
        for (count, size) in zip(floats, sizes) {
            places.append((mapping + offset).bindMemory(to: Float.self, capacity: count))
            offset += size
        }
        inputGradient = places.removeLast()
        gradients = places
        shared = (mapping + offset).bindMemory(to: Float.self, capacity: sharedCount)
        scratch = (mapping + offset + sharedCount * MemoryLayout<Float>.size)
            .bindMemory(to: Float.self, capacity: threads * scratchCount)
        outputs.reserveCapacity(network.layers.count)
        self.batch = batch
    }

    /// The gradient of `objective` for each image of `forward`, the pass of `input` (see
    /// `forward(_:batch:)`). Every layer's gradient is copied into the result unless
    /// `keepingLayerGradients` is false, when only the input's is.
    public func backward(_ objective: Objective, input: [Float], forward: ForwardResult,
                         keepingLayerGradients: Bool = true) throws -> Gradients {
        let (layer, first, count, value) = try network.seed(of: objective)
        let size = network.layers[layer].output.count
        return try run(input: input, forward: forward, top: layer, keeping: keepingLayerGradients) { gradient in
            for b in 0..<forward.batch {
                (gradient + b * size + first).update(repeating: value, count: count)
            }
        }
    }

    /// The same from any gradient with respect to layer `layer`'s output (`batch` times its
    /// count floats), such as a cost's.
    public func backward(seeding layer: Int, with gradient: [Float], input: [Float], forward: ForwardResult,
                         keepingLayerGradients: Bool = true) throws -> Gradients {
        guard network.layers.indices.contains(layer) else {
            throw DarknetError.usage("layer \(layer) does not exist; the network has layers 0...\(network.layers.count - 1)")
        }
        let count = forward.batch * network.layers[layer].output.count
        guard gradient.count == count else {
            throw DarknetError.usage("layer \(layer)'s output gradient for a batch of \(forward.batch) has \(count) floats, not \(gradient.count)")
        }
        return try run(input: input, forward: forward, top: layer, keeping: keepingLayerGradients) { target in
            gradient.withUnsafeBufferPointer { target.update(from: $0.baseAddress!, count: count) }
        }
    }

    /// Zeroes the gradients, lets `seed` set layer `top`'s, and runs the layers from `top` down.
    private func run(input: [Float], forward: ForwardResult, top: Int, keeping: Bool,
                     seed: (UnsafeMutablePointer<Float>) -> Void) throws -> Gradients {
        let batch = forward.batch
        guard batch > 0, input.count == batch * network.input.count else {
            throw DarknetError.usage("the network takes \(network.input) inputs per image; got \(input.count) floats for a batch of \(batch)")
        }
        guard forward.layerOutputs.count == network.layers.count,
              zip(network.layers, forward.layerOutputs).allSatisfy({ $1.count == batch * $0.output.count }) else {
            throw DarknetError.usage("the backward pass needs a forward pass of this network that kept every layer's output (keepingLayerOutputs: true)")
        }
        // Activations whose slope needs their input: the forward pass kept it, where the layer can.
        let needing = network.layers.indices.prefix(top + 1).filter { network.layers[$0].keepsActivationInput }
        if let index = needing.first(where: { forward.activationInputs.count <= $0 || forward.activationInputs[$0].isEmpty }) {
            let layer = network.layers[index]
            throw DarknetError.usage("layer \(index) ([\(layer.sectionName)]) has an activation whose gradient needs the values before it: give the backward pass a forward pass that kept every layer's output")
        }
        try prepare(batch: batch)
        defer { workers?.rest() }
        // All of them: those above `top` are results too, zero.
        for (layer, gradient) in zip(network.layers, gradients) {
            gradient.update(repeating: 0, count: batch * layer.output.count)
        }
        inputGradient!.update(repeating: 0, count: input.count)
        seed(gradients[top])
        outputs.removeAll(keepingCapacity: true)
        defer { outputs.removeAll(keepingCapacity: true) }
        input.withUnsafeBufferPointer { image in
            withPointers(to: forward.layerOutputs.prefix(top + 1)) {
                var context = BackwardContext(batch: batch, input: image.baseAddress!, output: outputs[0],
                                              outputGradient: gradients[0], inputGradient: inputGradient!,
                                              layerGradients: gradients, layerOutputs: outputs, threads: threads, shared: shared,
                                              scratch: scratch, scratchCount: scratchCount, workers: workers)
                for index in stride(from: top, through: 0, by: -1) {
                    context.input = index == 0 ? image.baseAddress! : outputs[index - 1]
                    context.output = outputs[index]
                    context.outputGradient = UnsafePointer(gradients[index])
                    context.inputGradient = index == 0 ? inputGradient! : gradients[index - 1]
                    // Empty but for the layers that need it (checked above).
                    let kept = forward.activationInputs.indices.contains(index) ? forward.activationInputs[index] : []
                    kept.withUnsafeBufferPointer { kept in
                        context.activationInput = kept.baseAddress
                        network.layers[index].backward(context)
                    }
                }
            }
        }
        let layers = zip(network.layers, gradients).map { layer, gradient in
            keeping ? Array(UnsafeBufferPointer(start: gradient, count: batch * layer.output.count)) : []
        }
        return Gradients(batch: batch, input: Array(UnsafeBufferPointer(start: inputGradient, count: input.count)),
                         layers: layers)
    }

    /// Runs `body` with `outputs` pointing at each array's values, which stay in place meanwhile.
    private func withPointers(to arrays: ArraySlice<[Float]>, _ body: () -> Void) {
        guard let first = arrays.first else { return body() }
        first.withUnsafeBufferPointer { values in
            outputs.append(values.baseAddress!)
            withPointers(to: arrays.dropFirst(), body)
        }
    }
}

extension Network {
    /// Where `objective` reads: its layer, and the values of each image's output it sets
    /// the gradient of (`count` from `first`) to `value`.
    func seed(of objective: Objective) throws -> (layer: Int, first: Int, count: Int, value: Float) {
        let output = outputLayerIndex
        switch objective {
        case let .logit(index), let .probability(index):
            var layer = output
            if case .logit = objective, layers[output] is Softmax {
                guard output > 0 else { throw DarknetError.usage("the softmax is the network's first layer: its logits are the input") }
                layer = output - 1
            }
            let classes = layers[layer].output.count
            guard (0..<classes).contains(index) else {
                throw DarknetError.usage("class \(index) does not exist; the network has classes 0...\(classes - 1)")
            }
            return (layer, index, 1, 1)
        case let .channelMean(layer, channel):
            guard layers.indices.contains(layer) else {
                throw DarknetError.usage("layer \(layer) does not exist; the network has layers 0...\(layers.count - 1)")
            }
            let shape = layers[layer].output
            let channels = shape.isImage ? shape.channels : shape.count, spatial = shape.isImage ? shape.spatial : 1
            guard (0..<channels).contains(channel) else {
                throw DarknetError.usage("layer \(layer) has channels 0...\(channels - 1), not \(channel)")
            }
            return (layer, channel * spatial, spatial, 1 / Float(spatial))
        }
    }
}
