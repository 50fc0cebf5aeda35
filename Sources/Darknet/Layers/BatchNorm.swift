import Foundation

/// Batch normalisation at test time, as Darknet's `forward_batchnorm_layer` does it:
/// `(x - mean) / (sqrt(variance) + .000001)`, then scale, then bias; per channel.
func forwardBatchNorm(
    _ values: UnsafeMutablePointer<Float>, batch: Int, channels: Int, spatial: Int,
    scales: UnsafePointer<Float>, mean: UnsafePointer<Float>, variance: UnsafePointer<Float>,
    biases: UnsafePointer<Float>
) {
    // Darknet's sqrt takes a double and its epsilon is a float literal.
    let epsilon = Double(Float(0.000001))
    for b in 0..<batch {
        for c in 0..<channels {
            let plane = values + (b * channels + c) * spatial
            let m = mean[c], s = scales[c], bias = biases[c]
            let divisor = sqrt(Double(variance[c])) + epsilon
            for i in 0..<spatial {
                let normalized = Float(Double(plane[i] - m) / divisor)
                plane[i] = normalized * s + bias
            }
        }
    }
}

/// Adds one bias per channel (Darknet's `add_bias`).
func addBias(_ values: UnsafeMutablePointer<Float>, batch: Int, channels: Int, spatial: Int, biases: UnsafePointer<Float>) {
    for b in 0..<batch {
        for c in 0..<channels {
            let plane = values + (b * channels + c) * spatial
            let bias = biases[c]
            for i in 0..<spatial { plane[i] += bias }
        }
    }
}

/// One output channel's pass after the GEMM: batch norm (or the bias), then the
/// activation, in a single sweep over the channel, with Darknet's exact arithmetic.
struct ChannelNormalization: Sendable {
    var mean: Float = 0
    /// `sqrt(variance) + .000001` in double, as Darknet divides by it; nil without batch norm.
    var divisor: Double?
    var scale: Float = 1
    var bias: Float

    static func make(_ parameters: [Float], channels: Int, offsets: ParameterOffsets, batchNormalize: Bool) -> [ChannelNormalization] {
        (0..<channels).map { c in
            guard batchNormalize else { return ChannelNormalization(bias: parameters[c]) }
            return ChannelNormalization(
                mean: parameters[offsets[.rollingMean]! + c],
                divisor: Double(parameters[offsets[.rollingVariance]! + c]).squareRoot() + Double(Float(0.000001)),
                scale: parameters[offsets[.scales]! + c],
                bias: parameters[c])
        }
    }

    func apply(_ values: UnsafeMutablePointer<Float>, count: Int, activation: Activation) {
        guard let divisor else { return activation.apply(values, count: count, adding: bias) }
        if activation == .leaky {
            for i in 0..<count {
                let x = Float(Double(values[i] - mean) / divisor) * scale + bias
                values[i] = x > 0 ? x : Float(0.1 * Double(x))
            }
            return
        }
        for i in 0..<count { values[i] = Float(Double(values[i] - mean) / divisor) * scale }
        activation.apply(values, count: count, adding: bias)
    }
}
