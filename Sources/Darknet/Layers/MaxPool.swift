import DarknetKernels
import Foundation

/// Darknet's `[maxpool]`. Its `padding` (default `size - 1`) is the total over both
/// sides; the window starts `padding / 2` before the image and cells outside never win.
/// AlexeyAB's adds strides across and down (`stride_x`, `stride_y`) and, with
/// `maxpool_depth=1`, a pool across channels instead: output channel g the largest of input
/// channels g, g + out_channels, g + 2 × out_channels, … at each position.
public struct MaxPool: Layer {
    public static let sectionName = "maxpool"
    public let input: Shape
    public let output: Shape
    public let size: Int
    public let strideX: Int
    public let strideY: Int
    public let padding: Int
    /// Pools across channels (AlexeyAB's `maxpool_depth`) into `output.channels` of them.
    public let acrossChannels: Bool

    init(_ section: inout CfgSection, input: Shape) throws {
        guard input.isImage else { throw section.error("[maxpool] needs an image as input, but the layer before outputs \(input.count) flat values") }
        let stride = try section.int("stride", default: 1)
        strideX = try section.int("stride_x", default: stride)
        strideY = try section.int("stride_y", default: stride)
        size = try section.int("size", default: stride)
        padding = try section.int("padding", default: size - 1)
        acrossChannels = try section.int("maxpool_depth", default: 0) != 0
        let outChannels = try section.int("out_channels", default: 1)
        guard size > 0, strideX > 0, strideY > 0, padding >= 0 else {
            throw section.error("[maxpool] size and stride must be positive and padding not negative (size=\(size) stride=\(strideX)x\(strideY) padding=\(padding))")
        }
        self.input = input
        if acrossChannels {
            guard outChannels >= 1, outChannels <= input.channels else {
                throw section.error("[maxpool] maxpool_depth=1 pools the \(input.channels) input channels into out_channels=\(outChannels): it must be from 1 to \(input.channels)",
                                    line: section.line(of: "out_channels") ?? section.line(of: "maxpool_depth"))
            }
            output = Shape(width: input.width, height: input.height, channels: outChannels)
        } else {
            output = Shape(
                width: (input.width + padding - size) / strideX + 1,
                height: (input.height + padding - size) / strideY + 1,
                channels: input.channels)
        }
    }

    /// Size and stride 2 over an image of even height and width: windows that never overlap
    /// nor leave the image, which a convolution may compute (`Convolutional.poolsInOutput`).
    public var halves: Bool {
        !acrossChannels && size == 2 && strideX == 2 && strideY == 2 && padding / 2 == 0
            && output.width * 2 == input.width && output.height * 2 == input.height
    }

    /// Darknet's line; AlexeyAB's `max-depth` and strides across and down (`/ 2x 1`).
    public var tableEntry: String {
        let steps = strideX == strideY ? "\(strideX)" : "\(strideX)x\(strideY)"
        return String(format: "%@%d x %d / %@  %4d x%4d x%4d   ->  %4d x%4d x%4d",
                      acrossChannels ? "max-depth    " : "max          ", size, size, steps,
                      input.width, input.height, input.channels, output.width, output.height, output.channels)
    }

    public func forward(_ context: ForwardContext) {
        let input = context.input, output = context.output
        if acrossChannels {
            for b in 0..<context.batch {
                for g in 0..<self.output.channels {
                    let out = output + (b * self.output.channels + g) * self.output.spatial
                    out.update(from: input + (b * self.input.channels + g) * self.input.spatial, count: self.output.spatial)
                    for k in Swift.stride(from: g + self.output.channels, to: self.input.channels, by: self.output.channels) {
                        let plane = input + (b * self.input.channels + k) * self.input.spatial
                        for i in 0..<self.output.spatial where plane[i] > out[i] { out[i] = plane[i] }
                    }
                }
            }
            return
        }
        context.parallel(context.batch * self.input.channels, work: context.batch * self.input.count) { planes in
            ds_maxpool(input + planes.lowerBound * self.input.spatial, Int32(self.input.height), Int32(self.input.width),
                       output + planes.lowerBound * self.output.spatial, Int32(self.output.height), Int32(self.output.width),
                       Int32(size), Int32(strideX), Int32(strideY), Int32(-padding / 2), planes.count)
        }
    }

    /// Windows start `padding / 2` rows before `y * stride`; the whole pool is recomputed
    /// (a fraction of a convolution's time). Square windows: nil (the whole input) for unequal strides.
    public var window: Window? {
        if acrossChannels { return .identity }
        return strideX == strideY ? Window(size: size, stride: strideX, left: -padding / 2, top: -padding / 2) : nil
    }

    public func changedRows(_ rows: Range<Int>) -> Range<Int>? {
        if acrossChannels { return rows }
        return windowRows(reaching: rows, size: size, stride: strideY, start: -padding / 2, count: output.height)
    }

    /// Darknet's `backward_maxpool_layer`: each output's gradient goes to the input that won its
    /// window, found again as the forward found it (the first largest, row by row; across
    /// channels, the first largest in channel order).
    public func backward(_ context: BackwardContext) {
        if acrossChannels { return backwardAcrossChannels(context) }
        let offset = -padding / 2
        context.parallel(context.batch * input.channels, work: context.batch * input.count) { planes in
            if halves {
                let at = planes.lowerBound * input.spatial
                return ds_maxpool_halves_backward(context.input + at, Int32(input.height), Int32(input.width),
                                                  context.outputGradient + planes.lowerBound * output.spatial,
                                                  context.inputGradient + at, planes.count)
            }
            for plane in planes {
                let values = context.input + plane * input.spatial, gradient = context.inputGradient + plane * input.spatial
                let outputGradient = context.outputGradient + plane * output.spatial
                for y in 0..<output.height {
                    for x in 0..<output.width {
                        var largest = -Float.greatestFiniteMagnitude, winner = -1
                        for dy in 0..<size {
                            let inY = y * strideY + offset + dy
                            guard inY >= 0, inY < input.height else { continue }
                            for dx in 0..<size {
                                let inX = x * strideX + offset + dx
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

    private func backwardAcrossChannels(_ context: BackwardContext) {
        let spatial = input.spatial, groups = output.channels
        for b in 0..<context.batch {
            for g in 0..<groups {
                let outputGradient = context.outputGradient + (b * groups + g) * spatial
                for i in 0..<spatial {
                    var winner = g, largest = context.input[(b * input.channels + g) * spatial + i]
                    for k in Swift.stride(from: g + groups, to: input.channels, by: groups) {
                        let value = context.input[(b * input.channels + k) * spatial + i]
                        if value > largest { (winner, largest) = (k, value) }
                    }
                    context.inputGradient[(b * input.channels + winner) * spatial + i] += outputGradient[i]
                }
            }
        }
    }
}
