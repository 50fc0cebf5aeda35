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
