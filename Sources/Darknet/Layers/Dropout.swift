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

    public var trains: Bool { true }

    /// What training multiplies the cells it keeps by: Darknet's `1./(1.-probability)`.
    private var scale: Float { Float(1 / (1 - Double(probability))) }

    /// Darknet's `forward_dropout_layer` with `net.train` set: each value dropped (0) where
    /// its draw of C's `rand()` (`rand_uniform(0, 1)`, in value order) falls below the
    /// probability, else scaled by 1 / (1 - probability). Darknet drops in the previous layer's
    /// own output, which that layer's backward then reads; with a linear, leaky or ReLU
    /// activation, whose gradient a positive scale or a dropped cell (whose delta is 0) does
    /// not change, that is the same as dropping in a copy, as here.
    public func forward(training context: ForwardContext, state: TrainingState) {
        let count = context.batch * input.count
        state.draws = (0..<count).map { _ in Float(rand()) / Float(RAND_MAX) }
        for i in 0..<count { context.output[i] = state.draws[i] < probability ? 0 : context.input[i] * scale }
    }

    /// Darknet's `backward_dropout_layer`: the delta of the cells kept, scaled alike.
    public func backward(training context: BackwardContext, state: TrainingState) {
        for i in 0..<(context.batch * input.count) where state.draws[i] >= probability {
            context.inputGradient[i] += context.outputGradient[i] * scale
        }
    }

    public func forward(_ context: ForwardContext) {
        context.output.update(from: context.input, count: context.batch * input.count)
    }

    /// The identity's: Darknet's `backward_dropout_layer` applies training's dropped cells, of which test time has none.
    public func backward(_ context: BackwardContext) {
        for i in 0..<(context.batch * input.count) { context.inputGradient[i] += context.outputGradient[i] }
    }
}
