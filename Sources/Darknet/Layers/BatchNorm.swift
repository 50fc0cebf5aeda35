import DarknetKernels
import Foundation

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

    /// Applies channel `channel`'s whole epilogue to `count` contiguous values (the activation
    /// through `context`, which keeps what its gradient needs).
    func apply(_ values: UnsafeMutablePointer<Float>, count: Int, channel: Int, context: ForwardContext) {
        withUnsafePointer(to: raw) { ds_finish($0, Int32(channel), values, count) }
        if !fusesActivation { context.activate(activation, values, count: count) }
    }

    /// The backward of `apply`: from the gradient of `count` contiguous outputs of channel
    /// `channel` (and those outputs), the gradient of their sums. Batch norm at test time is a
    /// fixed affine map per channel; Darknet's own backward exists only for training's batch
    /// statistics.
    /// `input`: the values before the activation, for one whose output does not give its slope.
    func backward(_ gradient: UnsafePointer<Float>, output: UnsafePointer<Float>, input: UnsafePointer<Float>?, count: Int,
                  channel: Int, into sums: UnsafeMutablePointer<Float>) {
        let slope = slopes[channel]
        switch activation {
        case .linear: for i in 0..<count { sums[i] = gradient[i] * slope }
        case .leaky: for i in 0..<count { sums[i] = gradient[i] * (output[i] > 0 ? slope : 0.1 * slope) }
        case .relu: for i in 0..<count { sums[i] = output[i] > 0 ? gradient[i] * slope : 0 }
        case _ where !activation.gradientFromOutput:
            for i in 0..<count { sums[i] = gradient[i] * activation.gradient(input: input![i]) * slope }
        default: for i in 0..<count { sums[i] = gradient[i] * activation.gradient(output: output[i]) * slope }
        }
    }
}

/// Batch norm as Darknet trains it (`forward_batchnorm_layer` and `backward_batchnorm_layer`
/// with `net.train` set): each channel normalized by the batch's own mean and (unbiased)
/// variance, the rolling statistics moved 1 % towards them; `values` are `batch` images of
/// `channels` planes of `spatial` floats. Sums in float, in Darknet's order (`mean_cpu`,
/// `variance_cpu`, `backward_bias`, …): over a 224 × 224 layer, double sums moved the loss by 2e-4.
enum BatchNormTraining {
    private static let kernel = InstructionSet.chosen.kernel

    /// A layer's training pass with batch norm, as Darknet's with `net.train` set: `sums` computes
    /// the layer's sums into the output of the context it is given (kept in `state` for the
    /// backward pass), then they are normalized on the batch's statistics, scaled, biased and
    /// activated into the layer's output, in one pass where the activation allows it.
    static func forward(_ context: ForwardContext, channels: Int, spatial: Int, offsets: ParameterOffsets,
                        activation: Activation, state: TrainingState, sums: (ForwardContext) -> Void) {
        let count = context.batch * channels * spatial
        state.sums.resize(to: count)
        var into = context
        into.output = state.sums.withUnsafeMutableBufferPointer { $0.baseAddress! }
        sums(into)
        normalize(into: context.output, batch: context.batch, channels: channels, spatial: spatial, offsets: offsets,
                  activation: activation.kernelActivation ?? DS_IDENTITY, state: state, threads: context)
        guard activation.kernelActivation == nil else { return }
        context.parallel(count, work: count) { values in activation.apply(context.output + values.lowerBound, count: values.count) }
    }

