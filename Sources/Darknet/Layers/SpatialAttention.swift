/// AlexeyAB's `[sam]` (the spatial attention module of CBAM, as YOLOv4 modifies it): the
/// previous layer's output times an earlier one's (`from`), value by value, then activated.
public struct SpatialAttention: Layer {
    public static let sectionName = "sam"
    public let input: Shape
    public var output: Shape { input }
    /// Absolute index of the layer multiplied by.
    public let from: Int
    public let activation: Activation

    init(_ section: inout CfgSection, index: Int, input: Shape, earlier: [Shape]) throws {
        from = try section.earlierLayer("from", index: index)
        activation = try section.activation(default: "linear")
        guard earlier[from] == input else {
            throw section.error("[sam] multiplies the \(input) input by layer \(from)'s \(earlier[from]): they must be the same shape", line: section.line(of: "from"))
        }
        self.input = input
    }

    public var earlierInputs: [Int] { [from] }
    public var outputActivation: Activation? { activation }
    public var trains: Bool { activation.gradientFromOutput }

    /// AlexeyAB prints `scale Layer:` for it too; ours names it.
    public var tableEntry: String { "sam Layer: \(from)" }

    public func forward(_ context: ForwardContext) {
        let count = context.batch * output.count, other = context.layerOutputs[from]
        for i in 0..<count { context.output[i] = context.input[i] * other[i] }
        context.activate(activation, context.output, count: count)
    }

    /// Each factor's gradient is the other factor times the output's. AlexeyAB's
    /// `backward_sam_layer` sets `from`'s gradient rather than adding to it, which drops what
    /// other layers reading `from` gave; ours adds, as every other layer does.
    public func backward(_ context: BackwardContext) {
        let other = context.layerOutputs[from], toOther = context.layerGradients[from]
        for i in 0..<(context.batch * output.count) {
            let g = context.outputGradient[i] * context.slope(activation, at: i)
            context.inputGradient[i] += g * other[i]
            toOther[i] += g * context.input[i]
        }
    }
}
