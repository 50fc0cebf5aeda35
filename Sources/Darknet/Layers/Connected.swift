import CBLAS
import DarknetKernels
import Foundation

/// Darknet's `[connected]`: a fully connected layer over the flattened input.
public struct Connected: Layer {
    public static let sectionName = "connected"
    public let input: Shape
    public let output: Shape
    public let batchNormalize: Bool
    public let activation: Activation
    public let parameterBlocks: [ParameterBlock]
    /// Empty until `load`: a cfg is read (and `darkscope layers` prints it) without allocating them.
    public private(set) var parameters: [Float] = []
    private let offsets: ParameterOffsets

    init(_ section: inout CfgSection, input: Shape) throws {
        let outputs = try section.int("output", default: 1)
        guard outputs > 0 else { throw section.error("[connected] output must be positive, got \(outputs)") }
        activation = try section.activation(default: "logistic")
        batchNormalize = try section.int("batch_normalize", default: 0) != 0
        self.input = input
        output = Shape(width: 1, height: 1, channels: outputs)
        var blocks = [ParameterBlock(kind: .biases, count: outputs),
                      ParameterBlock(kind: .weights(fanIn: input.count), count: try section.count(of: "weights", input.count, outputs))]
        if batchNormalize {
            blocks += ParameterBlock.batchNorm(count: outputs)
        }
        parameterBlocks = blocks
        offsets = ParameterOffsets(blocks)
    }

    /// Per output, what follows the matrix product: Darknet's batch norm or the bias, and the activation.
    private var epilogue: ChannelEpilogue?

    public mutating func load(_ values: [Float], transposed: Bool) {
        parameters = values
        epilogue = ChannelEpilogue(values, channels: output.count, offsets: offsets, batchNormalize: batchNormalize,
                                   activation: activation)
        guard transposed else { return }
        // Such files hold an inputs × outputs matrix; ours is outputs × inputs.
        let start = offsets[.weights(fanIn: 0)]!
        let stored = Array(values[start..<(start + input.count * output.count)])
        for i in 0..<input.count {
            for o in 0..<output.count { parameters[start + o * input.count + i] = stored[i * output.count + o] }
        }
    }

    public var tableEntry: String {
        String(format: "connected                            %4d  ->  %4d", input.count, output.count)
    }

    public var operations: Int { 2 * input.count * output.count }

    public func forward(_ context: ForwardContext) {
        products(context)
        guard let epilogue else { preconditionFailure("forward before load") }
        for index in 0..<(context.batch * output.count) {
            epilogue.apply(context.output + index, count: 1, channel: index % output.count, context: context)
        }
    }

    /// The weights times each image's input, into the output.
    private func products(_ context: ForwardContext) {
        let outputs = output.count, inputs = input.count
        parameters.withUnsafeBufferPointer { buffer in
            let weights = buffer.baseAddress! + offsets[.weights(fanIn: 0)]!
            // Each thread a block of outputs (OpenBLAS itself runs single-threaded).
            context.parallel(outputs, work: inputs * outputs) { rows in
                let block = weights + rows.lowerBound * inputs
                if context.batch == 1 {
                    // One image: a matrix-vector product, several times faster than GEMM.
                    ds_gemv(weights, inputs, context.input, context.output, rows.lowerBound, rows.upperBound)
                } else {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(context.batch), Int32(rows.count), Int32(inputs),
                                1, context.input, Int32(inputs), block, Int32(inputs), 0, context.output + rows.lowerBound,
                                Int32(outputs))
                }
            }
        }
    }

    public var trains: Bool { activation.gradientFromOutput }
    public var outputActivation: Activation? { activation }

    /// With batch norm, the products, then `BatchNormTraining` (one value a channel) and the
    /// activation, as Darknet's `forward_connected_layer` with `net.train` set.
    public func forward(training context: ForwardContext, state: TrainingState) {
        guard batchNormalize else { return forward(context) }
        BatchNormTraining.forward(context, channels: output.count, spatial: 1, offsets: offsets, activation: activation,
                                  state: state, sums: products)
    }

    /// Darknet's `backward_connected_layer`: the delta through the activation and batch norm
    /// (or the bias), then the weights' gradient, deltaᵀ times the inputs, and the input's
    /// delta, delta times the weights, added.
    public func backward(training context: BackwardContext, state: TrainingState) {
        let outputs = output.count, inputs = input.count, count = context.batch * outputs
        state.delta.resize(to: count)
        let weights = offsets[.weights(fanIn: 0)]!
        state.delta.withUnsafeMutableBufferPointer { delta in
            activation.gradient(context.outputGradient, output: context.output, count: count, into: delta.baseAddress!)
            if batchNormalize {
                BatchNormTraining.backward(delta.baseAddress!, batch: context.batch, channels: outputs, spatial: 1,
                                           offsets: offsets, state: state, threads: context)
            } else {
                for i in 0..<count { state.updates[offsets[.biases]! + i % outputs] += delta[i] }
            }
            state.updates.withUnsafeMutableBufferPointer { updates in
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outputs), Int32(inputs), Int32(context.batch), 1,
                            delta.baseAddress!, Int32(outputs), context.input, Int32(inputs), 1,
                            updates.baseAddress! + weights, Int32(inputs))
            }
            parameters.withUnsafeBufferPointer { parameters in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(context.batch), Int32(inputs), Int32(outputs), 1,
                            delta.baseAddress!, Int32(outputs), parameters.baseAddress! + weights, Int32(inputs), 1,
                            context.inputGradient, Int32(inputs))
            }
        }
    }

    /// The gradient of one image's sums.
    public var backwardScratch: (shared: Int, perThread: Int) { (output.count, 0) }

    /// Darknet's `backward_connected_layer` for the input: the gradient of the sums through
    /// the activation and test-time batch norm, then times the weights.
    public func backward(_ context: BackwardContext) {
        guard let epilogue, let sums = context.shared else { preconditionFailure("backward before load") }
        let outputs = output.count, inputs = input.count
        parameters.withUnsafeBufferPointer { buffer in
            let weights = buffer.baseAddress! + offsets[.weights(fanIn: 0)]!
            for b in 0..<context.batch {
                for o in 0..<outputs {
                    epilogue.backward(context.outputGradient + b * outputs + o, output: context.output + b * outputs + o,
                                      input: context.activationInput.map { $0 + b * outputs + o }, count: 1, channel: o, into: sums + o)
                }
                // Each thread a block of inputs: Wᵀ · sums, added.
                context.parallel(inputs, work: inputs * outputs) { columns in
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(outputs), Int32(columns.count), 1, weights + columns.lowerBound,
                                Int32(inputs), sums, 1, 1, context.inputGradient + b * inputs + columns.lowerBound, 1)
                }
            }
        }
    }
}

