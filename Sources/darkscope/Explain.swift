import ArgumentParser
import Darknet
import Foundation
import Microscope
import Render

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show where in an image the network finds a class: an attribution map over the image.",
        discussion: """
            Methods and their cost in passes (forward or backward; see the man page):
              gradcam               a layer's channels weighted by mean gradient; 2 passes
              gradcam++             channels weighted by positive gradients; 2 passes
              gradient              the input gradient's magnitude; 2 passes
              gradient-x-input      the input gradient times the input; 2 passes
              smoothgrad            the gradient's magnitude over noisy copies; 2 a sample
              integrated-gradients  the gradient integrated from a baseline; 2 a step
              occlusion             the probability's drop under a grey patch; 1 a place
            The class is the top-1 unless --class names it. The map covers the original image, \
            the letterbox margins cut away; larger values mean more evidence for the class. \
            --json prints it as one object; --png writes it blended over the image at the image's size; \
            otherwise it is drawn blended on stdout.
            """)

    @Argument(help: "The network's .cfg file.")
    var cfg: String

    @Argument(help: "The network's .weights file.")
    var weights: String

    @Argument(help: "The image (JPEG or PNG).")
    var image: String

    @Option(help: "gradcam, gradcam++, gradient, gradient-x-input, smoothgrad, integrated-gradients or occlusion.")
    var method = AttributionMethod.gradCAM

    @Option(name: .customLong("class"), help: "The class: its name or index (default: the top-1).")
    var target: String?

    @Option(help: "Grad-CAM's layer (default: the last convolutional layer whose output is at least 7x7).")
    var layer: Int?

    @Option(help: "SmoothGrad's noisy copies.")
    var samples = AttributionSettings().samples

    @Option(help: "SmoothGrad's noise: its standard deviation as a fraction of the input's range.")
    var noise = AttributionSettings().noise

    @Option(help: "Integrated Gradients' steps.")
    var steps = AttributionSettings().steps

    @Option(help: "Integrated Gradients' baseline: black or blurred.")
    var baseline = AttributionSettings().baseline

    @Option(help: "Seeds SmoothGrad's noise and Integrated Gradients' points.")
    var seed = AttributionSettings().seed

    @Option(help: "Occlusion's square patch, in network input pixels.")
    var patch = AttributionSettings().patch

    @Option(help: "Occlusion's stride, in network input pixels.")
    var stride = AttributionSettings().stride

    @Option(help: "A class-name list, one per line (default: ImageNet's for 1000-class networks).")
    var labels: String?

    @Option(help: "Write the map blended over the image as a PNG of the image's size (never over an existing file), instead of drawing it.")
    var png: String?

    @Flag(help: "Print the map as one JSON object instead of drawing it.")
    var json = false

    @OptionGroup var picture: PictureOptions

    func validate() throws {
        guard samples > 0 else { throw ValidationError("--samples must be at least 1") }
        guard steps > 0 else { throw ValidationError("--steps must be at least 1") }
        guard noise >= 0, noise.isFinite else { throw ValidationError("--noise must be a fraction, 0 or more") }
        guard patch > 0, stride > 0 else { throw ValidationError("--patch and --stride must be at least 1") }
        if layer != nil, !method.readsLayer { throw ValidationError("--layer is Grad-CAM's; \(method.rawValue) maps the input") }
    }

    struct Report: Encodable {
        struct Class: Encodable {
            var index: Int
            var name: String
            var probability: Float
        }
        var method: String
        var `class`: Class
        var layer: Int?
        var rows: Int
        var cols: Int
        var map: [[Float]]

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(method, forKey: .method)
            try container.encode(`class`, forKey: .class)
            // null, not left out, for maps over the input.
            try container.encode(layer, forKey: .layer)
            try container.encode(rows, forKey: .rows)
            try container.encode(cols, forKey: .cols)
            try container.encode(map, forKey: .map)
        }

        enum CodingKeys: String, CodingKey { case method, `class`, layer, rows, cols, map }
    }

    func run() throws {
        var network = try Network(cfg: cfg)
        network.warnings.forEach(Output.warn)
        try network.loadWeights(path: weights)
        let names = try DataFiles.labels(path: labels, outputs: network.outputCount)
        let classIndex = try target.map { try names.classIndex($0, classes: network.outputCount) }
        let original = try network.originalImage(from: image)
        var settings = AttributionSettings(layer: layer)
        settings.samples = samples
        settings.noise = noise
        settings.steps = steps
        settings.baseline = baseline
        settings.seed = seed
        settings.patch = patch
        settings.stride = stride
        let map = try Attributor(network: network).map(
            AttributionRequest(method: method, classIndex: classIndex, settings: settings),
            input: original.letterboxed(width: network.input.width, height: network.input.height),
            letterbox: network.letterbox(for: original))
        if json {
            let rows = (0..<map.rows).map { Array(map.values[($0 * map.cols)..<(($0 + 1) * map.cols)]) }
            let report = Report(method: method.rawValue,
                                class: .init(index: map.classIndex, name: names[map.classIndex], probability: map.probability),
                                layer: map.layer, rows: map.rows, cols: map.cols, map: rows)
            Output.line(String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
        }
        if let png { try map.picture(over: original, colormap: picture.colormap).writePNG(to: png) }
        if !json && png == nil { picture.draw(map.picture(over: original, colormap: picture.colormap)) }
    }
}

extension AttributionMethod: ExpressibleByArgument {}
extension IntegrationBaseline: ExpressibleByArgument {}
