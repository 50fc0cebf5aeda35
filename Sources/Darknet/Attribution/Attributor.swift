/// Computes attribution maps of one network: owns a `Predictor` and a `Backpropagator`, whose
/// buffers every map reuses.
///
/// Not thread-safe: give each thread its own, and run it off the UI thread. A map takes from
/// one pass (Grad-CAM, the gradient) to hundreds (occlusion); `progress` is told after each,
/// and stops the computation by returning false.
public final class Attributor {
    public let network: Network
    let predictor: Predictor
    let backpropagator: Backpropagator

    /// `threads` defaults to the processors available.
    public init(network: Network, threads: Int? = nil) {
        self.network = network
        predictor = Predictor(network: network, threads: threads)
        backpropagator = Backpropagator(network: network, threads: threads)
    }

    /// The map `request` asks for, of `input` (the network's input: an image letterboxed as
    /// `letterbox` says). `progress` hears of every pass, from 0 of the total on; returning
    /// false stops the computation between passes, which then throws `CancellationError`.
    /// Bad requests (a class, layer or patch that does not fit) throw before any pass.
    public func map(_ request: AttributionRequest, input: Image, letterbox: Letterbox,
                    progress: (AttributionProgress) -> Bool = { _ in true }) throws -> AttributionMap {
        guard input.values.count == network.input.count, network.input.isImage else {
            throw DarknetError.usage("\(network.cfgPath): the network takes \(network.input) images; got \(input.width)x\(input.height)x\(input.channels)")
        }
        let settings = request.settings
        let layer = request.method.readsLayer ? try network.attributionLayer(settings.layer) : nil
        if request.method == .occlusion { try Self.checkPatch(settings, letterbox: letterbox) }
        return try withoutActuallyEscaping(progress) { progress in
            var tracker = Tracker(total: passes(request, letterbox: letterbox), report: progress)
            return try map(request, layer: layer, input: input, letterbox: letterbox, tracker: &tracker)
        }
    }

    private func map(_ request: AttributionRequest, layer: Int?, input: Image, letterbox: Letterbox,
                     tracker: inout Tracker) throws -> AttributionMap {
        let settings = request.settings
        try tracker.advance(by: 0)
        // Gradients go back through the pass Darknet's sums give (the backpropagator's):
        // Winograd's rounding breaks a maxpool's ties elsewhere, moving the gradient by up to
        // a tenth of its largest value. Occlusion's patches start from the predictor's pass.
        let forward = try request.method == .occlusion ? predictor.forward(input.values) : backpropagator.forward(input.values)
        try tracker.advance()
        let probabilities = forward.prediction()
        let classIndex = request.classIndex ?? probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
        guard probabilities.indices.contains(classIndex) else {
            throw DarknetError.usage("class \(classIndex) does not exist; the network has classes 0...\(probabilities.count - 1)")
        }
        let probability = probabilities[probabilities.startIndex + classIndex]
        let plane: InputPlane
        var cellSize: Double?
        switch request.method {
        case .gradCAM, .gradCAMPlusPlus:
            plane = try gradCAM(layer: layer!, plusPlus: request.method == .gradCAMPlusPlus, classIndex: classIndex,
                                input: input, forward: forward)
            try tracker.advance()
        case .gradient, .gradientTimesInput, .smoothGrad, .integratedGradients:
            plane = try saliency(request.method, settings: settings, classIndex: classIndex, input: input,
                                 forward: forward, tracker: &tracker)
        case .occlusion:
            plane = try occlusion(settings: settings, classIndex: classIndex, probability: probability, input: input,
                                  forward: forward, letterbox: letterbox, tracker: &tracker)
            cellSize = Double(settings.stride)
        }
        let (rows, cols, values) = plane.covering(letterbox, cellSize: cellSize)
        return AttributionMap(request: request, classIndex: classIndex, layer: layer, probability: probability,
                              rows: rows, cols: cols, values: values)
    }

    /// The passes a request takes, the forward pass of the image included.
    public func passes(_ request: AttributionRequest, letterbox: Letterbox) -> Int {
        let settings = request.settings
        return switch request.method {
        case .gradCAM, .gradCAMPlusPlus, .gradient, .gradientTimesInput: 2
        case .smoothGrad: 1 + max(settings.samples, 1)
        case .integratedGradients: 1 + max(settings.steps, 1)
        case .occlusion: 1 + Self.patchPositions(settings, letterbox: letterbox).count
        }
    }

    /// Counts passes for `progress` and stops when it says so.
    struct Tracker {
        var completed = 0
        let total: Int
        let report: (AttributionProgress) -> Bool

        init(total: Int, report: @escaping (AttributionProgress) -> Bool) {
            self.total = total
            self.report = report
        }

        mutating func advance(by passes: Int = 1) throws {
            completed += passes
            guard report(AttributionProgress(completed: min(completed, total), total: total)) else { throw CancellationError() }
        }
    }
}

extension Network {
    /// Grad-CAM's layer: `layer` when given and it has width and height beyond 1x1, else by
    /// default the last convolutional layer whose output is at least 7x7 (or, without one,
    /// the last with an output beyond 1x1).
    public func attributionLayer(_ layer: Int? = nil) throws -> Int {
        let spatial = layers.indices.filter { layers[$0].output.isImage && layers[$0].output.spatial > 1 }
        let fallback = layers.indices.last { layers[$0] is Convolutional && layers[$0].output.width >= 7 && layers[$0].output.height >= 7 }
            ?? spatial.last
        guard let layer else {
            guard let fallback else {
                throw DarknetError.usage("\(cfgPath): no layer has an output with width and height to map")
            }
            return fallback
        }
        guard layers.indices.contains(layer) else {
            throw DarknetError.usage("layer \(layer) does not exist; the network has layers 0...\(layers.count - 1)")
        }
        guard spatial.contains(layer) else {
            throw DarknetError.noSpatialExtent(layer: layer, output: layers[layer].output, suggestion: fallback)
        }
        return layer
    }
}
