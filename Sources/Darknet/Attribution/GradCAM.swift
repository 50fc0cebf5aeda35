extension Attributor {
    /// Grad-CAM and Grad-CAM++ over `layer`'s grid: the ReLU of its channels weighted by
    /// the gradient of the class's logit. Grad-CAM weighs a channel by its mean gradient;
    /// Grad-CAM++ by its positive gradients, each pixel's weighed by
    /// g² / (2g² + ΣA · g³) (Chattopadhay et al.'s closed form for an exponential score).
    func gradCAM(layer: Int, plusPlus: Bool, classIndex: Int, input: Image, forward: ForwardResult) throws -> InputPlane {
        let gradients = try backpropagator.backward(.logit(class: classIndex), input: input.values, forward: forward)
        let shape = network.layers[layer].output
        let activations = forward.layerOutputs[layer], gradient = gradients.layers[layer]
        let n = shape.spatial
        var cam = [Float](repeating: 0, count: n)
        for channel in 0..<shape.channels {
            let a = activations[(channel * n)..<((channel + 1) * n)], g = gradient[(channel * n)..<((channel + 1) * n)]
            let weight: Float
            if plusPlus {
                let sum = a.reduce(0, +)
                weight = zip(a.indices, g).reduce(0) { total, pair in
                    let g = pair.1, g2 = g * g, denominator = 2 * g2 + sum * g2 * g
                    return total + (denominator != 0 ? g2 / denominator : 0) * max(g, 0)
                }
            } else {
                weight = g.reduce(0, +) / Float(n)
            }
            guard weight != 0 else { continue }
            for (i, value) in zip(0..<n, a) { cam[i] += weight * value }
        }
        return InputPlane(width: shape.width, height: shape.height, values: cam.map { max($0, 0) })
    }
}
