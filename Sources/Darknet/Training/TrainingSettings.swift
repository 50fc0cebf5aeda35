import Foundation

/// How Darknet's `[net]` trains: batch, the SGD's constants and the learning-rate policy,
/// read as `parse_net_options` reads them (its defaults included).
public struct TrainingSettings: Equatable, Sendable {
    /// Images per update (`batch`), taken `subdivisions` parts at a time.
    public var batch: Int
    public var subdivisions: Int
    public var learningRate: Float
    public var momentum: Float
    public var decay: Float
    public var policy: LearningRatePolicy
    /// Batches over which the rate rises from 0 as (batch / burn_in)^power.
    public var burnIn: Int
    public var power: Float
    public var maxBatches: Int
    /// How each training image is varied before it is trained on.
    public var augmentation: Augmentation

    /// Images a forward pass takes: Darknet's `net->batch`, `batch / subdivisions`.
    public var passBatch: Int { batch / subdivisions }
    /// Where `batch` is given (or `[net]`), for errors.
    let line: Int, file: String

    /// `[net]`'s training keys, for an input `width` wide (augmentation's crop sizes scale with it).
    init(_ net: inout CfgSection, width: Int) throws {
        batch = try net.int("batch", default: 1)
        subdivisions = try net.int("subdivisions", default: 1)
        // Whether they can train is checked by `Trainer`: inference never reads them.
        (line, file) = (net.line(of: "batch") ?? net.line, net.file)
        learningRate = try net.float("learning_rate", default: 0.001)
        momentum = try net.float("momentum", default: 0.9)
        decay = try net.float("decay", default: 0.0001)
        burnIn = try net.int("burn_in", default: 0)
        power = try net.float("power", default: 4)
        maxBatches = try net.int("max_batches", default: 0)
        augmentation = try Augmentation(&net, width: width)
        let name = net.string("policy", default: "constant")
        switch name {
        case "constant": policy = .constant
        case "step": policy = .step(every: try net.int("step", default: 1), scale: try net.float("scale", default: 1))
        case "steps":
            let steps = try net.intList("steps")?.values ?? [], scales = try net.floatList("scales")?.values ?? []
            guard !steps.isEmpty, steps.count == scales.count else {
                throw net.error("[net] policy=steps needs steps= and scales= lists of the same length (\(steps.count) and \(scales.count))", line: net.line(of: "steps"))
            }
            policy = .steps(zip(steps, scales).map { ($0, $1) })
        case "exp": policy = .exp(gamma: try net.float("gamma", default: 1))
        case "poly": policy = .poly
        case "random": policy = .random
        case "sigmoid":
            policy = .sigmoid(gamma: try net.float("gamma", default: 1), step: try net.int("step", default: 1))
        default:
            throw net.error("[net] unknown policy '\(excerpt(name))'; expected constant, step, steps, exp, poly, random or sigmoid", line: net.line(of: "policy"))
        }
    }

    /// Darknet's `get_current_rate` after `batches` updates; `random` draws from `uniform`
    /// (a value in [0, 1]), as Darknet draws `rand_uniform(0, 1)`.
    public func rate(afterBatches batches: Int, uniform: () -> Float = { Float.random(in: 0...1) }) -> Float {
        if batches < burnIn { return learningRate * Float(pow(Double(Float(batches) / Float(burnIn)), Double(power))) }
        switch policy {
        case .constant: return learningRate
        case let .step(every, scale): return learningRate * Float(pow(Double(scale), Double(batches / every)))
        case let .steps(steps):
            var rate = learningRate
            for (step, scale) in steps {
                if step > batches { return rate }
                rate *= scale
            }
            return rate
        case let .exp(gamma): return learningRate * Float(pow(Double(gamma), Double(batches)))
        case .poly: return learningRate * Float(pow(Double(1 - Float(batches) / Float(maxBatches)), Double(power)))
        case .random: return learningRate * Float(pow(Double(uniform()), Double(power)))
        case let .sigmoid(gamma, step):
            // Darknet subtracts from an unsigned batch count: before `step` the difference wraps
            // to near 2^64, and the rate to 0.
            let since = Float(UInt(bitPattern: batches - step))
            return learningRate * Float(1 / (1 + exp(Double(gamma * since))))
        }
    }
}

/// Darknet's learning-rate policies (`policy` in `[net]`).
public enum LearningRatePolicy: Equatable, Sendable {
    case constant
    /// Times `scale` every `every` batches.
    case step(every: Int, scale: Float)
    /// Times each scale once its batch is reached.
    case steps([(batch: Int, scale: Float)])
    case exp(gamma: Float)
    /// (1 - batches / max_batches)^power.
    case poly
    /// Times a uniform draw to the power.
    case random
    case sigmoid(gamma: Float, step: Int)

    public static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case (.constant, .constant), (.poly, .poly), (.random, .random): true
        case let (.step(x, y), .step(u, v)): x == u && y == v
        case let (.steps(x), .steps(y)): x.map(\.batch) == y.map(\.batch) && x.map(\.scale) == y.map(\.scale)
        case let (.exp(x), .exp(y)): x == y
        case let (.sigmoid(x, y), .sigmoid(u, v)): x == u && y == v
        default: false
        }
    }
}
