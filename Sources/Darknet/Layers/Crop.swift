import Foundation

/// Darknet's `[crop]`: at test time the centre `crop_width × crop_height`, in training a window
/// at a random place, mirrored half the time with `flip=1` (Darknet's CPU `forward_crop_layer`;
/// `angle`, `saturation`, `exposure` and `shift` are its GPU's only), each value mapped from
/// [0, 1] to [-1, 1] unless `noadjust`.
public struct Crop: Layer {
    public static let sectionName = "crop"
    public let input: Shape
    public let output: Shape
    public let scale: Float
    public let shift: Float
    /// Whether training mirrors the window half the time.
    public let flip: Bool

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
        flip = try section.int("flip", default: 0) != 0
        section.ignore(["angle", "saturation", "exposure", "shift"])
        self.input = input
        output = Shape(width: width, height: height, channels: input.channels)
    }

    /// The centre, as at test time.
    public var window: Window? {
        Window(size: 1, stride: 1, left: (input.width - output.width) / 2, top: (input.height - output.height) / 2)
    }

    public var tableEntry: String {
        "Crop Layer: \(input.height) x \(input.width) -> \(output.height) x \(output.width) x \(output.channels) image"
    }

    public func forward(_ context: ForwardContext) {
        crop(context, top: (input.height - output.height) / 2, left: (input.width - output.width) / 2, mirrored: false)
    }

    /// One window for the whole pass, drawn from C's `rand()` in Darknet's order (the flip
    /// only when `flip` is set), so that a run seeded as Darknet's draws the same.
    public func forward(training context: ForwardContext, state: TrainingState) {
        let mirrored = flip && rand() % 2 != 0
        let top = Int(rand()) % (input.height - output.height + 1), left = Int(rand()) % (input.width - output.width + 1)
        crop(context, top: top, left: left, mirrored: mirrored)
    }

    /// Darknet's crop passes no gradient back in training.
    public func backward(training context: BackwardContext, state: TrainingState) {}

    public var trains: Bool { true }

    private func crop(_ context: ForwardContext, top: Int, left: Int, mirrored: Bool) {
        var index = 0
        for plane in 0..<(context.batch * input.channels) {
            let source = context.input + plane * input.spatial
            for y in 0..<output.height {
                let line = source + (y + top) * input.width
                for x in 0..<output.width {
                    context.output[index] = line[mirrored ? input.width - left - x - 1 : x + left] * scale + shift
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
