import Darknet
import Foundation

/// A second forward pass of our layers, in double and in plain loops, for finite differences:
/// written from Darknet's definitions, it shares no code with the core but `Activation`'s
/// double form. One image.
struct ReferenceForward {
    let network: Network

    /// Every layer's output for `input`; `outputs` may already hold the layers before `start`,
    /// whose values are then taken as given (a perturbed layer's included).
    func run(_ input: [Double], from start: Int = 0, outputs: inout [[Double]], through last: Int? = nil) {
        if outputs.count < network.layers.count { outputs = Array(repeating: [], count: network.layers.count) }
        for index in start...(last ?? network.layers.count - 1) {
            let x = index == 0 ? input : outputs[index - 1]
            outputs[index] = forward(network.layers[index], x, outputs)
        }
    }

    private func forward(_ layer: any Layer, _ x: [Double], _ outputs: [[Double]]) -> [Double] {
        switch layer {
        case let l as Convolutional: convolutional(l, x)
        case let l as Connected: connected(l, x)
        case let l as MaxPool: maxpool(l, x)
        case let l as AvgPool: avgpool(l, x)
        case let l as Softmax: softmax(l, x)
        case let l as Route: l.sources.flatMap { outputs[$0] }
        case let l as Shortcut: shortcut(l, x, outputs[l.from])
        case let l as MultilayerShortcut: multilayerShortcut(l, x, l.from.map { outputs[$0] })
        case let l as Antialiased: blur(l, forward(l.host, x, outputs))
        case let l as SpatialAttention: zip(x, outputs[l.from]).map { l.activation($0 * $1) }
        case let l as Crop: crop(l, x)
        case is Dropout, is Cost: x
        default: fatalError("no reference for \(layer.sectionName)")
        }
    }

    /// Each parameter block of a layer, by kind.
    private func blocks(_ layer: any Layer) -> [String: ArraySlice<Float>] {
        var offset = 0, result: [String: ArraySlice<Float>] = [:]
        for block in layer.parameterBlocks {
            let name = switch block.kind {
            case .biases: "biases"
            case .scales: "scales"
            case .rollingMean: "mean"
            case .rollingVariance: "variance"
            case .weights: "weights"
            }
            result[name] = layer.parameters[offset..<(offset + block.count)]
            offset += block.count
        }
        return result
    }

    /// Test-time batch norm or the bias, then the activation, on `sums` (channel after channel).
    private func finish(_ sums: inout [Double], _ layer: any Layer, channels: Int, batchNormalize: Bool, activation: Activation) {
        let p = blocks(layer), per = sums.count / channels
        let biases = Array(p["biases"]!)
        for c in 0..<channels {
            for i in (c * per)..<((c + 1) * per) {
                var v = sums[i]
                if batchNormalize {
                    let mean = Double(p["mean"]![p["mean"]!.startIndex + c]), variance = Double(p["variance"]![p["variance"]!.startIndex + c])
                    v = (v - mean) / (variance.squareRoot() + Double(Float(0.000001))) * Double(p["scales"]![p["scales"]!.startIndex + c])
                }
                sums[i] = activation(v + Double(biases[c]))
            }
        }
    }