    /// From the sums in `state` to `values`, the scaled and biased normalized values with
    /// `activation` applied; the channels split between `threads`.
    private static func normalize(into values: UnsafeMutablePointer<Float>, batch: Int, channels: Int, spatial: Int,
                                  offsets: ParameterOffsets, activation: ds_activation, state: TrainingState,
                                  threads: some LayerThreads) {
        let count = batch * channels * spatial, n = batch * spatial
        state.normalized.resize(to: count)
        state.mean.resize(to: channels)
        state.variance.resize(to: channels)
        let scales = offsets[.scales]!, biases = offsets[.biases]!
        let rollingMean = offsets[.rollingMean]!, rollingVariance = offsets[.rollingVariance]!
        let sums = state.sums.withUnsafeBufferPointer { $0.baseAddress! }
        let normalized = state.normalized.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let mean = state.mean.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let variance = state.variance.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let parameters = state.parameters.withUnsafeMutableBufferPointer { $0.baseAddress! }
        var divisors = [Double](repeating: 0, count: channels)
        let divisor = divisors.withUnsafeMutableBufferPointer { $0.baseAddress! }
        threads.parallel(channels, work: count) { range in
            let (first, last) = (Int32(range.lowerBound), Int32(range.upperBound))
            ds_channel_sums(kernel, DS_SUM, sums, nil, Int32(batch), Int32(channels), spatial, first, last, mean)
            for c in range { mean[c] *= Float(1 / Double(n)) }
            ds_channel_sums(kernel, DS_SUM_SQUARED_DEVIATION, sums, mean, Int32(batch), Int32(channels), spatial, first, last, variance)
            for c in range {
                variance[c] *= Float(1 / Double(n - 1))
                let (m, v) = (mean[c], variance[c])
                parameters[rollingMean + c] = parameters[rollingMean + c] * 0.99 + 0.01 * m
                parameters[rollingVariance + c] = parameters[rollingVariance + c] * 0.99 + 0.01 * v
                divisor[c] = Double(v).squareRoot() + Double(Float(0.000001))
            }
            ds_batchnorm_normalize(sums, values, normalized, mean, divisor, parameters + scales, parameters + biases,
                                   Int32(batch), Int32(channels), spatial, first, last, activation)
        }
    }

    /// From the delta of the outputs in `delta` (through the activation already) to that of the
    /// sums, in place, adding the biases' and scales' gradients to `state.updates`; the
    /// channels split between `threads`.
    static func backward(_ delta: UnsafeMutablePointer<Float>, batch: Int, channels: Int, spatial: Int,
                         offsets: ParameterOffsets, state: TrainingState, threads: some LayerThreads) {
        let scales = offsets[.scales]!, biases = offsets[.biases]!, n = Double(batch * spatial)
        let sums = state.sums.withUnsafeBufferPointer { $0.baseAddress! }
        let normalized = state.normalized.withUnsafeBufferPointer { $0.baseAddress! }
        let mean = state.mean.withUnsafeBufferPointer { $0.baseAddress! }, variance = state.variance.withUnsafeBufferPointer { $0.baseAddress! }
        let updates = state.updates.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let parameters = state.parameters.withUnsafeBufferPointer { $0.baseAddress! }
        // Per channel: the scales' sum, the mean's and the variance's deltas, and the shares
        // of normalize_delta; per plane, the biases' sums.
        var channelSums = [Float](repeating: 0, count: 3 * channels), planeSums = [Float](repeating: 0, count: batch * channels)
        var shares = [Double](repeating: 0, count: 3 * channels)
        let scaleSum = channelSums.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let meanDelta = scaleSum + channels, varianceDelta = scaleSum + 2 * channels
        let planeSum = planeSums.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let root = shares.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let varianceShare = root + channels, meanShare = root + 2 * channels
        threads.parallel(channels, work: batch * channels * spatial) { range in
            let (first, last) = (Int32(range.lowerBound), Int32(range.upperBound))
            ds_batchnorm_delta_sums(kernel, delta, normalized, Int32(batch), Int32(channels), spatial, first, last, planeSum, scaleSum)
            for c in range {
                // Darknet's backward_bias adds each plane's sum, image after image.
                for b in 0..<batch { updates[biases + c] += planeSum[b * channels + c] }
                updates[scales + c] += scaleSum[c]
            }
            ds_batchnorm_scale_delta(kernel, delta, parameters + scales, sums, mean, Int32(batch), Int32(channels), spatial, first, last,
                                     meanDelta, varianceDelta)
            for c in range {
                let v = variance[c] + 0.00001
                meanShare[c] = Double(Float(Double(meanDelta[c]) * (-1 / Double(v).squareRoot())) / Float(n))
                varianceShare[c] = Double(Float(Double(varianceDelta[c]) * (-0.5 * pow(Double(v), -1.5)))) * 2
                root[c] = Double(v).squareRoot()
            }
            ds_batchnorm_normalize_delta(delta, sums, mean, root, varianceShare, meanShare, n, Int32(batch), Int32(channels),
                                         spatial, first, last)
        }
    }
}
