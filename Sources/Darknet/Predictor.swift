import DarknetKernels
import Foundation

/// One forward pass's results: every layer's output and how long each took.
public struct ForwardResult: Sendable {
    public var batch: Int
    /// `layerOutputs[i]` holds layer i's output for every image, image after image;
    /// empty for layers not kept (see `Predictor.forward(_:batch:keepingLayerOutputs:)`).
    public var layerOutputs: [[Float]]
    /// Wall time of each layer, in seconds.
    public var layerSeconds: [Double]
    public var outputLayerIndex: Int
    /// `activationInputs[i]`: layer i's values before its activation, kept (with the layer
    /// outputs) where the activation's gradient needs them (`Activation.gradientFromOutput`);
    /// empty for the other layers.
    public var activationInputs: [[Float]] = []

    /// The network's prediction for image `image` of the batch.
    public func prediction(image: Int = 0) -> ArraySlice<Float> {
        let all = layerOutputs[outputLayerIndex]
        let count = all.count / batch
        return all[(image * count)..<((image + 1) * count)]
    }

    public var totalSeconds: Double { layerSeconds.reduce(0, +) }
}

/// Runs a network. Owns one output buffer per layer, allocated
/// once per batch size and reused, so steady-state passes allocate nothing but results.
///
/// Not thread-safe: give each thread its own predictor.
public final class Predictor {
    public let network: Network
    private var batch = 0
    private var outputs: [UnsafeMutablePointer<Float>] = []
    private var readOnlyOutputs: [UnsafePointer<Float>] = []

    /// Threads for the network's loops, BLAS calls included.
    public let threads: Int

    /// `threads` defaults to the processors available.
    public init(network: Network, threads: Int? = nil) {
        self.network = network
        OpenBLAS.useCallingThread()
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        workers = self.threads > 1 ? Workers(count: self.threads) : nil
    }

    private let workers: Workers?

    deinit {
        workers?.stop()
        release()
    }

    private func release() {
        if let arena { munmap(arena, arenaBytes) }
        arena = nil
        outputs = []
        next = []
        readOnlyOutputs = []
        scratch = nil
        heldBase = nil
    }

    /// Every layer's output, in one zeroed mapping the kernel may back with huge pages:
    /// a few faults instead of one per 4 KB (5 ms of Tiny Darknet's first pass), taken when
    /// it is mapped (`prefault`).
    private var arena: UnsafeMutableRawPointer?
    private var arenaBytes = 0
    /// Whether outputs share places in the arena (see `places(sizes:sharing:lastReads:)`).
    private var sharing = false

    private func prepare(batch: Int, sharing: Bool) throws {
        guard batch != self.batch || sharing != self.sharing else { return }
        release()
        // A batch whose outputs' bytes would overflow an Int is refused before they are counted.
        let perImage = network.layers.reduce(0) { $0 + $1.output.count } * MemoryLayout<Float>.size
        guard Memory.bytes(batch, of: perImage) < Int.max / 2 else {
            throw DarknetError.usage("\(network.cfgPath): the layers' outputs for a batch of \(batch) need more memory than a machine has")
        }
        // Each output starts on a cache line; the layers' working memory comes after them.
        let sizes = network.layers.map { (batch * $0.output.count * MemoryLayout<Float>.size + 63) / 64 * 64 }
        var reads = lastReads()
        let plan = sharing ? fusions(lastReads: reads) : network.layers.map { _ in nil }
        // A convolution that does the next layer's work writes that layer's output while it
        // reads its own input, so that input keeps its place until the next layer's turn is over.
        for index in network.layers.indices where index > 0 && plan[index] != nil {
            for source in [index - 1] + network.layers[index].earlierInputs { reads[source] = max(reads[source], index + 1) }
        }
        let (offsets, outputBytes) = places(sizes: sizes, sharing: sharing, lastReads: reads)
        scratchCount = ((network.layers.map(\.scratchCount).max() ?? 0) + 15) / 16 * 16
        let bytes = max(outputBytes + threads * scratchCount * MemoryLayout<Float>.size, 1)
        // Kept outputs are copied into the result as well.
        try Memory.require(sharing ? bytes : bytes + outputBytes,
                           for: "\(network.cfgPath): the layers' outputs for a batch of \(batch)")
        guard let mapping = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapping != MAP_FAILED else {
            throw DarknetError.usage("\(network.cfgPath): the layers' outputs for a batch of \(batch) need \(bytes) bytes, more than this machine will map")
        }
        madvise(mapping, bytes, MADV_HUGEPAGE)
        Self.prefault(mapping, bytes: bytes)
        self.batch = batch
        self.sharing = sharing
        arena = mapping
        arenaBytes = bytes
        outputs = zip(offsets, sizes).map { offset, size in
            (mapping + offset).bindMemory(to: Float.self, capacity: size / MemoryLayout<Float>.size)
        }
        readOnlyOutputs = outputs.map { UnsafePointer($0) }
        next = plan.enumerated().map { index, fusion in
            switch fusion {
            case .maxPool: .maxPool(output: outputs[index + 1])
            case let .shortcut(from, activation): .shortcut(output: outputs[index + 1], add: readOnlyOutputs[from], activation: activation)
            case nil: nil
            }
        }
        scratch = scratchCount > 0
            ? (mapping + outputBytes).bindMemory(to: Float.self, capacity: threads * scratchCount) : nil
    }

