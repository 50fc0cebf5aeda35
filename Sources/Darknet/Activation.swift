import DarknetKernels
import Foundation

/// Darknet's activation functions, by their cfg names: pjreddie's, and those AlexeyAB's
/// fork adds (`swish`, `mish`, `hard_mish`, `relu6`, `gelu`).
///
/// Each computes as Darknet's C does: constants like `.1` are doubles there,
/// so the arithmetic happens in double and is rounded to float at the end. AlexeyAB's
/// compute in float (`expf`, `logf`, `tanhf`); in double they agree to the float's last bit or so.
public enum Activation: String, CaseIterable, Sendable {
    case logistic, loggy, relu, elu, selu, relie, plse, hardtan, lhtan, linear, ramp, leaky, tanh, stair
    case swish, mish, hardMish = "hard_mish", relu6, gelu

    /// pjreddie's Darknet's own, which Debian's libdarknet knows.
    public static let pjreddie: [Activation] = [.logistic, .loggy, .relu, .elu, .selu, .relie, .plse, .hardtan, .lhtan,
                                                .linear, .ramp, .leaky, .tanh, .stair]

    public func callAsFunction(_ x: Float) -> Float { Float(self(Double(x))) }

    /// The activation in double, rounded to float only by the caller: Darknet's arithmetic
    /// before its final rounding, and the precision finite differences need.
    public func callAsFunction(_ d: Double) -> Double {
        switch self {
        case .linear: return d
        case .logistic: return 1 / (1 + exp(-d))
        case .loggy: return 2 / (1 + exp(-d)) - 1
        case .relu: return d > 0 ? d : 0
        case .elu: return d >= 0 ? d : exp(d) - 1
        case .selu: return d >= 0 ? 1.0507 * d : 1.0507 * 1.6732 * (exp(d) - 1)
        case .relie: return d > 0 ? d : 0.01 * d
        case .ramp: return (d > 0 ? d : 0) + 0.1 * d
        case .leaky: return d > 0 ? d : 0.1 * d
        case .tanh: return (exp(2 * d) - 1) / (exp(2 * d) + 1)
        case .plse:
            if d < -4 { return 0.01 * (d + 4) }
            if d > 4 { return 0.01 * (d - 4) + 1 }
            return 0.125 * d + 0.5
        case .hardtan: return min(max(d, -1), 1)
        case .lhtan:
            if d < 0 { return 0.001 * d }
            if d > 1 { return 0.001 * (d - 1) + 1 }
            return d
        case .stair:
            let n = floor(d)
            return Int(n) % 2 == 0 ? floor(d / 2) : (d - n) + floor(d / 2)
        case .swish: return d / (1 + exp(-d))
        case .mish:
            // AlexeyAB's softplus with its threshold of 20, then tanh.
            let softplus = d > 20 ? d : d < -20 ? exp(d) : log(exp(d) + 1)
            return d * Foundation.tanh(softplus)
        case .hardMish: return d > 0 ? d : d > -2 ? d * d / 2 + d : 0
        case .relu6: return min(max(d, 0), 6)
        case .gelu: return 0.5 * d * (1 + Foundation.tanh(0.797885 * d + 0.035677 * d * d * d))
        }
    }

    /// Whether the derivative follows from the output alone (`gradient(output:)`); swish's,
    /// mish's, hard mish's and GELU's need the input (`gradient(input:)`), which a pass keeps
    /// only when asked (`ForwardContext.activationInput`).
    public var gradientFromOutput: Bool {
        switch self {
        case .swish, .mish, .hardMish, .gelu: false
        default: true
        }
    }

    /// The derivative at the point whose activation is `y`, as Darknet's `gradient` takes it:
    /// from the output, so that ReLU's and leaky's kinks fall where Darknet's do.
    public func gradient(output y: Float) -> Float {
        switch self {
        case .linear: return 1
        case .logistic: return (1 - y) * y
        case .loggy:
            let s = Float((Double(y) + 1) / 2)
            return 2 * (1 - s) * s
        case .relu: return y > 0 ? 1 : 0
        case .elu: return y >= 0 ? 1 : y + 1
        case .selu: return y >= 0 ? 1.0507 : Float(Double(y) + 1.0507 * 1.6732)
        case .relie: return y > 0 ? 1 : 0.01
        case .ramp: return y > 0 ? 1.1 : 0.1
        case .leaky: return y > 0 ? 1 : 0.1
        case .tanh: return 1 - y * y
        case .plse: return y < 0 || y > 1 ? 0.01 : 0.125
        case .hardtan: return y > -1 && y < 1 ? 1 : 0
        case .lhtan: return y > 0 && y < 1 ? 1 : 0.001
        case .stair: return floor(y) == y ? 0 : 1
        case .relu6: return y > 0 && y < 6 ? 1 : 0
        case .swish, .mish, .hardMish, .gelu:
            preconditionFailure("\(rawValue)'s gradient needs its input; callers check gradientFromOutput")
        }
    }

    /// The derivative at input `x`, for the activations whose output does not give it
    /// (AlexeyAB's formulas), in double; the others' from their output.
    public func gradient(input x: Float) -> Float {
        let d = Double(x)
        switch self {
        case .swish:
            let s = 1 / (1 + exp(-d))
            return Float(s + d * s * (1 - s))
        case .mish:
            let softplus = d > 20 ? d : d < -20 ? exp(d) : log(exp(d) + 1), t = Foundation.tanh(softplus)
            return Float(t + d * (1 - t * t) * (1 / (1 + exp(-d))))
        case .hardMish: return x > 0 ? 1 : x > -2 ? x + 1 : 0
        case .gelu:
            let u = 0.797885 * d + 0.035677 * d * d * d, t = Foundation.tanh(u)
            return Float(0.5 * (1 + t) + 0.5 * d * (1 - t * t) * (0.797885 + 3 * 0.035677 * d * d))
        default: return gradient(output: self(x))
        }
    }

