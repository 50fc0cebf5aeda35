import Foundation

/// Darknet's `[route]`: the outputs of earlier layers, concatenated along channels; with
/// AlexeyAB's `groups` and `group_id`, only part `group_id` of `groups` equal parts of each
/// (a CSP network's split).
public struct Route: Layer {
    public static let sectionName = "route"
    public let input: Shape
    public let output: Shape
    /// Absolute indexes of the layers routed, in order.
    public let sources: [Int]
    public let groups: Int
    public let groupID: Int
    /// Floats taken from each source, per image: a `groups`th of its output.
    private let sizes: [Int]

    init(_ section: inout CfgSection, index: Int, earlier: [Shape]) throws {
        guard let sources = try section.earlierLayers("layers", index: index) else {
            throw section.error("[route] needs layers=, the earlier layers to concatenate")
        }
        self.sources = sources
        let shapes = sources.map { earlier[$0] }
        let groups = try section.int("groups", default: 1), groupID = try section.int("group_id", default: 0)
        self.groups = groups
        self.groupID = groupID
        guard groups >= 1 else { throw section.error("[route] groups=\(groups) must be at least 1", line: section.line(of: "groups")) }
        guard (0..<groups).contains(groupID) else {
            throw section.error("[route] group_id=\(groupID) must be one of the \(groups) groups, 0...\(groups - 1)", line: section.line(of: "group_id"))
        }
        for (source, shape) in zip(sources, shapes) where shape.channels % groups != 0 {
            throw section.error("[route] cannot split layer \(source)'s \(shape.channels) channels into \(groups) groups", line: section.line(of: "groups"))
        }
        sizes = shapes.map { $0.count / groups }
        let first = shapes[0]
        if shapes.allSatisfy({ $0.width == first.width && $0.height == first.height }) {
            output = Shape(width: first.width, height: first.height, channels: shapes.reduce(0) { $0 + $1.channels } / groups)
        } else {
            let listed = zip(sources, shapes).map { "layer \($0) is \($1)" }.joined(separator: ", ")
            throw section.error("[route] layers must have the same width and height to be concatenated: \(listed)", line: section.line(of: "layers"))
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
                (context.output + b * total + offset).update(from: context.layerOutputs[source] + (b * groups + groupID) * size, count: size)
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
                let target = context.layerGradients[source] + (b * groups + groupID) * size
                let gradient = context.outputGradient + b * total + offset
                for i in 0..<size { target[i] += gradient[i] }
            }
            offset += size
        }
    }
}
