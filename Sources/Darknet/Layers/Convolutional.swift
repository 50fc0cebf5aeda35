import CBLAS
import Foundation

/// Darknet's `[convolutional]`: grouped 2-D convolution, optional batch norm, activation.
public struct Convolutional: Layer {
    public static let sectionName = "convolutional"
    public let input: Shape
    public let output: Shape
    public let filters: Int
    public let size: Int
    public let stride: Int
    public let padding: Int
    public let groups: Int
    public let batchNormalize: Bool
    public let activation: Activation
    /// Weights stored input-major in the file (Darknet's `flipped`).
    public let flipped: Bool
    public private(set) var parameters: [Float]
    private let offsets: ParameterOffsets

    init(_ section: inout CfgSection, input: Shape) throws {
        guard input.isImage else { throw section.error("[convolutional] needs an image as input, but the layer before outputs \(input.count) flat values") }
        filters = try section.int("filters", default: 1)
        size = try section.int("size", default: 1)
        stride = try section.int("stride", default: 1)
        let pad = try section.int("pad", default: 0)
        let explicitPadding = try section.int("padding", default: 0)
        padding = pad != 0 ? size / 2 : explicitPadding
        groups = try section.int("groups", default: 1)
        activation = try section.activation(default: "logistic")
        batchNormalize = try section.int("batch_normalize", default: 0) != 0
        flipped = try section.int("flipped", default: 0) != 0
        guard filters > 0, size > 0, stride > 0, padding >= 0 else {
            throw section.error("[convolutional] filters, size and stride must be positive and padding not negative (filters=\(filters) size=\(size) stride=\(stride) padding=\(padding))")
        }
        guard groups > 0, input.channels % groups == 0, filters % groups == 0 else {
            throw section.error("[convolutional] groups=\(groups) must divide both the input channels (\(input.channels)) and filters (\(filters))")
        }
        self.input = input
        output = Shape(
            width: (input.width + 2 * padding - size) / stride + 1,
            height: (input.height + 2 * padding - size) / stride + 1,
            channels: filters)
        var blocks = [ParameterBlock(kind: .biases, count: filters)]
        if batchNormalize {
            blocks += ParameterBlock.batchNorm(count: filters)
        }
        let weightCount = try section.count(of: "weights", input.channels / groups, size, size, filters)
        blocks.append(ParameterBlock(kind: .weights(fanIn: weightCount / filters), count: weightCount))
        parameterBlocks = blocks
        offsets = ParameterOffsets(blocks)
        parameters = [Float](repeating: 0, count: blocks.reduce(0) { $0 + $1.count })
    }

    public let parameterBlocks: [ParameterBlock]
    /// Per filter, what the pass after GEMM applies: Darknet's batch norm, or the bias.
    private var normalization: [ChannelNormalization] = []

    public mutating func load(_ values: [Float], transposed: Bool) {
        parameters = values
        if flipped {
            let start = offsets[.weights(fanIn: 0)]!
            let rows = input.channels / groups * size * size
            let weights = Array(values[start...])
            for r in 0..<rows {
                for f in 0..<filters { parameters[start + f * rows + r] = weights[r * filters + f] }
            }
        }
        normalization = ChannelNormalization.make(parameters, channels: filters, offsets: offsets, batchNormalize: batchNormalize)
    }

    public var tableEntry: String {
        String(format: "conv  %5d %2d x%2d /%2d  %4d x%4d x%4d   ->  %4d x%4d x%4d  %5.3f BFLOPs",
               filters, size, size, stride, input.width, input.height, input.channels,
               output.width, output.height, output.channels, Double(operations) / 1e9)
    }

    public var operations: Int { 2 * filters * size * size * input.channels / groups * output.spatial }

    /// Darknet feeds a 1×1 convolution's input straight to GEMM, whatever its stride.
    public var workspaceCount: Int { size == 1 ? 0 : input.channels / groups * size * size * output.spatial }

    public func forward(_ context: ForwardContext) {
        let m = filters / groups
        let k = size * size * input.channels / groups
        let n = output.spatial
        let groupInput = input.channels / groups * input.spatial
        parameters.withUnsafeBufferPointer { buffer in
            let weights = buffer.baseAddress! + offsets[.weights(fanIn: 0)]!
            for b in 0..<context.batch {
                for g in 0..<groups {
                    let image = context.input + (b * groups + g) * groupInput
                    let out = context.output + (b * groups + g) * n * m
                    var columns = image
                    if size != 1 {
                        let plane = input.spatial, rows = size * size * n
                        context.parallel(input.channels / groups, work: k * n) { channels in
                            im2col(image + channels.lowerBound * plane, channels: channels.count, height: input.height,
                                   width: input.width, size: size, stride: stride, padding: padding,
                                   into: context.workspace + channels.lowerBound * rows)
                        }
                        columns = UnsafePointer(context.workspace)
                    }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                                1, weights + g * m * k, Int32(k), columns, Int32(n), 0, out, Int32(n))
                }
            }
        }
        context.parallel(context.batch * filters, work: context.batch * output.count) { planes in
            for plane in planes {
                normalization[plane % filters].apply(context.output + plane * n, count: n, activation: activation)
            }
        }
    }
}
