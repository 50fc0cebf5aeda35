import DarknetKernels
import Foundation

/// Darknet's `[shortcut]`: adds an earlier layer's output to the previous one
/// (`alpha * previous + beta * from`), sampling when their sizes differ, then activates.
public struct Shortcut: Layer {
    public static let sectionName = "shortcut"
    public let input: Shape
    public var output: Shape { input }
    /// Absolute index of the layer added.
    public let from: Int
    public let fromShape: Shape
    public let activation: Activation
    public let alpha: Float
    public let beta: Float

    init(_ section: inout CfgSection, index: Int, input: Shape, earlier: [Shape]) throws {
        from = try section.earlierLayer("from", index: index)
        try section.refuseAlexeyABKeys(["weights_type": "none", "weights_normalization": "none"])
        fromShape = earlier[from]
        guard input.isImage, fromShape.isImage else { throw section.error("[shortcut] needs image outputs on both sides") }
        let stride = fromShape.width / input.width, sample = input.width / fromShape.width
        guard stride == fromShape.height / input.height, sample == input.height / fromShape.height else {
            throw section.error("[shortcut] cannot add layer \(from) (\(fromShape)) to \(input): width and height must scale alike")
        }
        activation = try section.activation(default: "linear")
        alpha = try section.float("alpha", default: 1)
        beta = try section.float("beta", default: 1)
        self.input = input
    }

    public var earlierInputs: [Int] { [from] }
    public var outputActivation: Activation? { activation }

    /// The activation, when the convolution before can do this layer's work in its epilogue
    /// (`FusedLayer.shortcut`): the usual residual, of the same shapes, with alpha = beta = 1,
    /// which rounds as the sum it is.
    public var epilogueActivation: ds_activation? {
        fromShape == output && alpha == 1 && beta == 1 ? activation.kernelActivation : nil
    }

    public var tableEntry: String {
        String(format: "res  %3d                %4d x%4d x%4d   ->  %4d x%4d x%4d",
               from, fromShape.width, fromShape.height, fromShape.channels, input.width, input.height, input.channels)
    }

    public func forward(_ context: ForwardContext) {
        let count = context.batch * self.output.count
        let add = context.layerOutputs[from], previous = context.input, output = context.output
        if fromShape == self.output, let fused = activation.kernelActivation {
            // The usual residual: same shapes, so one pass over the three arrays, in parallel.
            context.parallel(count, work: count) { range in
                ds_add_scaled(output + range.lowerBound, previous + range.lowerBound, alpha, add + range.lowerBound, beta,
                              range.count, fused)
            }
            return
        }
        // Otherwise as Darknet: the previous output copied, the earlier one's samples added
        // where the two overlap, everything activated; plane by plane, so each stays in cache.
        let stride = max(fromShape.width / self.output.width, 1), sample = max(self.output.width / fromShape.width, 1)
        let width = min(fromShape.width, self.output.width), height = min(fromShape.height, self.output.height)
        let channels = min(fromShape.channels, self.output.channels), spatial = self.output.spatial
        let planes = context.batch * self.output.channels
        context.parallel(planes, work: count) { range in
            for plane in range {
                let out = output + plane * spatial
                out.update(from: previous + plane * spatial, count: spatial)
                let (b, c) = plane.quotientAndRemainder(dividingBy: self.output.channels)
                if c < channels {
                    for y in 0..<height {
                        let row = out + self.output.width * y * sample
                        let source = add + fromShape.width * (y * stride + fromShape.height * (c + fromShape.channels * b))
                        if sample == 1 {
                            ds_add_sampled(row, alpha, source, stride, beta, width)
                        } else {
                            for x in 0..<width { row[x * sample] = alpha * row[x * sample] + beta * source[x * stride] }
                        }
                    }
                }
                context.activate(activation, out, count: spatial)
            }
        }
    }

    /// Darknet's `backward_shortcut_layer`: through the activation, then `alpha` times the
    /// gradient to the previous layer and `beta` times it to the samples taken from `from`.
    /// Where the two do not overlap the previous output passed unscaled, so its gradient
    /// does too (Darknet scales it by `alpha` there as well; the same for the usual `alpha = 1`).
    public func backward(_ context: BackwardContext) {
        let previous = context.inputGradient, add = context.layerGradients[from]
        let gradient = context.outputGradient
        let stride = max(fromShape.width / self.output.width, 1), sample = max(self.output.width / fromShape.width, 1)
        let width = min(fromShape.width, self.output.width), height = min(fromShape.height, self.output.height)
        let channels = min(fromShape.channels, self.output.channels), spatial = self.output.spatial
        let same = fromShape == self.output
        // Plane by plane: a plane of the output reads one plane of `from`, so threads never share one.
        context.parallel(context.batch * self.output.channels, work: context.batch * self.output.count) { planes in
            for plane in planes {
                let at = plane * spatial
                if same {
                    for i in at..<(at + spatial) {
                        let g = gradient[i] * context.slope(activation, at: i)
                        previous[i] += alpha * g
                        add[i] += beta * g
                    }
                    continue
                }
                let (b, c) = plane.quotientAndRemainder(dividingBy: self.output.channels)
                for i in at..<(at + spatial) { previous[i] += gradient[i] * context.slope(activation, at: i) }
                guard c < channels else { continue }
                for y in 0..<height {
                    let row = at + self.output.width * y * sample
                    let source = add + fromShape.width * (y * stride + fromShape.height * (c + fromShape.channels * b))
                    for x in 0..<width {
                        let i = row + x * sample, g = gradient[i] * context.slope(activation, at: i)
                        // The previous output's share here was scaled by alpha, not passed: undo the 1 added above.
                        previous[i] += (alpha - 1) * g
                        source[x * stride] += beta * g
                    }
                }
            }
        }
    }
}
