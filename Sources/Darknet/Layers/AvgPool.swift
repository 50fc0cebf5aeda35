import Foundation

/// Darknet's `[avgpool]`: the mean of each channel, so the output is 1×1×channels.
public struct AvgPool: Layer {
    public static let sectionName = "avgpool"
    public let input: Shape
    public let output: Shape

    init(_ section: inout CfgSection, input: Shape) throws {
        guard input.isImage else { throw section.error("[avgpool] needs an image as input, but the layer before outputs \(input.count) flat values") }
        self.input = input
        output = Shape(width: 1, height: 1, channels: input.channels)
    }

    public var tableEntry: String {
        String(format: "avg                     %4d x%4d x%4d   ->  %4d", input.width, input.height, input.channels, input.channels)
    }

    public func forward(_ context: ForwardContext) {
        let spatial = input.spatial, planes = context.batch * input.channels
        // Each sum in Darknet's order (one add after another), eight planes at a time so
        // the adds of different planes overlap.
        var plane = 0
        while plane < planes {
            let lanes = min(8, planes - plane)
            var sums = SIMD8<Float>()
            let source = context.input + plane * spatial
            if lanes == 8 {
                for i in 0..<spatial {
                    sums += SIMD8(source[i], source[spatial + i], source[2 * spatial + i], source[3 * spatial + i],
                                  source[4 * spatial + i], source[5 * spatial + i], source[6 * spatial + i],
                                  source[7 * spatial + i])
                }
            } else {
                for lane in 0..<lanes {
                    for i in 0..<spatial { sums[lane] += source[lane * spatial + i] }
                }
            }
            for lane in 0..<lanes { context.output[plane + lane] = sums[lane] / Float(spatial) }
            plane += lanes
        }
    }

    /// Darknet's `backward_avgpool_layer`: each channel's gradient spread evenly over its pixels.
    public func backward(_ context: BackwardContext) {
        let spatial = input.spatial
        for plane in 0..<(context.batch * input.channels) {
            let share = context.outputGradient[plane] / Float(spatial), gradient = context.inputGradient + plane * spatial
            for i in 0..<spatial { gradient[i] += share }
        }
    }
}
