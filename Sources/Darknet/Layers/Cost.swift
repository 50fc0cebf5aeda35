import Foundation

/// Darknet's `[cost]`: computes a training loss only. Its input passes through,
/// and the network's prediction is the last layer before it, as in Darknet.
public struct Cost: Layer {
    public static let sectionName = "cost"
    public let input: Shape
    public let output: Shape

    init(_ section: inout CfgSection, input: Shape) throws {
        section.ignore(["type", "scale", "ratio", "noobj", "thresh"])
        self.input = input
        output = .flat(input.count)
    }

    public var tableEntry: String { String(format: "cost                                           %4d", input.count) }

    public func forward(_ context: ForwardContext) {
        context.output.update(from: context.input, count: context.batch * input.count)
    }

    /// The identity's, as the cost passes its input through here; Darknet's `backward_cost_layer` scales the cost's gradient by `scale`, which is 1 unless a cfg sets it.
    public func backward(_ context: BackwardContext) {
        for i in 0..<(context.batch * input.count) { context.inputGradient[i] += context.outputGradient[i] }
    }
}
