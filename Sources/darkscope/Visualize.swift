import ArgumentParser
import Darknet
import Foundation
import Microscope
import Render

struct Visualize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a channel looks for: a picture optimized to excite it (activation maximization).",
        discussion: """
            From seeded noise, gradient ascent on the input raises the mean of one channel of \
            --layer (or, with --class, a class's logit). Each step the picture is shifted, \
            scaled and rotated a little at random before the network sees it, and blurred now \
            and then, so that what grows is a pattern the channel answers wherever it lands, \
            not noise (see the man page). The same seed gives the same picture. --png writes \
            it at the network's input size; otherwise it is drawn on stdout. The value the \
            picture gives the channel goes to stderr.
            """)

    @Argument(help: "The network's .cfg file.")
    var cfg: String

    @Argument(help: "The network's .weights file.")
    var weights: String

    @Option(help: "The layer whose channel to excite (default with --class: the logits).")
    var layer: Int?

    @Option(help: "The channel of --layer.")
    var channel: Int?

    @Option(name: .customLong("class"), help: "Excite a class's logit instead: its name or index.")
    var target: String?

    @Option(help: "A class-name list, one per line (default: ImageNet's for 1000-class networks).")
    var labels: String?

    @OptionGroup var optimization: VisualizationOptions

    @Option(help: "Write the picture as a PNG (never over an existing file), instead of drawing it.")
    var png: String?

    @OptionGroup var picture: PictureOptions

    func validate() throws {
        switch (channel, target) {
        case (nil, nil): throw ValidationError("give --channel (with --layer) or --class")
        case (.some, .some): throw ValidationError("give --channel or --class, not both")
        case (.some, nil) where layer == nil: throw ValidationError("--channel needs --layer")
        case (nil, .some) where layer != nil: throw ValidationError("--class excites the logits; leave out --layer")
        default: break
        }
    }

    func run() throws {
        if let png { try Raster.refuseExisting(png) }
        var network = try Network(cfg: cfg)
        network.warnings.forEach(Output.warn)
        try network.loadWeights(path: weights)
        let featureTarget: Objective
        let described: String
        if let channel, let layer {
            featureTarget = .channelMean(layer: layer, channel: channel)
            described = "layer \(layer) channel \(channel)"
        } else {
            let names = try DataFiles.labels(path: labels, outputs: network.outputCount)
            let index = try names.classIndex(target!, classes: network.outputCount)
            featureTarget = .logit(class: index)
            described = "class \(index) (\(names[index]))'s logit"
        }
        let visualizer = FeatureVisualizer(network: network, settings: optimization.settings)
        let image = try visualizer.pictures(for: [featureTarget])[0]
        let value = try visualizer.excitation(of: [featureTarget], in: [image])[0]
        Output.note("\(described): \(value) on the picture")
        let raster = Raster(image)
        if let png { try raster.writePNG(to: png) } else { picture.draw(raster) }
    }
}

/// Activation maximization's settings, shared by `visualize` and the explorer.
struct VisualizationOptions: ParsableArguments {
    @Option(help: "Gradient ascent's steps.")
    var steps = FeatureVisualizationSettings().steps

    @Option(help: "Each step's mean change of a value (the input is in [0, 1]).")
    var rate = FeatureVisualizationSettings().rate

    @Option(help: "The largest random shift each step, in input pixels.")
    var jitter = FeatureVisualizationSettings().jitter

    @Option(help: "Seeds the starting noise and the random transforms.")
    var seed = FeatureVisualizationSettings().seed

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be at least 1") }
        guard rate > 0, rate.isFinite else { throw ValidationError("--rate must be positive") }
        guard jitter >= 0 else { throw ValidationError("--jitter must be 0 or more") }
    }

    var settings: FeatureVisualizationSettings {
        var settings = FeatureVisualizationSettings()
        settings.steps = steps
        settings.rate = rate
        settings.jitter = jitter
        settings.seed = seed
        return settings
    }
}
