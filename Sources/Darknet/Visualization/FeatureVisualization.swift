import Foundation

/// How activation maximization draws and regularizes (Lucid's "transformation robustness"
/// and Yosinski et al.'s blur). Every step the picture is jittered, scaled and rotated by a
/// small random amount before the network sees it, so that a pattern has to work wherever
/// it lands instead of exploiting single pixels; the gradient is taken back through the
/// same transform, divided by its mean magnitude (so `rate` is in image units, whatever the
/// layer), and added; every `blurEvery` steps the picture is blurred a little, which damps
/// the high frequencies a gradient ascent otherwise piles up; values stay in [0, 1].
public struct FeatureVisualizationSettings: Hashable, Sendable, Codable {
    public var steps = 96
    /// Each step's change, as the mean absolute change of a value.
    public var rate: Float = 0.02
    /// The largest shift, in input pixels, each way.
    public var jitter = 8
    /// The largest scale change, as a fraction (0.05: 0.95× to 1.05×).
    public var scale: Float = 0.05
    /// The largest rotation, in degrees, each way.
    public var rotation: Float = 5
    public var blurEvery = 4
    /// The blur's standard deviation, in input pixels.
    public var blurRadius: Float = 0.5
    /// Seeds the starting noise and the transforms.
    public var seed: UInt64 = 1

    public init() {}
}

/// Optimizes input pictures to excite an `Objective` (a channel's mean, Lucid's `channel`
/// objective, or a class's logit): activation maximization, a batch of targets at a time,
/// each with its own transforms. Only the layers up to the one
/// read run, forward and backward.
public final class FeatureVisualizer {
    public let network: Network
    public let settings: FeatureVisualizationSettings
    private let threads: Int?
    private var backpropagators: [Int: Backpropagator] = [:]

    public init(network: Network, settings: FeatureVisualizationSettings = .init(), threads: Int? = nil) {
        self.network = network
        self.settings = settings
        self.threads = threads
    }

    /// One picture per target, in order, as network input (CHW in [0, 1]). Targets must read
    /// one layer. `progress` hears each step done (of `settings.steps`) and may throw to stop.
    public func pictures(for targets: [Objective], progress: (Int) throws -> Void = { _ in }) throws -> [Image] {
        let reads = try targets.map(network.seed(of:))
        guard let layer = reads.first?.layer else { return [] }
        guard reads.allSatisfy({ $0.layer == layer }) else {
            throw DarknetError.usage("the targets of one batch must read one layer")
        }
        let backpropagator = try self.backpropagator(through: layer)
        let shape = network.input, count = shape.count, batch = targets.count
        let outputs = network.layers[layer].output.count
        var seed = [Float](repeating: 0, count: batch * outputs)
        for (b, read) in reads.enumerated() {
            for i in read.first..<(read.first + read.count) { seed[b * outputs + i] = read.value }
        }
        // Each target draws from its own generator (by its channel or class): its picture does
        // not depend on the batch.
        var randoms = reads.map { SplitMix64(seed: settings.seed &+ UInt64($0.first / $0.count) &* 0x9E37_79B9) }
        var pictures = randoms.indices.map { b in
            Image(width: shape.width, height: shape.height, channels: shape.channels,
                  values: (0..<count).map { _ in min(max(0.5 + 0.05 * randoms[b].normal(), 0), 1) })
        }
        for step in 0..<settings.steps {
            let moves = randoms.indices.map { Transform(settings, width: shape.width, height: shape.height, using: &randoms[$0]) }
            let seen = zip(pictures, moves).flatMap { $1.apply(to: $0).values }
            let forward = try backpropagator.forward(seen, batch: batch)
            let gradients = try backpropagator.backward(seeding: layer, with: seed, input: seen, forward: forward,
                                                        keepingLayerGradients: false)
            for b in 0..<batch {
                let slice = Array(gradients.input[(b * count)..<((b + 1) * count)])
                let back = moves[b].adjoint(Image(width: shape.width, height: shape.height, channels: shape.channels, values: slice))
                let magnitude = back.values.reduce(0) { $0 + abs($1) } / Float(count)
                guard magnitude > 0, magnitude.isFinite else { continue }
                let step = settings.rate / magnitude
                for i in 0..<count { pictures[b].values[i] = min(max(pictures[b].values[i] + step * back.values[i], 0), 1) }
            }
            if settings.blurEvery > 0, (step + 1) % settings.blurEvery == 0 {
                pictures = pictures.map { $0.blurred(radius: settings.blurRadius) }
            }
            try progress(step + 1)
        }
        return pictures
    }

