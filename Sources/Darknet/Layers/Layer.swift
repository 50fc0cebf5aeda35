import DarknetKernels

/// What a block of a layer's parameters is, in the order a `.weights` file stores them.
public enum ParameterKind: Hashable, Sendable {
    case biases
    case scales
    case rollingMean
    case rollingVariance
    /// Connection weights; `fanIn` is how many inputs each output sums (for He scaling).
    case weights(fanIn: Int)
}

extension ParameterKind {
    /// Darknet's name for the block (its `layer` fields).
    public var name: String {
        switch self {
        case .biases: "biases"
        case .scales: "scales"
        case .rollingMean: "rolling_mean"
        case .rollingVariance: "rolling_variance"
        case .weights: "weights"
        }
    }
}

public struct ParameterBlock: Hashable, Sendable {
    public var kind: ParameterKind
    public var count: Int

    /// The three blocks batch norm adds after the biases, one value per output channel.
    static func batchNorm(count: Int) -> [ParameterBlock] {
        [.scales, .rollingMean, .rollingVariance].map { ParameterBlock(kind: $0, count: count) }
    }
}

/// Where a layer reads and writes during one forward pass.
///
/// Pointers, not arrays: the network owns one buffer per layer, reused across passes.
public struct ForwardContext: LayerThreads {
    public var batch: Int
    /// The previous layer's output (the network input for layer 0).
    public var input: UnsafePointer<Float>
    public var output: UnsafeMutablePointer<Float>
    /// Set when the predictor runs the layer after this one inside it (its plan's fusions):
    /// then this layer's own `output` is unused.
    public var next: FusedLayer?
    /// Outputs of every layer before this one, for `Route` and `Shortcut`.
    public var layerOutputs: [UnsafePointer<Float>]
    /// Threads a layer may use, for its BLAS calls too (OpenBLAS itself runs on one).
    public var threads: Int
    /// Working memory: `threads` blocks of the largest `Layer.scratchCount` floats.
    public var scratch: UnsafeMutablePointer<Float>?
    public var scratchCount: Int
    /// The threads, `threads` of them with the caller's; nil for one.
    var workers: Workers?
    /// Where to keep the layer's values before an activation whose gradient needs them
    /// (laid out as `output`), for a backward pass; nil when none is to come.
    public var activationInput: UnsafeMutablePointer<Float>? = nil
}

extension ForwardContext {
    /// Applies `activation` to `count` values of the output at `values`, keeping them first
    /// in `activationInput` where the activation's gradient will need them.
    func activate(_ activation: Activation, _ values: UnsafeMutablePointer<Float>, count: Int) {
        if let keep = activationInput, !activation.gradientFromOutput {
            (keep + UnsafePointer(output).distance(to: values)).update(from: values, count: count)
        }
        activation.apply(values, count: count)
    }
}

/// The layer after a convolution, done in the convolution's own pass, while its outputs are
/// still in registers or cache; the fused layer's output goes to `output`.
public enum FusedLayer {
    /// A `MaxPool.halves` maxpool, in Winograd's output tiles (`Convolutional.poolsInOutput`).
    case maxPool(output: UnsafeMutablePointer<Float>)
    /// A shortcut that adds `add` (laid out as the convolution's output), then applies
    /// `activation`, in the epilogue (`Shortcut.epilogueActivation`).
    case shortcut(output: UnsafeMutablePointer<Float>, add: UnsafePointer<Float>, activation: ds_activation)
}

/// Where a layer reads and writes during one backward pass (see `Backpropagator`): the
/// gradient of one scalar per image, each gradient laid out as the values it belongs to.
///
/// A layer adds into the gradients it writes, since several layers may read one output.
/// Gradients of the layer's parameters, for training, would come as one more pointer laid out
/// as `parameters`, filled from what `backward` computes on the way (the gradient of the sums).
public struct BackwardContext: LayerThreads {
    public var batch: Int
    /// What `forward` read and wrote: the previous layer's output (the network input for
    /// layer 0) and this layer's, as the plain forward pass kept them.
    public var input: UnsafePointer<Float>
    public var output: UnsafePointer<Float>
    /// The gradient with respect to `output`, complete: every layer that reads it has run.
    public var outputGradient: UnsafePointer<Float>
    /// The gradient with respect to `input`, added to.
    public var inputGradient: UnsafeMutablePointer<Float>
    /// False where nothing reads the input's gradient (a trainer's first layer): a layer may
    /// then leave `inputGradient` as it is.
    public var wantsInputGradient = true
    /// The gradient with respect to every layer's output, for `Route` and `Shortcut` to add to.
    public var layerGradients: [UnsafeMutablePointer<Float>]
    /// Every layer's output as the forward pass left it, for layers whose gradient reads an
    /// earlier one's values (`ScaleChannels`).
    public var layerOutputs: [UnsafePointer<Float>]
    /// The layer's values before its activation, where the forward pass kept them
    /// (`ForwardContext.activationInput`).
    public var activationInput: UnsafePointer<Float>? = nil
    public var threads: Int
    /// Working memory: `shared` holds the first of `Layer.backwardScratch`'s counts, for the
    /// whole layer; `scratch`, `threads` blocks of `scratchCount` floats (the largest second count).
    public var shared: UnsafeMutablePointer<Float>?
    public var scratch: UnsafeMutablePointer<Float>?
    public var scratchCount: Int
    var workers: Workers?
}

