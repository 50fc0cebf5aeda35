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
        let spatial = input.spatial
        for plane in 0..<(context.batch * input.channels) {
            let source = context.input + plane * spatial
            var sum: Float = 0
            for i in 0..<spatial { sum += source[i] }
            context.output[plane] = sum / Float(spatial)
        }
    }
}
