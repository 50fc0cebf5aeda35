import Foundation

/// Darknet's `[dropout]`: only active in training, so the identity here.
public struct Dropout: Layer {
    public static let sectionName = "dropout"
    public let input: Shape
    public var output: Shape { input }
    public let probability: Float

    init(_ section: inout CfgSection, input: Shape) throws {
        probability = try section.float("probability", default: 0.5)
        guard probability >= 0, probability < 1 else {
            throw section.error("[dropout] probability must be in [0, 1), got \(probability)")
        }
        self.input = input
    }

    public var tableEntry: String {
        String(format: "dropout       p = %.2f               %4d  ->  %4d", probability, input.count, input.count)
    }

    /// Training drops cells by Darknet's random draws, not done yet.
    public var trains: Bool { false }

    public func forward(_ context: ForwardContext) {
        context.output.update(from: context.input, count: context.batch * input.count)
    }

    /// The identity's: Darknet's `backward_dropout_layer` applies training's dropped cells, of which test time has none.
    public func backward(_ context: BackwardContext) {
        for i in 0..<(context.batch * input.count) { context.inputGradient[i] += context.outputGradient[i] }
    }
}
