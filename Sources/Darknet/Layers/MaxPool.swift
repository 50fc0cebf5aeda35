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

    public var tableEntry: String {
        String(format: "max          %d x %d / %d  %4d x%4d x%4d   ->  %4d x%4d x%4d",
               size, size, stride, input.width, input.height, input.channels,
               output.width, output.height, output.channels)
    }

    public func forward(_ context: ForwardContext) {
        let offset = -padding / 2
        // Where every window lies inside the image (the usual case), skip the bounds checks.
        let inside = offset >= 0 && (output.width - 1) * stride + offset + size <= input.width
            && (output.height - 1) * stride + offset + size <= input.height
        if inside && size == 2 && stride == 2 {
            forwardTwoByTwo(context, offset: offset)
            return
        }
        context.parallel(context.batch * input.channels, work: context.batch * input.count) { planes in
            forward(context, planes: planes, offset: offset, inside: inside)
        }
    }

    private func forward(_ context: ForwardContext, planes: Range<Int>, offset: Int, inside: Bool) {
        var index = planes.lowerBound * output.spatial
        for plane in planes {
            let source = context.input + plane * input.spatial
            for y in 0..<output.height {
                for x in 0..<output.width {
                    var best = -Float.greatestFiniteMagnitude
                    if inside {
                        let corner = source + (y * stride + offset) * input.width + x * stride + offset
                        for dy in 0..<size {
                            for dx in 0..<size { best = max(best, corner[dy * input.width + dx]) }
                        }
                    } else {
                        for dy in 0..<size {
                            let row = offset + y * stride + dy
                            guard row >= 0 && row < input.height else { continue }
                            for dx in 0..<size {
                                let column = offset + x * stride + dx
                                guard column >= 0 && column < input.width else { continue }
                                best = max(best, source[row * input.width + column])
                            }
                        }
                    }
                    context.output[index] = best
                    index += 1
                }
            }
        }
    }

    /// The common 2×2, stride-2 pooling with every window inside: two rows at a time.
    private func forwardTwoByTwo(_ context: ForwardContext, offset: Int) {
        context.parallel(context.batch * input.channels, work: context.batch * input.count) { planes in
            forwardTwoByTwo(context, planes: planes, offset: offset)
        }
    }

    private func forwardTwoByTwo(_ context: ForwardContext, planes: Range<Int>, offset: Int) {
        var out = context.output + planes.lowerBound * output.spatial
        for plane in planes {
            let source = context.input + plane * input.spatial + offset * input.width + offset
            for y in 0..<output.height {
                let top = source + 2 * y * input.width, bottom = top + input.width
                for x in 0..<output.width {
                    out[x] = max(max(top[2 * x], top[2 * x + 1]), max(bottom[2 * x], bottom[2 * x + 1]))
                }
                out += output.width
            }
        }
    }
}