    /// The activation as the C kernels apply it, for those they do.
    var kernelActivation: ds_activation? {
        switch self {
        case .linear: DS_IDENTITY
        case .leaky: DS_LEAKY
        case .relu: DS_RELU
        default: nil
        }
    }

    /// Darknet's `gradient_array`: each of `count` deltas times the activation's slope at its
    /// output, into `result`.
    func gradient(_ delta: UnsafePointer<Float>, output: UnsafePointer<Float>, count: Int, into result: UnsafeMutablePointer<Float>) {
        switch self {
        case .linear: result.update(from: delta, count: count)
        case .leaky: for i in 0..<count { result[i] = output[i] > 0 ? delta[i] : delta[i] * 0.1 }
        case .relu: for i in 0..<count { result[i] = output[i] > 0 ? delta[i] : 0 }
        default: for i in 0..<count { result[i] = delta[i] * gradient(output: output[i]) }
        }
    }

    func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        if let kernelActivation { return ds_activate(values, count, kernelActivation) }
        switch self {
        case .swish: return ds_activate_smooth(values, count, DS_SWISH)
        case .mish: return ds_activate_smooth(values, count, DS_MISH)
        default: break
        }
        for i in 0..<count { values[i] = self(values[i]) }
    }
}

extension CfgSection {
    /// Reads `activation`; Darknet falls back to ReLU on an unknown name, we refuse it.
    mutating func activation(default name: String) throws -> Activation {
        let value = string("activation", default: name)
        if ChannelNormalization(rawValue: value) != nil {
            throw error("[\(type)] activation=\(value) normalizes across channels, which AlexeyAB's darknet computes only in [convolutional]", line: line(of: "activation"))
        }
        guard let activation = Activation(rawValue: value) else {
            let known = Activation.allCases.map(\.rawValue).joined(separator: ", ")
            throw error("[\(type)] unknown activation '\(excerpt(value))'; expected one of \(known)", line: line(of: "activation"))
        }
        return activation
    }
}

/// AlexeyAB's activations across channels, which only `[convolutional]` computes: at each
/// position of each image, the channels' values made to sum to about 1 (ε = 0.0001 in the sum).
/// `normalize_channels`: ReLU, then each over their sum; `normalize_channels_softmax`:
/// exp, then each over their sum (no maximum subtracted); `…_maxval`: the maximum subtracted first.
public enum ChannelNormalization: String, CaseIterable, Sendable {
    case relu = "normalize_channels"
    case softmax = "normalize_channels_softmax"
    case softmaxFromMaximum = "normalize_channels_softmax_maxval"

    private static let epsilon: Float = 0.0001

    /// Normalizes positions `positions` of `images` images of `channels` planes of `spatial`
    /// values, in float as AlexeyAB's does, channel after channel.
    func apply(_ values: UnsafeMutablePointer<Float>, images: Int, channels: Int, spatial: Int, positions: Range<Int>) {
        for b in 0..<images {
            let image = values + b * channels * spatial
            for i in positions {
                var sum = Self.epsilon
                switch self {
                case .relu:
                    for k in 0..<channels where image[k * spatial + i] > 0 { sum += image[k * spatial + i] }
                    for k in 0..<channels {
                        let v = image[k * spatial + i]
                        image[k * spatial + i] = v > 0 ? v / sum : 0
                    }
                case .softmax, .softmaxFromMaximum:
                    let largest = self == .softmax ? 0 : (0..<channels).map { image[$0 * spatial + i] }.max()!
                    for k in 0..<channels { sum += expf(image[k * spatial + i] - largest) }
                    for k in 0..<channels { image[k * spatial + i] = expf(image[k * spatial + i] - largest) / sum }
                }
            }
        }
    }

    /// The gradient with respect to the values before it (`inputs`), from the one with
    /// respect to its outputs, in double. AlexeyAB's training uses a simpler rule in its place
    /// (each delta times Σ y·delta); this is the derivative.
    func gradient(_ outputGradient: UnsafePointer<Float>, inputs: UnsafePointer<Float>, outputs: UnsafePointer<Float>,
                  images: Int, channels: Int, spatial: Int, into result: UnsafeMutablePointer<Float>) {
        for b in 0..<images {
            let at = b * channels * spatial
            for i in 0..<spatial {
                let index = { (k: Int) in at + k * spatial + i }
                // Σ g·y, the part every channel shares.
                let shared = (0..<channels).reduce(0.0) { $0 + Double(outputGradient[index($1)]) * Double(outputs[index($1)]) }
                switch self {
                case .relu:
                    let sum = Double(Self.epsilon) + (0..<channels).reduce(0.0) { $0 + Double(max(inputs[index($1)], 0)) }
                    for k in 0..<channels {
                        result[index(k)] = inputs[index(k)] > 0 ? Float((Double(outputGradient[index(k)]) - shared) / sum) : 0
                    }
                case .softmax, .softmaxFromMaximum:
                    for k in 0..<channels {
                        result[index(k)] = Float(Double(outputs[index(k)]) * (Double(outputGradient[index(k)]) - shared))
                    }
                    guard self == .softmaxFromMaximum else { continue }
                    // The maximum subtracted moves the outputs through ε alone: ∂y/∂max = −y·ε/S.
                    let largest = (0..<channels).max { inputs[index($0)] < inputs[index($1)] }!
                    let sum = Double(Self.epsilon) + (0..<channels).reduce(0.0) { $0 + exp(Double(inputs[index($1)] - inputs[index(largest)])) }
                    result[index(largest)] -= Float(shared * Double(Self.epsilon) / sum)
                }
            }
        }
    }
}
