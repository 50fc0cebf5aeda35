import Foundation

/// AlexeyAB's `[scale_channels]`: an earlier layer's output (`from`) with each channel scaled
/// by one value of the previous layer's 1 × 1 × C output (squeeze-and-excitation), or, with
/// `scale_wh=1`, each position scaled by one value of a W × H × 1 output; then activated.
public struct ScaleChannels: Layer {
    public static let sectionName = "scale_channels"
    public let input: Shape
    public let output: Shape
    /// Absolute index of the layer scaled.
    public let from: Int
    public let scalesPositions: Bool
    public let activation: Activation

    init(_ section: inout CfgSection, index: Int, input: Shape, earlier: [Shape]) throws {
        from = try section.earlierLayer("from", index: index)
        scalesPositions = try section.int("scale_wh", default: 0) != 0
        activation = try section.activation(default: "linear")
        output = earlier[from]
        guard input.isImage, output.isImage else { throw section.error("[scale_channels] needs image outputs on both sides") }
        if scalesPositions {
            guard input.channels == 1, input.width == output.width, input.height == output.height else {
                throw section.error("[scale_channels] with scale_wh=1 scales layer \(from)'s \(output) by a \(output.width)x\(output.height)x1 input, not \(input)", line: section.line(of: "from"))
            }
        } else {
            guard input.width == 1, input.height == 1, input.channels == output.channels else {
                throw section.error("[scale_channels] scales layer \(from)'s \(output) channel by channel: its input must be 1x1x\(output.channels), not \(input)", line: section.line(of: "from"))
            }
        }
        self.input = input
    }

    public var earlierInputs: [Int] { [from] }
    public var outputActivation: Activation? { activation }
    public var trains: Bool { activation.gradientFromOutput }
    /// Each output reads its own position of `from` and one scale: the field of `from`'s.
    public var window: Window? { .identity }

    /// AlexeyAB's table line for the layer.
    public var tableEntry: String { "scale Layer: \(from)" }

    /// The scale of output value `i` of one image: its channel's, or its position's.
    private func scaleIndex(_ i: Int) -> Int { scalesPositions ? i % output.spatial : i / output.spatial }

    public func forward(_ context: ForwardContext) {
        let count = output.count, scales = input.count
        for b in 0..<context.batch {
            let source = context.layerOutputs[from] + b * count, scale = context.input + b * scales
            let out = context.output + b * count
            // Plane by plane, so that the loops vectorise.
            let spatial = output.spatial
            for c in 0..<output.channels {
                let plane = out + c * spatial, values = source + c * spatial
                if scalesPositions {
                    for i in 0..<spatial { plane[i] = scale[i] * values[i] }
                } else {
                    let s = scale[c]
                    for i in 0..<spatial { plane[i] = s * values[i] }
                }
            }
            context.activate(activation, out, count: count)
        }
    }

    /// The gradient through the activation, to `from` times the scale, and to each scale
    /// summed over what it scaled (AlexeyAB's `backward_scale_channels_layer`).
    public func backward(_ context: BackwardContext) {
        let count = output.count, scales = input.count
        for b in 0..<context.batch {
            let gradient = context.outputGradient + b * count
            let scale = context.input + b * scales, values = context.layerOutputs[from] + b * count
            let toSource = context.layerGradients[from] + b * count, toScale = context.inputGradient + b * scales
            for i in 0..<count {
                let g = gradient[i] * context.slope(activation, at: b * count + i)
                toSource[i] += g * scale[scaleIndex(i)]
                toScale[scaleIndex(i)] += g * values[i]
            }
        }
    }
}