    private func convolutional(_ l: Convolutional, _ x: [Double]) -> [Double] {
        let weights = Array(blocks(l)["weights"]!)
        let m = l.filters / l.groups, channels = l.input.channels / l.groups, k = channels * l.size * l.size
        let (h, w, oh, ow) = (l.input.height, l.input.width, l.output.height, l.output.width)
        var out = [Double](repeating: 0, count: l.output.count)
        for g in 0..<l.groups {
            let image = g * channels * h * w
            for f in 0..<m {
                let filter = (g * m + f) * k
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var sum = 0.0
                        if l.size == 1 && l.strideX == l.strideY {
                            // Darknet multiplies a 1×1 convolution's input as a k × (oh·ow) matrix.
                            for r in 0..<k { sum += Double(weights[filter + r]) * x[image + r * oh * ow + oy * ow + ox] }
                        } else {
                            for c in 0..<channels {
                                for dy in 0..<l.size {
                                    for dx in 0..<l.size {
                                        let iy = oy * l.strideY + (dy - l.padding) * l.dilation, ix = ox * l.strideX + (dx - l.padding) * l.dilation
                                        guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                        sum += Double(weights[filter + (c * l.size + dy) * l.size + dx]) * x[image + (c * h + iy) * w + ix]
                                    }
                                }
                            }
                        }
                        out[((g * m + f) * oh + oy) * ow + ox] = sum
                    }
                }
            }
        }
        finish(&out, l, channels: l.filters, batchNormalize: l.batchNormalize, activation: l.activation)
        if let normalization = l.channelNormalization {
            // AlexeyAB's, across the channels at each position: ReLU or exp over their sum + 0.0001.
            let spatial = oh * ow
            for i in 0..<spatial {
                let values = (0..<l.filters).map { out[$0 * spatial + i] }
                let largest = normalization == .softmaxFromMaximum ? values.max()! : 0
                let mapped = values.map { normalization == .relu ? max($0, 0) : exp($0 - largest) }
                let sum = mapped.reduce(0.0001, +)
                for k in 0..<l.filters { out[k * spatial + i] = mapped[k] / sum }
            }
        }
        return out
    }

    private func connected(_ l: Connected, _ x: [Double]) -> [Double] {
        let weights = Array(blocks(l)["weights"]!), inputs = l.input.count
        var out = (0..<l.output.count).map { o in (0..<inputs).reduce(0.0) { $0 + Double(weights[o * inputs + $1]) * x[$1] } }
        finish(&out, l, channels: l.output.count, batchNormalize: l.batchNormalize, activation: l.activation)
        return out
    }

    private func maxpool(_ l: MaxPool, _ x: [Double]) -> [Double] {
        let (h, w, oh, ow) = (l.input.height, l.input.width, l.output.height, l.output.width)
        var out = [Double](repeating: 0, count: l.output.count)
        if l.acrossChannels {
            // AlexeyAB's maxpool_depth: output channel g, the largest of channels g, g + C', g + 2C', …
            let spatial = l.input.spatial
            for i in 0..<l.output.count {
                let (g, at) = i.quotientAndRemainder(dividingBy: spatial)
                out[i] = Swift.stride(from: g, to: l.input.channels, by: l.output.channels).map { x[$0 * spatial + at] }.max()!
            }
            return out
        }
        for c in 0..<l.input.channels {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var largest = -Double.greatestFiniteMagnitude
                    for dy in 0..<l.size {
                        for dx in 0..<l.size {
                            let iy = oy * l.strideY - l.padding / 2 + dy, ix = ox * l.strideX - l.padding / 2 + dx
                            if iy >= 0, iy < h, ix >= 0, ix < w { largest = max(largest, x[(c * h + iy) * w + ix]) }
                        }
                    }
                    out[(c * oh + oy) * ow + ox] = largest
                }
            }
        }
        return out
    }

    private func avgpool(_ l: AvgPool, _ x: [Double]) -> [Double] {
        let spatial = l.input.spatial
        return (0..<l.input.channels).map { c in x[(c * spatial)..<((c + 1) * spatial)].reduce(0, +) / Double(spatial) }
    }

    private func softmax(_ l: Softmax, _ x: [Double]) -> [Double] {
        let n = x.count / l.groups, t = Double(l.temperature)
        return (0..<l.groups).flatMap { g -> [Double] in
            let slice = x[(g * n)..<((g + 1) * n)], largest = slice.max()!
            let e = slice.map { exp($0 / t - largest / t) }, sum = e.reduce(0, +)
            return e.map { $0 / sum }
        }
    }

    private func shortcut(_ l: Shortcut, _ previous: [Double], _ add: [Double]) -> [Double] {
        var out = previous
        let o = l.output, f = l.fromShape
        let stride = max(f.width / o.width, 1), sample = max(o.width / f.width, 1)
        for c in 0..<min(f.channels, o.channels) {
            for y in 0..<min(f.height, o.height) {
                for x in 0..<min(f.width, o.width) {
                    let i = (c * o.height + y * sample) * o.width + x * sample
                    out[i] = Double(l.alpha) * out[i] + Double(l.beta) * add[(c * f.height + y * stride) * f.width + x * stride]
                }
            }
        }
        return out.map { l.activation($0) }
    }

    /// AlexeyAB's antialiasing blur, each channel on its own, zeros outside.
    private func blur(_ l: Antialiased, _ x: [Double]) -> [Double] {
        let inner = l.host.output, b = l.blur
        let weights: [[Double]] = b.size == 2 ? [[0.25, 0.25], [0.25, 0.25]] : [[1, 2, 1], [2, 4, 2], [1, 2, 1]].map { $0.map { $0 / 16 } }
        var out: [Double] = []
        for c in 0..<inner.channels {
            for y in 0..<l.output.height {
                for xx in 0..<l.output.width {
                    var sum = 0.0
                    for dy in 0..<b.size {
                        for dx in 0..<b.size {
                            let iy = y * b.strideY - b.padding + dy, ix = xx * b.strideX - b.padding + dx
                            if iy >= 0, iy < inner.height, ix >= 0, ix < inner.width { sum += weights[dy][dx] * x[(c * inner.height + iy) * inner.width + ix] }
                        }
                    }
                    out.append(sum)
                }
            }
        }
        return out
    }

    /// AlexeyAB's inference: each input times its weight (normalized over the inputs at that channel),
    /// an earlier layer with fewer channels adding to the first ones.
    private func multilayerShortcut(_ l: MultilayerShortcut, _ previous: [Double], _ adds: [[Double]]) -> [Double] {
        let inputs = adds.count + 1, spatial = l.output.spatial
        let perChannel = l.weighting == .perChannel, channels = perChannel ? l.output.channels : 1
        func weight(_ k: Int, _ c: Int) -> Double {
            guard l.weighting != .none else { return 1 }
            let raw = (0..<inputs).map { Double(l.parameters[$0 * channels + (perChannel ? c : 0)]) }
            switch l.normalization {
            case .none: return raw[k]
            case .relu: return max(raw[k], 0.001) / raw.reduce(0.0001) { $0 + max($1, 0.001) }
            case .softmax:
                let top = raw.max()!
                return exp(raw[k] - top) / raw.reduce(0.0001) { $0 + exp($1 - top) }
            }
        }
        return previous.indices.map { i in
            let c = i / spatial
            var v = previous[i] * weight(0, c)
            for (k, add) in adds.enumerated() where i < add.count { v += add[i] * weight(k + 1, c) }
            return l.activation(v)
        }
    }

    private func crop(_ l: Crop, _ x: [Double]) -> [Double] {
        let top = (l.input.height - l.output.height) / 2, left = (l.input.width - l.output.width) / 2
        var out: [Double] = []
        for c in 0..<l.input.channels {
            for y in 0..<l.output.height {
                for xx in 0..<l.output.width {
                    out.append(x[(c * l.input.height + y + top) * l.input.width + left + xx] * Double(l.scale) + Double(l.shift))
                }
            }
        }
        return out
    }
}