    /// Faults every page of a fresh mapping in now, so that the first pass's layers are timed
    /// without them: Tiny Darknet's first pass took some 800 faults inside its layers, each
    /// huge page zeroed (and, where memory is fragmented, compacted) within the layer that
    /// first wrote it. The pages stay zero, so results are unchanged.
    private static func prefault(_ mapping: UnsafeMutableRawPointer, bytes: Int) {
        // Linux 5.14 and later; before it, touch each page by hand.
        guard madvise(mapping, bytes, MADV_POPULATE_WRITE) != 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        for offset in stride(from: 0, to: bytes, by: page) { mapping.storeBytes(of: 0, toByteOffset: offset, as: UInt8.self) }
    }

    /// A layer whose work the convolution before it does (see `FusedLayer`).
    private enum Fusion {
        case maxPool
        case shortcut(from: Int, activation: ds_activation)
    }

    /// The plan of a pass that keeps no outputs: for each layer, the next one's work it does,
    /// its own output never written. Only a convolution whose output nothing but the next
    /// layer reads: a maxpool of 2 × 2 (Tiny Darknet's cost 0.3 ms a pass) or a residual
    /// shortcut (ResNet-50's, a pass over memory each).
    private func fusions(lastReads reads: [Int]) -> [Fusion?] {
        let layers = network.layers
        return layers.indices.map { index in
            guard index + 1 < layers.count, reads[index] == index + 1,
                  let convolution = layers[index] as? Convolutional else { return nil }
            if convolution.poolsInOutput, (layers[index + 1] as? MaxPool)?.halves == true { return .maxPool }
            if convolution.addsShortcut, let shortcut = layers[index + 1] as? Shortcut, shortcut.from != index,
               let activation = shortcut.epilogueActivation {
                return .shortcut(from: shortcut.from, activation: activation)
            }
            return nil
        }
    }

    /// What each layer of a pass does besides its own work (`fusions`), with the places it writes.
    private var next: [FusedLayer?] = []

    /// The last layer that reads each layer's output (the prediction's: `Int.max`).
    private func lastReads() -> [Int] {
        var lastRead = network.layers.indices.map { $0 + 1 }
        for (index, layer) in network.layers.enumerated() {
            for source in layer.earlierInputs { lastRead[source] = max(lastRead[source], index) }
        }
        lastRead[network.outputLayerIndex] = .max
        return lastRead
    }

