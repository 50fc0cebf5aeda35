import Foundation

extension Attributor {
    /// Maps from the input gradient of the class's logit, at the input's resolution.
    func saliency(_ method: AttributionMethod, settings: AttributionSettings, classIndex: Int, input: Image,
                  forward: ForwardResult, tracker: inout Tracker) throws -> InputPlane {
        let objective = Objective.logit(class: classIndex)
        let x = input.values
        let plane: [Float]
        switch method {
        case .gradient:
            plane = largestMagnitude(try backpropagator.backward(objective, input: x, forward: forward, keepingLayerGradients: false).input)
            try tracker.advance()
        case .gradientTimesInput:
            let g = try backpropagator.backward(objective, input: x, forward: forward, keepingLayerGradients: false).input
            plane = channelSum(zip(g, x).map { $0 * $1 })
            try tracker.advance()
        case .smoothGrad:
            // Noise scaled to the input's range, as Smilkov et al. give it.
            let sigma = settings.noise * ((x.max() ?? 0) - (x.min() ?? 0))
            var random = SplitMix64(seed: settings.seed)
            var sum = [Float](repeating: 0, count: input.width * input.height)
            let samples = max(settings.samples, 1)
            for _ in 0..<samples {
                let noisy = x.map { $0 + sigma * random.normal() }
                for (i, value) in largestMagnitude(try inputGradient(objective, of: noisy)).enumerated() { sum[i] += value }
                try tracker.advance()
            }
            plane = sum.map { $0 / Float(samples) }
        case .integratedGradients:
            let baseline = settings.baseline == .black
                ? [Float](repeating: 0, count: x.count) : input.blurred(radius: settings.blurRadius).values
            let difference = zip(x, baseline).map { $0 - $1 }
            var random = SplitMix64(seed: settings.seed)
            let steps = max(settings.steps, 1)
            var mean = [Float](repeating: 0, count: x.count)
            // A point drawn in each of the path's `steps` equal parts: a stratified Riemann sum.
            for step in 0..<steps {
                let alpha = (Float(step) + random.uniform(0, 1)) / Float(steps)
                let point = zip(baseline, difference).map { $0 + alpha * $1 }
                for (i, value) in try inputGradient(objective, of: point).enumerated() { mean[i] += value / Float(steps) }
                try tracker.advance()
            }
            plane = channelSum(zip(mean, difference).map { $0 * $1 })
        default:
            preconditionFailure("\(method) is not a saliency method")
        }
        return InputPlane(width: input.width, height: input.height, values: plane)
    }

    /// The gradient of `objective` with respect to the input `values`: a forward and a backward pass.
    private func inputGradient(_ objective: Objective, of values: [Float]) throws -> [Float] {
        let forward = try backpropagator.forward(values)
        return try backpropagator.backward(objective, input: values, forward: forward, keepingLayerGradients: false).input
    }

    private var pixels: Int { network.input.spatial }

    /// Per pixel, the largest magnitude over the channels.
    private func largestMagnitude(_ values: [Float]) -> [Float] {
        (0..<pixels).map { i in stride(from: i, to: values.count, by: pixels).reduce(0) { max($0, abs(values[$1])) } }
    }

    /// Per pixel, the sum over the channels.
    private func channelSum(_ values: [Float]) -> [Float] {
        (0..<pixels).map { i in stride(from: i, to: values.count, by: pixels).reduce(0) { $0 + values[$1] } }
    }
}

extension Image {
    /// A Gaussian blur of standard deviation `radius` pixels, the edges extended.
    func blurred(radius: Float) -> Image {
        guard radius > 0 else { return self }
        let reach = Int((3 * radius).rounded(.up))
        let raw = (-reach...reach).map { exp(-Float($0 * $0) / (2 * radius * radius)) }
        let total = raw.reduce(0, +)
        let kernel = raw.map { $0 / total }
        var across = self, result = self
        for c in 0..<channels {
            for y in 0..<height {
                for x in 0..<width {
                    across[x, y, c] = zip(-reach...reach, kernel).reduce(0) { $0 + $1.1 * self[min(max(x + $1.0, 0), width - 1), y, c] }
                }
            }
            for y in 0..<height {
                for x in 0..<width {
                    result[x, y, c] = zip(-reach...reach, kernel).reduce(0) { $0 + $1.1 * across[x, min(max(y + $1.0, 0), height - 1), c] }
                }
            }
        }
        return result
    }
}
