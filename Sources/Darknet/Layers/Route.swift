import Foundation

/// Darknet's `[route]`: the outputs of earlier layers, concatenated along channels.
public struct Route: Layer {
    public static let sectionName = "route"
    public let input: Shape
    public let output: Shape
    /// Absolute indexes of the layers routed, in order.
    public let sources: [Int]
    private let sizes: [Int]

    init(_ section: inout CfgSection, index: Int, earlier: [Shape]) throws {
        guard let (relative, line) = try section.intList("layers") else {
            throw section.error("[route] needs layers=, the earlier layers to concatenate")
        }
        sources = relative.map { $0 < 0 ? index + $0 : $0 }
        for (given, source) in zip(relative, sources) where source < 0 || source >= index {
            throw section.error("[route] layers=\(given) points at layer \(source), but only layers 0...\(index - 1) come before layer \(index)", line: line)
        }
        let shapes = sources.map { earlier[$0] }
        sizes = shapes.map(\.count)
        let first = shapes[0]
        if shapes.allSatisfy({ $0.width == first.width && $0.height == first.height }) {
            output = Shape(width: first.width, height: first.height, channels: shapes.reduce(0) { $0 + $1.channels })
        } else {
            let listed = zip(sources, shapes).map { "layer \($0) is \($1)" }.joined(separator: ", ")
            throw section.error("[route] layers must have the same width and height to be concatenated: \(listed)", line: line)
        }
        input = output
    }

    public var earlierInputs: [Int] { sources }
    public var readsPreviousLayer: Bool { false }

    public var tableEntry: String { "route " + sources.map { " \($0)" }.joined() }

    public func forward(_ context: ForwardContext) {
        let total = output.count
        var offset = 0
        for (source, size) in zip(sources, sizes) {
            for b in 0..<context.batch {
                (context.output + b * total + offset).update(from: context.layerOutputs[source] + b * size, count: size)
            }
            offset += size
        }
    }

    /// Darknet's `backward_route_layer`: each slice of the gradient added to the layer it came from.
    public func backward(_ context: BackwardContext) {
        let total = output.count
        var offset = 0
        for (source, size) in zip(sources, sizes) {
            for b in 0..<context.batch {
                let target = context.layerGradients[source] + b * size, gradient = context.outputGradient + b * total + offset
                for i in 0..<size { target[i] += gradient[i] }
            }
            offset += size
        }
    }
}