    /// Where each layer's output goes in the arena, and the bytes they take. Each has its
    /// own place unless `sharing`; then an output's place is reused once every layer that
    /// reads it has run (the prediction's never is), so that a deep network's working set
    /// stays in cache: ResNet-50's residual additions ran at memory speed without this.
    private func places(sizes: [Int], sharing: Bool, lastReads lastRead: [Int]) -> (offsets: [Int], bytes: Int) {
        guard sharing else {
            let offsets = sizes.reduce(into: [0]) { $0.append($0.last! + $1) }
            return (Array(offsets.dropLast()), offsets.last!)
        }
        var live: [(offset: Int, size: Int, until: Int)] = []
        var offsets: [Int] = [], bytes = 0
        for (index, size) in sizes.enumerated() {
            live.removeAll { $0.until < index }
            // The lowest gap between live outputs that fits.
            var offset = 0
            for block in live.sorted(by: { $0.offset < $1.offset }) where offset + size > block.offset {
                offset = max(offset, block.offset + block.size)
            }
            live.append((offset, size, lastRead[index]))
            offsets.append(offset)
            bytes = max(bytes, offset + size)
        }
        return (offsets, bytes)
    }

    private var scratch: UnsafeMutablePointer<Float>?
    private var scratchCount = 0
    /// The layer outputs the arena holds for `prediction(for:changedRows:base:)`, nil once a
    /// `forward` has overwritten them.
    private var heldBase: [[Float]]?

    /// Runs `input` (`batch` images, each `network.input.count` floats, CHW) through every layer.
    /// Every layer's output is copied into the result unless `keepingLayerOutputs` is false,
    /// when only the prediction is. With `keepingActivationInputs` (a backward pass's), so are
    /// the values before the activations whose gradients need them: as much again for a
    /// network of mish, which the explorer's maps have no use for (CSPDarknet-53 at 256 × 256
    /// with every output kept: 850 MB).
    public func forward(_ input: [Float], batch: Int = 1, keepingLayerOutputs: Bool = true,
                        keepingActivationInputs: Bool = false) throws -> ForwardResult {
        guard batch > 0, input.count == batch * network.input.count else {
            throw DarknetError.usage("the network takes \(network.input) inputs per image; got \(input.count) floats for a batch of \(batch)")
        }
        try prepare(batch: batch, sharing: !keepingLayerOutputs)
        // For a backward pass: the values before activations whose gradients need them.
        let keptInputs = network.layers.map { layer -> UnsafeMutablePointer<Float>? in
            guard keepingLayerOutputs, keepingActivationInputs, layer.keepsActivationInput else { return nil }
            return .allocate(capacity: batch * layer.output.count)
        }
        defer { keptInputs.forEach { $0?.deallocate() } }
        let seconds = run(input, batch: batch, keepingActivationInputs: keptInputs)
        let kept = network.outputLayerIndex
        let layerOutputs = zip(network.layers, outputs).enumerated().map { index, pair in
            keepingLayerOutputs || index == kept ? Array(UnsafeBufferPointer(start: pair.1, count: batch * pair.0.output.count)) : []
        }
        let activationInputs = zip(network.layers, keptInputs).map { layer, values in
            values.map { Array(UnsafeBufferPointer(start: $0, count: batch * layer.output.count)) } ?? []
        }
        return ForwardResult(batch: batch, layerOutputs: layerOutputs, layerSeconds: seconds,
                             outputLayerIndex: kept, activationInputs: activationInputs)
    }

    /// The seconds each layer of one image's pass takes, laid out as `forward`'s passes that
    /// keep every output (the explorer's), with nothing copied out: its warm passes, which
    /// would otherwise allocate a copy of every output each time (CSPDarknet-53's: 100 MB).
    public func layerSeconds(_ input: [Float]) throws -> [Double] {
        guard input.count == network.input.count else {
            throw DarknetError.usage("the network takes \(network.input) inputs per image; got \(input.count) floats")
        }
        try prepare(batch: 1, sharing: false)
        return run(input, batch: 1, keepingActivationInputs: network.layers.map { _ in nil })
    }