extension BackwardContext {
    /// The slope of `activation` at value `i` of the output: from the output, or from the
    /// values kept before the activation where the output does not give it.
    func slope(_ activation: Activation, at i: Int) -> Float {
        if activation.gradientFromOutput { return activation.gradient(output: output[i]) }
        return activation.gradient(input: activationInput![i])
    }
}

/// The threads and working memory a layer's pass may use, with the loop that shares them.
protocol LayerThreads {
    var threads: Int { get }
    var scratch: UnsafeMutablePointer<Float>? { get }
    var scratchCount: Int { get }
    var workers: Workers? { get }
}

extension LayerThreads {
    /// Runs `body` over `0..<count` cut into one contiguous range per thread, when the
    /// `work` (values touched) is enough to repay waking the threads.
    func parallel(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
        parallel(count, work: work) { range, _ in body(range) }
    }

    /// As `parallel(_:work:_:)`, giving each range the working memory of its thread.
    func parallel(_ count: Int, work: Int, _ body: (Range<Int>, UnsafeMutablePointer<Float>?) -> Void) {
        let parts = work < 1 << 15 ? 1 : min(threads, count)
        guard parts > 1, let workers else { return body(0..<count, scratch) }
        workers.run(parts: parts) { part in
            body((count * part / parts)..<(count * (part + 1) / parts), scratch.map { $0 + part * scratchCount })
        }
    }
}

/// One of Darknet's layers: its shape, its parameters, its forward pass and its backward pass.
public protocol Layer: Sendable {
    /// The cfg section name (`convolutional`, `maxpool`, …).
    static var sectionName: String { get }
    var input: Shape { get }
    var output: Shape { get }
    /// The line Darknet prints for this layer while parsing, without the index.
    var tableEntry: String { get }
    /// Floating-point operations of one forward pass (Darknet's BFLOPs × 10⁹).
    var operations: Int { get }
    /// Parameter blocks in `.weights` order; empty for layers without parameters.
    var parameterBlocks: [ParameterBlock] { get }
    var parameters: [Float] { get }
    /// Earlier layers whose outputs `forward` reads (from `ForwardContext.layerOutputs`),
    /// besides the previous one's.
    var earlierInputs: [Int] { get }
    /// Floats of working memory each thread needs in `forward` (see `ForwardContext.scratch`).
    var scratchCount: Int { get }
    /// Takes this layer's values from a `.weights` file, in `parameterBlocks` order.
    /// `transposed` marks files whose connected weights are stored input-major.
    mutating func load(_ parameters: [Float], transposed: Bool)
    func forward(_ context: ForwardContext)
    /// The rows of its output that a change in rows `rows` of its input can reach (empty:
    /// none); nil when any of its output may change (flat outputs, layers reading earlier ones).
    func changedRows(_ rows: Range<Int>) -> Range<Int>?
    /// As `forward`, computing at least output rows `rows` (from `changedRows`) of every image;
    /// the rest of the output may be left as it was.
    func forward(_ context: ForwardContext, rows: Range<Int>)
    /// Floats of working memory `backward` needs for the whole layer and for each thread.
    var backwardScratch: (shared: Int, perThread: Int) { get }
    /// Adds the gradient with respect to the layer's input(s), from the one with respect to its output.
    func backward(_ context: BackwardContext)
    /// Whether `Trainer` can train it: its training passes are Darknet's.
    var trains: Bool { get }
    /// Where in its input each output position reads, for receptive fields: nil when each
    /// output reads the whole input (a global pool, a connected layer, flat values).
    var window: Window? { get }
    /// Whether it reads the previous layer's output (a route reads only `earlierInputs`).
    var readsPreviousLayer: Bool { get }
    /// The activation its output passes through last, for layers that have one.
    var outputActivation: Activation? { get }
    /// Whether its backward pass reads its values before the activation
    /// (`ForwardContext.activationInput`), which a pass keeps only for such layers.
    var keepsActivationInput: Bool { get }
    /// Training's forward pass (Darknet's with `net.train` set): `forward`'s, unless the layer
    /// normalizes by its batch. It keeps in `state` what its training backward needs, and
    /// updates the rolling statistics in `state.parameters`.
    func forward(training context: ForwardContext, state: TrainingState)
    /// Training's backward pass: `backward`'s, also adding the gradients of the parameters into
    /// `state.updates`. Gradients here are Darknet's deltas: of minus the cost.
    func backward(training context: BackwardContext, state: TrainingState)
}

