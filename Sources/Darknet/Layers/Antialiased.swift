import Foundation

/// AlexeyAB's `antialiasing` of a `[convolutional]` or `[maxpool]` (Zhang's "Making
/// Convolutional Networks Shift-Invariant Again"): the layer computed at stride 1, then each
/// channel blurred at the layer's strides, `antialiasing=1` by [1 2 1]ᵀ[1 2 1] / 16 (padded by
/// 1), `=2` by a 2 × 2 mean (no padding). The blur's weights are constants: none in the file,
/// none in the Ops (as AlexeyAB counts).
public struct Antialiased: Layer {
    public static let sectionName = "antialiased"
    public private(set) var host: any Layer
    public let output: Shape
    public let blur: Blur

    /// The fixed depthwise blur after the host.
    public struct Blur: Sendable, Hashable {
        public var size: Int
        public var strideX: Int
        public var strideY: Int
        public var padding: Int

        /// Tap (dy, dx)'s weight, as AlexeyAB's fills them.
        func weight(_ dy: Int, _ dx: Int) -> Float {
            size == 2 ? 1 / 4 : [[1, 2, 1], [2, 4, 2], [1, 2, 1]][dy][dx] / 16
        }
    }

    /// The layer a section describes: `make` with the section's strides, or, when it asks
    /// for antialiasing, `make` at stride 1 followed by the blur at those strides.
    static func wrapping(_ section: inout CfgSection, _ make: (inout CfgSection) throws -> any Layer) throws -> any Layer {
        let kind = try section.int("antialiasing", default: 0)
        guard kind != 0 else { return try make(&section) }
        guard kind == 1 || kind == 2 else {
            throw section.error("[\(section.type)] antialiasing=\(kind): expected 0, 1 (a 3x3 blur) or 2 (2x2)", line: section.line(of: "antialiasing"))
        }
        let stride = try section.int("stride", default: 1)
        let blur = Blur(size: kind == 1 ? 3 : 2, strideX: try section.int("stride_x", default: stride),
                        strideY: try section.int("stride_y", default: stride), padding: kind == 1 ? 1 : 0)
        guard blur.strideX > 0, blur.strideY > 0 else {
            throw section.error("[\(section.type)] stride must be positive (stride=\(blur.strideX)x\(blur.strideY)), also for the blur of antialiasing")
        }
        for key in ["stride", "stride_x", "stride_y"] { section.replace(key, with: "1") }
        let host = try make(&section)
        guard host.output.width > 0, host.output.height > 0 else {
            throw section.error("[\(section.type)] layer would have an empty output (\(host.output.width) x \(host.output.height)) at stride 1, before antialiasing's blur")
        }
        if let pool = host as? MaxPool, pool.acrossChannels {
            throw section.error("[maxpool] antialiasing with maxpool_depth=1: AlexeyAB's darknet sizes the layer by the blur but skips it", line: section.line(of: "antialiasing"))
        }
        return Antialiased(host: host, blur: blur)
    }

    init(host: any Layer, blur: Blur) {
        self.host = host
        self.blur = blur
        output = Shape(width: (host.output.width + 2 * blur.padding - blur.size) / blur.strideX + 1,
                       height: (host.output.height + 2 * blur.padding - blur.size) / blur.strideY + 1,
                       channels: host.output.channels)
    }

    public var sectionName: String { host.sectionName }
    public var input: Shape { host.input }
    public var operations: Int { host.operations }
    public var parameterBlocks: [ParameterBlock] { host.parameterBlocks }
    public var parameters: [Float] { host.parameters }
    public var scratchCount: Int { host.scratchCount }
    public var backwardScratch: (shared: Int, perThread: Int) { host.backwardScratch }
    /// The blur comes after the host's activation; `backward` computes the host's output again.
    public var outputActivation: Activation? { nil }
    public var keepsActivationInput: Bool { false }
    /// AlexeyAB's CPU training passes skip the blur; darkscope does not train it.
    public var trains: Bool { false }
    public mutating func load(_ parameters: [Float], transposed: Bool) { host.load(parameters, transposed: transposed) }

    /// Has a convolutional host compute its sums with `algorithm` (see `Convolutional.use(_:)`).
    mutating func use(_ algorithm: ConvolutionAlgorithm) {
        guard var convolutional = host as? Convolutional else { return }
        convolutional.use(algorithm)
        host = convolutional
    }

