import Foundation

/// One output channel's pass after the GEMM: batch norm as Darknet does it at test time
/// (`(x - mean) / (sqrt(variance) + .000001)`, then scale, then bias) or just the bias,
/// then the activation, in a single sweep over the channel.
struct ChannelNormalization: Sendable {
    var mean: Float = 0
    /// `1 / (sqrt(variance) + .000001)` in double: Darknet divides by the sum; multiplying
    /// by its inverse in double rounds to the same float but for rare ties, and is far cheaper.
    var inverse: Double?
    var scale: Float = 1
    var bias: Float

    static func make(_ parameters: [Float], channels: Int, offsets: ParameterOffsets, batchNormalize: Bool) -> [ChannelNormalization] {
        (0..<channels).map { c in
            guard batchNormalize else { return ChannelNormalization(bias: parameters[c]) }
            return ChannelNormalization(
                mean: parameters[offsets[.rollingMean]! + c],
                inverse: 1 / (Double(parameters[offsets[.rollingVariance]! + c]).squareRoot() + Double(Float(0.000001))),
                scale: parameters[offsets[.scales]! + c],
                bias: parameters[c])
        }
    }

    func apply(_ values: UnsafeMutablePointer<Float>, count: Int, activation: Activation) {
        guard let inverse else { return activation.apply(values, count: count, adding: bias) }
        if activation == .leaky {
            for i in 0..<count {
                let x = Float(Double(values[i] - mean) * inverse) * scale + bias
                values[i] = x > 0 ? x : Float(0.1 * Double(x))
            }
            return
        }
        for i in 0..<count { values[i] = Float(Double(values[i] - mean) * inverse) * scale }
        activation.apply(values, count: count, adding: bias)
    }
}