/// What one layer keeps across training's passes: its parameters as training changes them,
/// their updates (Darknet's `*_updates`: the gradients of a batch, then their momentum), and
/// what its forward pass leaves for its backward pass.
public final class TrainingState {
    /// Laid out as the layer's `parameters`.
    public internal(set) var parameters: [Float]
    public internal(set) var updates: [Float]
    /// Batch norm's: the sums before it (Darknet's `x`), after it (`x_norm`), and the batch's
    /// mean and variance per channel.
    var sums: [Float] = [], normalized: [Float] = [], mean: [Float] = [], variance: [Float] = []
    /// Working memory of the backward pass: the gradient of the sums, and the same laid out
    /// filter after filter (each filter's planes of every image together).
    var delta: [Float] = [], deltaByFilter: [Float] = []
    /// Dropout's draws, one per value.
    var draws: [Float] = []

    init(parameters: [Float]) {
        self.parameters = parameters
        updates = [Float](repeating: 0, count: parameters.count)
    }
}

extension Array where Element == Float {
    /// Makes it `count` floats, keeping its storage when it has that many already.
    mutating func resize(to count: Int) {
        if self.count != count { self = Self(repeating: 0, count: count) }
    }
}

extension Layer {
    public var operations: Int { 0 }
    public var parameterBlocks: [ParameterBlock] { [] }
    public var parameters: [Float] { [] }
    public var scratchCount: Int { 0 }
    public var backwardScratch: (shared: Int, perThread: Int) { (0, 0) }
    /// Layers without parameters train as they run: their backward pass is Darknet's.
    public var trains: Bool { parameterBlocks.isEmpty && outputActivation?.gradientFromOutput != false }
    public func forward(training context: ForwardContext, state: TrainingState) { forward(context) }
    public func backward(training context: BackwardContext, state: TrainingState) { backward(context) }
    public var earlierInputs: [Int] { [] }
    /// Elementwise on an image by default: each output reads its own position.
    public var window: Window? { output.isImage && input.isImage && output.width == input.width && output.height == input.height ? .identity : nil }
    public var readsPreviousLayer: Bool { true }
    public var outputActivation: Activation? { nil }
    public var keepsActivationInput: Bool { outputActivation?.gradientFromOutput == false }
    public func changedRows(_ rows: Range<Int>) -> Range<Int>? { nil }
    public func forward(_ context: ForwardContext, rows: Range<Int>) { forward(context) }
    public mutating func load(_ parameters: [Float], transposed: Bool) {}
    public var sectionName: String { Self.sectionName }
    public var parameterCount: Int { parameterBlocks.reduce(0) { $0 + $1.count } }
}

/// The input positions an output position reads, the same across and down: `size` of them
/// from `x * stride + left` across (`y * stride + top` down).
public struct Window: Hashable, Sendable {
    public var size: Int
    public var stride: Int
    public var left: Int
    public var top: Int

    public static let identity = Window(size: 1, stride: 1, left: 0, top: 0)
}

/// Offsets of each parameter block inside a layer's flat parameter array.
struct ParameterOffsets {
    private var offsets: [ParameterKind: Int] = [:]

    init(_ blocks: [ParameterBlock]) {
        var offset = 0
        for block in blocks {
            let key: ParameterKind = if case .weights = block.kind { .weights(fanIn: 0) } else { block.kind }
            offsets[key] = offset
            offset += block.count
        }
    }

    subscript(kind: ParameterKind) -> Int? {
        if case .weights = kind { return offsets[.weights(fanIn: 0)] }
        return offsets[kind]
    }
}

/// The output rows whose windows (`size` input rows from `y * stride + start`) meet input
/// rows `rows`, among `count`.
func windowRows(reaching rows: Range<Int>, size: Int, stride: Int, start: Int, count: Int) -> Range<Int> {
    guard !rows.isEmpty else { return 0..<0 }
    func floorDivide(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
    // y * stride + start + size - 1 >= lower, and y * stride + start <= upper - 1.
    let low = max(0, -floorDivide(-(rows.lowerBound - start - size + 1), stride))
    let high = min(count, floorDivide(rows.upperBound - 1 - start, stride) + 1)
    return low < high ? low..<high : 0..<0
}
