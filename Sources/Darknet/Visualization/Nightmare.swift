import Foundation

/// Darknet's `nightmare` (its deep dream), with its options and defaults
/// (pjreddie's `examples/nightmare.c`).
public struct NightmareSettings: Hashable, Sendable {
    /// Each iteration reads a layer drawn from `range` layers around the one given.
    public var range = 1
    /// Normalize each step's change to mean 0, deviation 1 (`-norm`).
    public var normalize = true
    public var rounds = 1
    public var iterations = 10
    /// Each iteration runs at a scale of 1 / 1.33333333^k, k drawn below `octaves`.
    public var octaves = 4
    /// After each round the picture's centre, `zoom` of each side, is scaled back up.
    public var zoom: Float = 1
    public var rate: Float = 0.04
    /// Only outputs above the mean by `threshold` standard deviations are strengthened.
    public var threshold: Float = 1
    /// After each round the picture turns by `rotate` radians (Darknet passes the option to
    /// `rotate_image` as it is).
    public var rotate: Float = 0
    /// Seeds C's `rand()`; Darknet's is always 0.
    public var seed: UInt32 = 0

    public init() {}
}

/// Darknet's nightmare on a picture at its own size: each iteration shifts it by up to 8
/// pixels, scales it by an octave and maybe mirrors it, runs the network to the layer, and
/// strengthens that layer's strongest outputs: the gradient of half their sum of squares
/// taken back to the picture, pulled a tenth towards grey, normalized, added at `rate`.
/// The draws are C's `rand()` after `srand(seed)` (Darknet's seed is 0), in Darknet's order.
///
/// One departure: the gradient is the network's own at test time. Darknet's
/// `backward_network` runs batch norm's training backward even here, with the rolling
/// statistics in place of a batch's, which is not the gradient of the function the forward
/// pass computed.
public final class Nightmare {
    public let network: Network
    public let layer: Int
    public let settings: NightmareSettings
    private let threads: Int?
    /// By input size and layer: Darknet's `resize_network` once per octave, not per iteration.
    private var backpropagators: [String: Backpropagator] = [:]

    public init(network: Network, layer: Int, settings: NightmareSettings = .init(), threads: Int? = nil) throws {
        guard network.layers.indices.contains(layer) else {
            throw DarknetError.usage("layer \(layer) does not exist; the network has layers 0...\(network.layers.count - 1)")
        }
        guard settings.range >= 1, settings.octaves >= 1, settings.rounds >= 1, settings.iterations >= 1 else {
            throw DarknetError.usage("nightmare's range, octaves, rounds and iterations must each be at least 1")
        }
        // A range longer than the network leaves it whatever the layer (and could overflow the sum).
        let read = settings.range <= network.layers.count ? Self.layersRead(around: layer, range: settings.range) : nil
        guard let read, read.lowerBound >= 0, read.upperBound < network.layers.count else {
            throw DarknetError.usage("a range of \(settings.range) layers around layer \(layer) leaves the network's layers 0...\(network.layers.count - 1)")
        }
        self.network = network
        self.layer = layer
        self.settings = settings
        self.threads = threads
    }

    /// Dreams on `image`; `finished` hears each round's picture (to save it), before the
    /// round's rotation and zoom.
    public func dream(_ image: Image, finished: (_ round: Int, _ picture: Image) throws -> Void) throws {
        // The smallest octave's picture must still pass through the deepest layer read: refused
        // before any work, rather than when an iteration first draws that octave.
        let smallest = Self.scale(octave: settings.octaves - 1), deepest = Self.layersRead(around: layer, range: settings.range).upperBound
        let width = Int(Float(image.width) * smallest), height = Int(Float(image.height) * smallest)
        do {
            _ = try network.resized(width: width, height: height, through: deepest)
        } catch {
            throw DarknetError.usage("\(settings.octaves) octaves scale the \(image.width)×\(image.height) image down to \(width)×\(height), "
                                     + "too small for layers 0...\(deepest) of the network: \(error)")
        }
        srand(settings.seed)
        var picture = image
        for round in 0..<settings.rounds {
            for _ in 0..<settings.iterations {
                let read = layer + Int(rand()) % settings.range - settings.range / 2
                let octave = Int(rand()) % settings.octaves
                try optimize(&picture, layer: read, scale: Self.scale(octave: octave))
            }
            try finished(round, picture)
            if settings.rotate != 0 { picture = picture.rotated(radians: settings.rotate) }
            let w = Float(picture.width), h = Float(picture.height)
            picture = picture.cropped(left: Int(w * (1 - settings.zoom) / 2), top: Int(h * (1 - settings.zoom) / 2),
                                      width: Int(w * settings.zoom), height: Int(h * settings.zoom))
                .resized(width: picture.width, height: picture.height)
        }
    }

    private func optimize(_ picture: inout Image, layer: Int, scale: Float) throws {
        let dx = Int(rand()) % 16 - 8, dy = Int(rand()) % 16 - 8
        let flip = rand() % 2 != 0
        var seen = picture.cropped(left: dx, top: dy, width: picture.width, height: picture.height)
            .resized(width: Int(Float(picture.width) * scale), height: Int(Float(picture.height) * scale))
        if flip { seen.flip() }
        let backpropagator = try self.backpropagator(width: seen.width, height: seen.height, layer: layer)
        let forward = try backpropagator.forward(seen.values)
        let output = forward.layerOutputs[layer]
        let mean = output.reduce(0, +) / Float(output.count)
        let variance = output.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(output.count)
        let bar = mean + settings.threshold * variance.squareRoot()
        let seed = output.map { $0 > bar ? $0 : 0 }
        let gradient = try backpropagator.backward(seeding: layer, with: seed, input: seen.values, forward: forward,
                                                   keepingLayerGradients: false)
        var delta = Image(width: seen.width, height: seen.height, channels: seen.channels, values: gradient.input)
        if flip { delta.flip() }
        var change = delta.resized(width: picture.width, height: picture.height)
            .cropped(left: -dx, top: -dy, width: picture.width, height: picture.height).values
        for i in change.indices { change[i] += 0.1 * (0.5 - picture.values[i]) }
        if settings.normalize { Self.normalize(&change) }
        for i in change.indices { picture.values[i] = min(max(picture.values[i] + settings.rate * change[i], 0), 1) }
    }

    /// The layers an iteration may read: `range` of them around `layer`, as Darknet draws them.
    private static func layersRead(around layer: Int, range: Int) -> ClosedRange<Int> {
        (layer - range / 2)...(layer + (range - 1) - range / 2)
    }

    /// Octave k's scale: 1 / 1.33333333^k, as Darknet's nightmare computes it.
    private static func scale(octave: Int) -> Float { 1 / Float(pow(1.33333333, Double(octave))) }

    /// Darknet's `normalize_array`: to mean 0 and standard deviation 1.
    private static func normalize(_ values: inout [Float]) {
        let n = Float(values.count)
        let mean = values.reduce(0, +) / n
        let deviation = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n).squareRoot()
        guard deviation > 0 else { return }
        for i in values.indices { values[i] = (values[i] - mean) / deviation }
    }

    private func backpropagator(width: Int, height: Int, layer: Int) throws -> Backpropagator {
        let key = "\(width)x\(height)@\(layer)"
        if let known = backpropagators[key] { return known }
        let made = Backpropagator(network: try network.resized(width: width, height: height, through: layer), threads: threads)
        backpropagators[key] = made
        return made
    }
}
