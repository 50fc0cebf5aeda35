import DarknetKernels
import Foundation

/// Darknet's `[maxpool]`. Its `padding` (default `size - 1`) is the total over both
/// sides; the window starts `padding / 2` before the image and cells outside never win.
public struct MaxPool: Layer {
    public static let sectionName = "maxpool"
    public let input: Shape
    public let output: Shape
    public let size: Int
    public let stride: Int
    public let padding: Int

    init(_ section: inout CfgSection, input: Shape) throws {
        try section.refuseAlexeyABKeys(["maxpool_depth": "0", "out_channels": nil, "stride_x": nil, "stride_y": nil, "antialiasing": "0"])
        guard input.isImage else { throw section.error("[maxpool] needs an image as input, but the layer before outputs \(input.count) flat values") }
        stride = try section.int("stride", default: 1)
        size = try section.int("size", default: stride)
        padding = try section.int("padding", default: size - 1)
        guard size > 0, stride > 0, padding >= 0 else {
            throw section.error("[maxpool] size and stride must be positive and padding not negative (size=\(size) stride=\(stride) padding=\(padding))")
        }
        self.input = input
        output = Shape(
            width: (input.width + padding - size) / stride + 1,
            height: (input.height + padding - size) / stride + 1,
            channels: input.channels)
    }

    /// Size and stride 2 over an image of even height and width: windows that never overlap
    /// nor leave the image, which a convolution may compute (`Convolutional.poolsInOutput`).
    public var halves: Bool {
        size == 2 && stride == 2 && padding / 2 == 0 && output.width * 2 == input.width && output.height * 2 == input.height
    }

    public var tableEntry: String {
        String(format: "max          %d x %d / %d  %4d x%4d x%4d   ->  %4d x%4d x%4d",
               size, size, stride, input.width, input.height, input.channels,
               output.width, output.height, output.channels)
    }

    public func forward(_ context: ForwardContext) {
        let input = context.input, output = context.output
        context.parallel(context.batch * self.input.channels, work: context.batch * self.input.count) { planes in
            ds_maxpool(input + planes.lowerBound * self.input.spatial, Int32(self.input.height), Int32(self.input.width),
                       output + planes.lowerBound * self.output.spatial, Int32(self.output.height), Int32(self.output.width),
                       Int32(size), Int32(stride), Int32(-padding / 2), planes.count)
        }
    }

    /// Windows start `padding / 2` rows before `y * stride`; the whole pool is recomputed
    /// (a fraction of a convolution's time).
    public var window: Window? { Window(size: size, stride: stride, left: -padding / 2, top: -padding / 2) }

    public func changedRows(_ rows: Range<Int>) -> Range<Int>? {
        windowRows(reaching: rows, size: size, stride: stride, start: -padding / 2, count: output.height)
    }

    /// Darknet's `backward_maxpool_layer`: each output's gradient goes to the input that won its
    /// window, found again as the forward found it (the first largest, row by row).
    public func backward(_ context: BackwardContext) {
        let offset = -padding / 2
        context.parallel(context.batch * input.channels, work: context.batch * input.count) { planes in
            for plane in planes {
                let values = context.input + plane * input.spatial, gradient = context.inputGradient + plane * input.spatial
                let outputGradient = context.outputGradient + plane * output.spatial
                if halves {
                    // The common 2×2 windows, each inside the image: its four cells in the same order.
                    let width = input.width
                    for y in 0..<output.height {
                        let top = 2 * y * width
                        for x in 0..<output.width {
                            let a = top + 2 * x, b = a + 1, c = a + width, d = c + 1
                            // Selects, not branches: which cell wins is a coin toss the predictor loses.
                            var winner = a, largest = values[a]
                            for cell in [b, c, d] {
                                let value = values[cell], wins = value > largest
                                winner = wins ? cell : winner
                                largest = wins ? value : largest
                            }
                            gradient[winner] += outputGradient[y * output.width + x]
                        }
                    }
                    continue
                }
                for y in 0..<output.height {
                    for x in 0..<output.width {
                        var largest = -Float.greatestFiniteMagnitude, winner = -1
                        for dy in 0..<size {
                            let inY = y * stride + offset + dy
                            guard inY >= 0, inY < input.height else { continue }
                            for dx in 0..<size {
                                let inX = x * stride + offset + dx
                                guard inX >= 0, inX < input.width else { continue }
                                let index = inY * input.width + inX
                                if values[index] > largest { largest = values[index]; winner = index }
                            }
                        }
                        if winner >= 0 { gradient[winner] += outputGradient[y * output.width + x] }
                    }
                }
            }
        }
    }
}
