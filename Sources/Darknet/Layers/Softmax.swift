import Foundation

/// Darknet's `[softmax]`, over `groups` equal slices of the input, with a temperature.
public struct Softmax: Layer {
    public static let sectionName = "softmax"
    public let input: Shape
    public let output: Shape
    public let groups: Int
    public let temperature: Float

    init(_ section: inout CfgSection, input: Shape) throws {
        groups = try section.int("groups", default: 1)
        temperature = try section.float("temperature", default: 1)
        guard groups > 0, input.count % groups == 0 else {
            throw section.error("[softmax] groups=\(groups) must divide the \(input.count) inputs")
        }
        guard temperature != 0 else { throw section.error("[softmax] temperature must not be 0") }
        if section.has("tree") { throw section.error("[softmax] hierarchical softmax (tree=) is not supported") }
        section.ignore(["spatial", "noloss"])
        self.input = input
        output = .flat(input.count)
    }

    public var tableEntry: String { String(format: "softmax                                        %4d", input.count) }

    public func forward(_ context: ForwardContext) {
        let n = input.count / groups
        for slice in 0..<(context.batch * groups) {
            softmax(context.input + slice * n, count: n, temperature: temperature, into: context.output + slice * n)
        }
    }

    /// Darknet's `backward_softmax_layer`: the cost's delta (truth - p) is already that of the
    /// logits, so it passes as it is.
    public func backward(training context: BackwardContext, state: TrainingState) {
        for i in 0..<(context.batch * input.count) { context.inputGradient[i] += context.outputGradient[i] }
    }

    /// The softmax's Jacobian: ∂pᵢ/∂zⱼ = pᵢ(δᵢⱼ - pⱼ) / temperature, within each group. Darknet's
    /// `backward_softmax_layer` passes the gradient through unchanged instead, as its training
    /// pairs the softmax with a cross-entropy cost whose gradient is already the logits'.
    public func backward(_ context: BackwardContext) {
        let n = input.count / groups
        for slice in 0..<(context.batch * groups) {
            let p = context.output + slice * n, gradient = context.outputGradient + slice * n
            var dot: Float = 0
            for i in 0..<n { dot += gradient[i] * p[i] }
            let target = context.inputGradient + slice * n
            for i in 0..<n { target[i] += p[i] * (gradient[i] - dot) / temperature }
        }
    }
}

/// Darknet's `softmax`: the float sum and the double `exp` are as in its C.
func softmax(_ input: UnsafePointer<Float>, count: Int, temperature: Float, into output: UnsafeMutablePointer<Float>) {
    var largest = -Float.greatestFiniteMagnitude
    for i in 0..<count where input[i] > largest { largest = input[i] }
    var sum: Float = 0
    for i in 0..<count {
        let e = Float(exp(Double(input[i] / temperature - largest / temperature)))
        sum += e
        output[i] = e
    }
    for i in 0..<count { output[i] /= sum }
}
