import DarknetKernels

/// Per output channel, what follows the matrix product: batch norm as Darknet does it at
/// test time (`(x - mean) / (sqrt(variance) + .000001)`, then scale), the bias, and the
/// activation where the kernels fuse it (linear, leaky, ReLU); and its backward.
///
/// Owns the arrays the C kernels read, for the life of the layer.
final class ChannelEpilogue: @unchecked Sendable {
    let activation: Activation
    /// What the kernels apply; an activation they cannot fuse is left to `Activation.apply`.
    let raw: ds_epilogue
    private let floats: UnsafeMutableBufferPointer<Float>
    private let inverse: UnsafeMutableBufferPointer<Double>
    /// Per channel, the output's change per unit change of the sum before the activation:
    /// batch norm's scale over its `sqrt(variance) + .000001`, or 1 (the bias alone).
    private let slopes: UnsafeMutableBufferPointer<Float>

    init(_ parameters: [Float], channels: Int, offsets: ParameterOffsets, batchNormalize: Bool, activation: Activation) {
        self.activation = activation
        floats = .allocate(capacity: 3 * channels)
        floats.initialize(repeating: 0)
        inverse = .allocate(capacity: channels)
        inverse.initialize(repeating: 1)
        slopes = .allocate(capacity: channels)
        slopes.initialize(repeating: 1)
        let bias = floats.baseAddress!, mean = bias + channels, scale = mean + channels
        for c in 0..<channels {
            bias[c] = parameters[c]
            guard batchNormalize else { continue }
            mean[c] = parameters[offsets[.rollingMean]! + c]
            scale[c] = parameters[offsets[.scales]! + c]
            // Darknet divides by the sum in double; multiplying by its inverse in double
            // rounds to the same float but for rare ties, and is far cheaper.
            inverse[c] = 1 / (Double(parameters[offsets[.rollingVariance]! + c]).squareRoot() + Double(Float(0.000001)))
            slopes[c] = Float(Double(scale[c]) * inverse[c])
        }
        let fused = activation.kernelActivation
        raw = ds_epilogue(mean: batchNormalize ? UnsafePointer(mean) : nil, inverse: UnsafePointer(inverse.baseAddress),
                          scale: UnsafePointer(scale), bias: UnsafePointer(bias), activation: fused ?? DS_IDENTITY, folded: 0,
                          shortcut: 0, shortcut_activation: DS_IDENTITY)
        fusesActivation = fused != nil
    }

    /// Whether the kernels' pass includes the activation.
    let fusesActivation: Bool

    deinit {
        floats.deallocate()
        inverse.deallocate()
        slopes.deallocate()
    }

    /// The epilogue of channels `first...`, for a group of a grouped convolution.
    func raw(from first: Int) -> ds_epilogue {
        var shifted = raw
        shifted.mean = raw.mean.map { $0 + first }
        shifted.inverse = raw.inverse.map { $0 + first }
        shifted.scale = raw.scale.map { $0 + first }
        shifted.bias = raw.bias.map { $0 + first }
        return shifted
    }

    /// Applies channel `channel`'s whole epilogue to `count` contiguous values.
    func apply(_ values: UnsafeMutablePointer<Float>, count: Int, channel: Int) {
        withUnsafePointer(to: raw) { ds_finish($0, Int32(channel), values, count) }
        if !fusesActivation { activation.apply(values, count: count) }
    }

    /// The backward of `apply`: from the gradient of `count` contiguous outputs of channel
    /// `channel` (and those outputs), the gradient of their sums. Batch norm at test time is a
    /// fixed affine map per channel; Darknet's own backward exists only for training's batch
    /// statistics.
    func backward(_ gradient: UnsafePointer<Float>, output: UnsafePointer<Float>, count: Int, channel: Int,
                  into sums: UnsafeMutablePointer<Float>) {
        let slope = slopes[channel]
        switch activation {
        case .linear: for i in 0..<count { sums[i] = gradient[i] * slope }
        case .leaky: for i in 0..<count { sums[i] = gradient[i] * (output[i] > 0 ? slope : 0.1 * slope) }
        case .relu: for i in 0..<count { sums[i] = output[i] > 0 ? gradient[i] * slope : 0 }
        default: for i in 0..<count { sums[i] = gradient[i] * activation.gradient(output: output[i]) * slope }
        }
    }
}