    /// The prepared arena's pass, each layer timed; layers keep the values before their
    /// activations where `keptInputs` gives them a place.
    private func run(_ input: [Float], batch: Int, keepingActivationInputs keptInputs: [UnsafeMutablePointer<Float>?]) -> [Double] {
        defer { workers?.rest() }
        heldBase = nil
        var seconds = [Double](repeating: 0, count: network.layers.count)
        input.withUnsafeBufferPointer { source in
            var context = ForwardContext(batch: batch, input: source.baseAddress!, output: outputs[0],
                                         layerOutputs: readOnlyOutputs, threads: threads, scratch: scratch,
                                         scratchCount: scratchCount, workers: workers)
            for (index, layer) in network.layers.enumerated() {
                if index > 0 && next[index - 1] != nil {
                    context.input = UnsafePointer(outputs[index])
                    continue
                }
                context.output = outputs[index]
                context.next = next[index]
                context.activationInput = keptInputs[index]
                let start = DispatchTime.now().uptimeNanoseconds
                layer.forward(context)
                seconds[index] = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                context.input = UnsafePointer(outputs[index])
            }
        }
        return seconds
    }
}

extension Predictor {
    /// The prediction for `input`, one image that equals the one `base` was computed from
    /// (`forward` of one image keeping every layer's output) but for input rows `rows`.
    /// Only the rows of each layer that the change reaches (`Layer.changedRows`) are computed
    /// again, from `base`'s outputs elsewhere: as `forward`'s prediction, for a fraction of
    /// its work where the change is small (occlusion patches).
    public func prediction(for input: [Float], changedRows rows: Range<Int>, base: ForwardResult) throws -> [Float] {
        guard input.count == network.input.count, network.input.isImage else {
            throw DarknetError.usage("the network takes \(network.input) images; got \(input.count) floats")
        }
        guard base.batch == 1, base.layerOutputs.count == network.layers.count,
              zip(network.layers, base.layerOutputs).allSatisfy({ $1.count == $0.output.count }) else {
            throw DarknetError.usage("a pass from a base needs its forward pass of one image, keeping every layer's output")
        }
        try prepare(batch: 1, sharing: false)
        defer { workers?.rest() }
        // The arena holds `base`'s outputs once copied, and again after each call restores them;
        // the arrays' storage tells whether they are the ones held (this keeps a reference).
        if !holds(base) {
            for (output, kept) in zip(outputs, base.layerOutputs) {
                kept.withUnsafeBufferPointer { output.update(from: $0.baseAddress!, count: $0.count) }
            }
            heldBase = base.layerOutputs
        }
        var changed: [Range<Int>?] = []
        input.withUnsafeBufferPointer { source in
            var context = ForwardContext(batch: 1, input: source.baseAddress!, output: outputs[0],
                                         layerOutputs: readOnlyOutputs, threads: threads, scratch: scratch,
                                         scratchCount: scratchCount, workers: workers)
            var reaching: Range<Int>? = rows.clamped(to: 0..<network.input.height)
            for (index, layer) in network.layers.enumerated() {
                context.output = outputs[index]
                // A layer that reads earlier layers, or follows a change it cannot bound, runs whole.
                let band = layer.earlierInputs.isEmpty && layer.output.isImage ? reaching.flatMap(layer.changedRows) : nil
                if let band {
                    if !band.isEmpty { layer.forward(context, rows: band) }
                } else {
                    layer.forward(context)
                }
                changed.append(band)
                reaching = band
                context.input = UnsafePointer(outputs[index])
            }
        }
        let kept = network.outputLayerIndex
        let prediction = Array(UnsafeBufferPointer(start: outputs[kept], count: network.layers[kept].output.count))
        // Back to `base` where anything changed.
        for (index, band) in changed.enumerated() {
            base.layerOutputs[index].withUnsafeBufferPointer { kept in
                guard let band else { return outputs[index].update(from: kept.baseAddress!, count: kept.count) }
                let shape = network.layers[index].output
                for channel in 0..<shape.channels {
                    let at = channel * shape.spatial + band.lowerBound * shape.width
                    (outputs[index] + at).update(from: kept.baseAddress! + at, count: band.count * shape.width)
                }
            }
        }
        return prediction
    }

    private func holds(_ base: ForwardResult) -> Bool {
        guard let heldBase, heldBase.count == base.layerOutputs.count else { return false }
        return zip(heldBase, base.layerOutputs).allSatisfy { held, kept in
            held.withUnsafeBufferPointer { a in kept.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
        }
    }
}
