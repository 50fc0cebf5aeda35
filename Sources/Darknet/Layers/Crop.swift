import Foundation

/// Darknet's `[crop]` at test time: the centre `crop_width × crop_height`, mapped from
/// [0, 1] to [-1, 1] unless `noadjust` (training's random crops and flips are off).
public struct Crop: Layer {
    public static let sectionName = "crop"
    public let input: Shape
    public let output: Shape
    public let scale: Float
    public let shift: Float

    init(_ section: inout CfgSection, input: Shape) throws {
        guard input.isImage else { throw section.error("[crop] needs an image as input") }
        let height = try section.int("crop_height", default: 1)
        let width = try section.int("crop_width", default: 1)
        guard height > 0, width > 0, height <= input.height, width <= input.width else {
            throw section.error("[crop] crop_width × crop_height (\(width) × \(height)) must be positive and fit the \(input.width) × \(input.height) input")
        }
        let noadjust = try section.int("noadjust", default: 0) != 0
        scale = noadjust ? 1 : 2
        shift = noadjust ? 0 : -1
        section.ignore(["flip", "angle", "saturation", "exposure", "shift"])
        self.input = input
        output = Shape(width: width, height: height, channels: input.channels)
    }

    /// Training crops at random places and flips (Darknet's `forward_crop_layer`), not done yet.
    public var trains: Bool { false }

    public var tableEntry: String {
        "Crop Layer: \(input.height) x \(input.width) -> \(output.height) x \(output.width) x \(output.channels) image"
    }

    public func forward(_ context: ForwardContext) {
        let top = (input.height - output.height) / 2, left = (input.width - output.width) / 2
        var index = 0
        for plane in 0..<(context.batch * input.channels) {
            let source = context.input + plane * input.spatial
            for y in 0..<output.height {
                let line = source + (y + top) * input.width + left
                for x in 0..<output.width {
                    context.output[index] = line[x] * scale + shift
                    index += 1
                }
            }
        }
    }

    /// The centre's gradient, times `scale`, back in its place; Darknet defines no crop backward.
    public func backward(_ context: BackwardContext) {
        let top = (input.height - output.height) / 2, left = (input.width - output.width) / 2
        var index = 0
        for plane in 0..<(context.batch * input.channels) {
            let target = context.inputGradient + plane * input.spatial
            for y in 0..<output.height {
                let line = target + (y + top) * input.width + left
                for x in 0..<output.width {
                    line[x] += context.outputGradient[index] * scale
                    index += 1
                }
            }
        }
    }
}
