import Foundation

/// AlexeyAB's `[shortcut]` of several `from` layers, or with `weights_type` (its
/// `shortcut_multilayer_cpu`): the previous layer's output plus each earlier one's, value by
/// value (an earlier layer with fewer values adds to the first of them), each times a learnt
/// weight when there are weights, then activated. `alpha` and `beta` are pjreddie's, not read here.
public struct MultilayerShortcut: Layer {
    public static let sectionName = "shortcut"
    public let input: Shape
    public var output: Shape { input }
    /// Absolute indices of the layers added, in `from` order.
    public let from: [Int]
    public let fromShapes: [Shape]
    public let weighting: Weighting
    public let normalization: Normalization
    public let activation: Activation
    public private(set) var parameters: [Float] = []

    /// Which weights multiply the inputs: none, one per input (`per_feature`, also spelled
    /// `per_layer`), or one per input and channel (`per_channel`).
    public enum Weighting: String, Sendable { case none, perFeature = "per_feature", perChannel = "per_channel" }
    /// How the weights of one position are made to sum to about 1 (`weights_normalization`).
    public enum Normalization: String, Sendable { case none, relu, softmax }

    /// Whether a `[shortcut]` section is this layer rather than pjreddie's `Shortcut`.
    static func describes(_ section: inout CfgSection) -> Bool {
        section.string("from", default: "").contains(",") || section.string("weights_type", default: "none") != "none"
    }

    init(_ section: inout CfgSection, index: Int, input: Shape, earlier: [Shape]) throws {
        guard let from = try section.earlierLayers("from", index: index) else {
            throw section.error("[shortcut] needs from=, the earlier layers it adds")
        }
        self.from = from
        let line = section.line(of: "from")
        fromShapes = from.map { earlier[$0] }
        guard input.isImage else { throw section.error("[shortcut] needs an image as input") }
        for (layer, shape) in zip(from, fromShapes) where shape.width != input.width || shape.height != input.height {
            throw section.error("[shortcut] of several layers or with weights adds layer \(layer)'s \(shape) to \(input): AlexeyAB's needs the same width and height", line: line)
        }
        let type = section.string("weights_type", default: "none")
        guard let weighting = Weighting(rawValue: type == "per_layer" ? "per_feature" : type) else {
            throw section.error("[shortcut] weights_type=\(excerpt(type)): expected none, per_feature or per_channel", line: section.line(of: "weights_type"))
        }
        let name = section.string("weights_normalization", default: "none")
        guard let normalization = Normalization(rawValue: name == "avg_relu" ? "relu" : name) else {
            throw section.error("[shortcut] weights_normalization=\(excerpt(name)): expected none, relu or softmax", line: section.line(of: "weights_normalization"))
        }
        self.weighting = weighting
        self.normalization = weighting == .none ? .none : normalization
        activation = try section.activation(default: "linear")
        self.input = input
    }

    public var earlierInputs: [Int] { from }
    public var outputActivation: Activation? { activation }
    /// Darknet trains the weights; darkscope does not yet.
    public var trains: Bool { false }

    /// AlexeyAB's `load_shortcut_weights`: the weights alone, input after input (the previous
    /// layer's first), each input's channels in order for `per_channel`.
    public var parameterBlocks: [ParameterBlock] {
        let count = switch weighting {
        case .none: 0
        case .perFeature: from.count + 1
        case .perChannel: (from.count + 1) * input.channels
        }
        return count == 0 ? [] : [ParameterBlock(kind: .weights(fanIn: from.count + 1), count: count)]
    }

    public mutating func load(_ parameters: [Float], transposed: Bool) { self.parameters = parameters }

    public var tableEntry: String {
        let weights = weighting == .none ? "" : " \(weighting.rawValue)" + (normalization == .none ? "" : " \(normalization.rawValue)")
        return String(format: "res  %@%@   %4d x%4d x%4d   ->  %4d x%4d x%4d", from.map(String.init).joined(separator: ","), weights,
                      input.width, input.height, input.channels, output.width, output.height, output.channels)
    }

    /// The weight of input `k` (0 the previous layer, then `from`'s) for channel `c`, normalized
    /// in float as AlexeyAB's inference normalizes them when it loads a network
    /// (`fuse_conv_batchnorm`): R(w) / (ε + Σ R) with R(w) = max(w, 0.001) (its training
    /// pass's floor is 0), or exp(w − max) / (ε + Σ exp(w − max)); ε = 0.0001.
    private func weights() -> [[Float]] {
        let inputs = from.count + 1, channels = weighting == .perChannel ? input.channels : 1
        return (0..<inputs).map { k in
            (0..<channels).map { c in
                let raw = (0..<inputs).map { parameters[$0 * channels + c] }
                switch normalization {
                case .none: return raw[k]
                case .relu: return max(raw[k], 0.001) / raw.reduce(Float(0.0001)) { $0 + max($1, 0.001) }
                case .softmax:
                    let largest = raw.max()!
                    return expf(raw[k] - largest) / raw.reduce(Float(0.0001)) { $0 + expf($1 - largest) }
                }
            }
        }
    }

    public func forward(_ context: ForwardContext) {
        let weights = weighting == .none ? nil : weights()
        let count = output.count, spatial = output.spatial
        for b in 0..<context.batch {
            let out = context.output + b * count, previous = context.input + b * count
            for c in 0..<output.channels {
                let plane = out + c * spatial, own = previous + c * spatial
                if let weights {
                    let w = weights[0][weighting == .perChannel ? c : 0]
                    for i in 0..<spatial { plane[i] = own[i] * w }
                } else {
                    plane.update(from: own, count: spatial)
                }
                for (k, shape) in fromShapes.enumerated() where c < shape.channels {
                    let add = context.layerOutputs[from[k]] + b * shape.count + c * spatial
                    if let weights {
                        let w = weights[k + 1][weighting == .perChannel ? c : 0]
                        for i in 0..<spatial { plane[i] += add[i] * w }
                    } else {
                        for i in 0..<spatial { plane[i] += add[i] }
                    }
                }
            }
            context.activate(activation, out, count: count)
        }
    }

    /// Through the activation, then to each input times its weight (AlexeyAB's
    /// `backward_shortcut_multilayer_cpu`, for the inputs).
    public func backward(_ context: BackwardContext) {
        let weights = weighting == .none ? nil : weights()
        let count = output.count, spatial = output.spatial
        for b in 0..<context.batch {
            for i in 0..<count {
                let at = b * count + i, c = i / spatial
                let g = context.outputGradient[at] * context.slope(activation, at: at)
                let channel = weighting == .perChannel ? c : 0
                context.inputGradient[at] += g * (weights?[0][channel] ?? 1)
                for (k, shape) in fromShapes.enumerated() where c < shape.channels {
                    context.layerGradients[from[k]][b * shape.count + i] += g * (weights?[k + 1][channel] ?? 1)
                }
            }
        }
    }
}
