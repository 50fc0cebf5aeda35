import DarknetKernels
import Foundation

/// Darknet's activation functions, by their cfg names.
///
/// Each computes as Darknet's C does: constants like `.1` are doubles there,
/// so the arithmetic happens in double and is rounded to float at the end.
public enum Activation: String, CaseIterable, Sendable {
    case logistic, loggy, relu, elu, selu, relie, plse, hardtan, lhtan, linear, ramp, leaky, tanh, stair

    public func callAsFunction(_ x: Float) -> Float {
        let d = Double(x)
        switch self {
        case .linear: return x
        case .logistic: return Float(1 / (1 + exp(-d)))
        case .loggy: return Float(2 / (1 + exp(-d)) - 1)
        case .relu: return x > 0 ? x : 0
        case .elu: return x >= 0 ? x : Float(exp(d) - 1)
        case .selu: return x >= 0 ? Float(1.0507 * d) : Float(1.0507 * 1.6732 * (exp(d) - 1))
        case .relie: return x > 0 ? x : Float(0.01 * d)
        case .ramp: return Float((x > 0 ? d : 0) + 0.1 * d)
        case .leaky: return x > 0 ? x : Float(0.1 * d)
        case .tanh: return Float((exp(2 * d) - 1) / (exp(2 * d) + 1))
        case .plse:
            if x < -4 { return Float(0.01 * (d + 4)) }
            if x > 4 { return Float(0.01 * (d - 4) + 1) }
            return Float(0.125 * d + 0.5)
        case .hardtan: return min(max(x, -1), 1)
        case .lhtan:
            if x < 0 { return Float(0.001 * d) }
            if x > 1 { return Float(0.001 * (d - 1) + 1) }
            return x
        case .stair:
            let n = Int(floor(x))
            return n % 2 == 0 ? Float(floor(d / 2)) : Float((d - Double(n)) + floor(d / 2))
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

    func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        if let kernelActivation { return ds_activate(values, count, kernelActivation) }
        for i in 0..<count { values[i] = self(values[i]) }
    }
}

extension CfgSection {
    /// Reads `activation`; Darknet falls back to ReLU on an unknown name, we refuse it.
    mutating func activation(default name: String) throws -> Activation {
        let value = string("activation", default: name)
        guard let activation = Activation(rawValue: value) else {
            let known = Activation.allCases.map(\.rawValue).joined(separator: ", ")
            throw error("[\(type)] unknown activation '\(excerpt(value))'; expected one of \(known)", line: line(of: "activation"))
        }
        return activation
    }
}