    /// Each image's value of each target: the channel's mean, or the logit.
    public func excitation(of targets: [Objective], in images: [Image]) throws -> [Float] {
        let reads = try targets.map(network.seed(of:))
        guard let layer = reads.map(\.layer).max() else { return [] }
        let predictor = Predictor(network: network.truncated(through: layer), threads: threads)
        return try images.map { image in
            let forward = try predictor.forward(image.values, batch: 1)
            return reads.map { forward.layerOutputs[$0.layer][$0.first..<($0.first + $0.count)].reduce(0, +) / Float($0.count) }
        }.flatMap { $0 }
    }

    private func backpropagator(through layer: Int) throws -> Backpropagator {
        if let known = backpropagators[layer] { return known }
        let made = Backpropagator(network: network.truncated(through: layer), threads: threads)
        backpropagators[layer] = made
        return made
    }
}

/// A small random similarity transform about the centre: a shift, a scale and a rotation,
/// applied by sampling (bilinear, edges extended).
struct Transform {
    var dx: Float, dy: Float, scale: Float, radians: Float
    let width: Int, height: Int

    init(_ settings: FeatureVisualizationSettings, width: Int, height: Int, using random: inout SplitMix64) {
        let jitter = Float(settings.jitter)
        dx = (random.uniform(-jitter, jitter + 1)).rounded(.down)
        dy = (random.uniform(-jitter, jitter + 1)).rounded(.down)
        scale = 1 + random.uniform(-settings.scale, settings.scale)
        radians = random.uniform(-settings.rotation, settings.rotation) * .pi / 180
        self.width = width
        self.height = height
    }

    /// The picture as the network sees it: the value at each pixel is the source's at the
    /// point the inverse transform takes it to.
    func apply(to image: Image) -> Image { sample(image, inverse: true) }

    /// The gradient taken back to the picture's pixels: sampled through the forward map, an
    /// approximation of the exact adjoint that is close for transforms this small.
    func adjoint(_ gradient: Image) -> Image { sample(gradient, inverse: false) }

    private func sample(_ image: Image, inverse: Bool) -> Image {
        let cx = Float(width - 1) / 2, cy = Float(height - 1) / 2
        let s = inverse ? 1 / scale : scale, a = inverse ? -radians : radians
        let cosine = cos(a) * s, sine = sin(a) * s
        let (tx, ty) = inverse ? (-dx, -dy) : (dx, dy)
        var result = Image(width: width, height: height, channels: image.channels, filledWith: 0)
        for y in 0..<height {
            for x in 0..<width {
                // Inverse: undo the shift, then the rotation and scale; forward: the other way round.
                let (u, v) = inverse ? (Float(x) + tx - cx, Float(y) + ty - cy) : (Float(x) - cx, Float(y) - cy)
                var sx = cosine * u - sine * v + cx, sy = sine * u + cosine * v + cy
                if !inverse { sx += tx; sy += ty }
                // Clamped into the picture: its edges extended.
                sx = min(max(sx, 0), Float(width - 1))
                sy = min(max(sy, 0), Float(height - 1))
                for c in 0..<image.channels { result[x, y, c] = image.bilinear(sx, sy, channel: c) }
            }
        }
        return result
    }
}