    public var tableEntry: String {
        host.tableEntry + String(format: "  AA %d x %d /%@ -> %4d x%4d x%4d", blur.size, blur.size,
                                 blur.strideX == blur.strideY ? String(format: "%2d", blur.strideX) : "\(blur.strideX)x\(blur.strideY)",
                                 output.width, output.height, output.channels)
    }

    /// The host's window widened by the blur's, at the blur's stride (the host runs at stride 1).
    public var window: Window? {
        guard let inner = host.window, blur.strideX == blur.strideY else { return nil }
        return Window(size: inner.size + (blur.size - 1) * inner.stride, stride: inner.stride * blur.strideX,
                      left: inner.left - blur.padding * inner.stride, top: inner.top - blur.padding * inner.stride)
    }

    public func forward(_ context: ForwardContext) {
        var hosted = [Float](repeating: 0, count: context.batch * host.output.count)
        hosted.withUnsafeMutableBufferPointer { values in
            var inner = context
            inner.output = values.baseAddress!
            (inner.next, inner.activationInput) = (nil, nil)
            host.forward(inner)
            blurForward(UnsafePointer(values.baseAddress!), images: context.batch, into: context.output)
        }
    }

    /// Each output the blur's weighted sum of its window, taps in row order, products rounded
    /// one by one (AlexeyAB's convolution of the blur, whose bias is 0).
    private func blurForward(_ values: UnsafePointer<Float>, images: Int, into output: UnsafeMutablePointer<Float>) {
        let inner = host.output
        for plane in 0..<(images * inner.channels) {
            let source = values + plane * inner.spatial, target = output + plane * self.output.spatial
            for y in 0..<self.output.height {
                for x in 0..<self.output.width {
                    var sum: Float = 0
                    for dy in 0..<blur.size {
                        let iy = y * blur.strideY - blur.padding + dy
                        for dx in 0..<blur.size {
                            let ix = x * blur.strideX - blur.padding + dx
                            let value: Float = iy >= 0 && iy < inner.height && ix >= 0 && ix < inner.width ? source[iy * inner.width + ix] : 0
                            sum += blur.weight(dy, dx) * value
                        }
                    }
                    target[y * self.output.width + x] = sum
                }
            }
        }
    }

    /// The host's forward again (its output is not kept), the gradient back through the blur
    /// onto it, then the host's backward.
    public func backward(_ context: BackwardContext) {
        let count = context.batch * host.output.count
        var hosted = [Float](repeating: 0, count: count), kept = [Float](repeating: 0, count: host.keepsActivationInput ? count : 0)
        var gradient = [Float](repeating: 0, count: count)
        hosted.withUnsafeMutableBufferPointer { values in
            kept.withUnsafeMutableBufferPointer { kept in
                gradient.withUnsafeMutableBufferPointer { gradient in
                    let forward = ForwardContext(batch: context.batch, input: context.input, output: values.baseAddress!, next: nil,
                                                 layerOutputs: context.layerOutputs, threads: context.threads,
                                                 scratch: context.scratch, scratchCount: context.scratchCount, workers: context.workers,
                                                 activationInput: kept.baseAddress)
                    host.forward(forward)
                    blurBackward(context.outputGradient, images: context.batch, into: gradient.baseAddress!)
                    var inner = context
                    inner.output = UnsafePointer(values.baseAddress!)
                    inner.outputGradient = UnsafePointer(gradient.baseAddress!)
                    inner.activationInput = kept.baseAddress.map { UnsafePointer($0) }
                    host.backward(inner)
                }
            }
        }
    }

    private func blurBackward(_ gradient: UnsafePointer<Float>, images: Int, into result: UnsafeMutablePointer<Float>) {
        let inner = host.output
        for plane in 0..<(images * inner.channels) {
            let source = gradient + plane * output.spatial, target = result + plane * inner.spatial
            for y in 0..<output.height {
                for x in 0..<output.width {
                    let g = source[y * output.width + x]
                    for dy in 0..<blur.size {
                        let iy = y * blur.strideY - blur.padding + dy
                        guard iy >= 0, iy < inner.height else { continue }
                        for dx in 0..<blur.size {
                            let ix = x * blur.strideX - blur.padding + dx
                            if ix >= 0, ix < inner.width { target[iy * inner.width + ix] += blur.weight(dy, dx) * g }
                        }
                    }
                }
            }
        }
    }
}
