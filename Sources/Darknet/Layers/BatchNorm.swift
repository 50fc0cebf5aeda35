import DarknetKernels

/// Per output channel, what follows the matrix product: batch norm as Darknet does it at
/// test time (`(x - mean) / (sqrt(variance) + .000001)`, then scale), the bias, and the
/// activation where the kernels fuse it (linear, leaky, ReLU).
///
/// Owns the arrays the C kernels read, for the life of the layer.
final class ChannelEpilogue: @unchecked Sendable {
    let activation: Activation
    /// What the kernels apply; an activation they cannot fuse is left to `Activation.apply`.
    let raw: ds_epilogue
    private let floats: UnsafeMutableBufferPointer<Float>
    private let inverse: UnsafeMutableBufferPointer<Double>

    init(_ parameters: [Float], channels: Int, offsets: ParameterOffsets, batchNormalize: Bool, activation: Activation) {
        self.activation = activation
        floats = .allocate(capacity: 3 * channels)
        floats.initialize(repeating: 0)
        inverse = .allocate(capacity: channels)
        inverse.initialize(repeating: 1)
        let bias = floats.baseAddress!, mean = bias + channels, scale = mean + channels
        for c in 0..<channels {
            bias[c] = parameters[c]
            guard batchNormalize else { continue }
            mean[c] = parameters[offsets[.rollingMean]! + c]
            scale[c] = parameters[offsets[.scales]! + c]
            // Darknet divides by the sum in double; multiplying by its inverse in double
            // rounds to the same float but for rare ties, and is far cheaper.
            inverse[c] = 1 / (Double(parameters[offsets[.rollingVariance]! + c]).squareRoot() + Double(Float(0.000001)))
        }
        let fused = activation.kernelActivation
        raw = ds_epilogue(mean: batchNormalize ? UnsafePointer(mean) : nil, inverse: UnsafePointer(inverse.baseAddress),
                          scale: UnsafePointer(scale), bias: UnsafePointer(bias), activation: fused ?? DS_IDENTITY, folded: 0)
        fusesActivation = fused != nil
    }

    /// Whether the kernels' pass includes the activation.
    let fusesActivation: Bool

    deinit {
        floats.deallocate()
        inverse.deallocate()
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
}
