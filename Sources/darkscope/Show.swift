import ArgumentParser
import Darknet
import Microscope
import Foundation
import Render

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one layer's activation map for an image (the explorer's renderer, on stdout).",
        discussion: """
            With --filters, print the first convolutional layer's filters instead, as Darknet's \
            visualize draws them: each filter min-max normalised, its 3 input channels as RGB, \
            in a grid; no image is needed.
            """)

    @Argument(help: "The network's .cfg file.")
    var cfg: String

    @Argument(help: "The network's .weights file.")
    var weights: String

    @Argument(help: "The image (JPEG or PNG); not needed with --filters.")
    var image: String?

    @Option(help: "The layer to show (its index in the layer table); required without --filters.")
    var layer: Int?

    @Flag(help: "Show the first convolutional layer's filters (Darknet's visualize) instead of a layer's activations.")
    var filters = false

    @Option(help: "The channel to show.")
    var channel = 0

    @Flag(help: "Show every channel as a grid.")
    var grid = false

    @Option(help: "channel or layer: the range each channel's colours span.")
    var normalize: Normalization = .perChannel

    @OptionGroup var picture: PictureOptions

    @Option(help: "Also write the picture as a PNG file (never over an existing file).")
    var png: String?

    func validate() throws {
        if filters {
            guard layer == nil, !grid else { throw ValidationError("--filters draws the first convolutional layer's weights; it takes no --layer or --grid") }
        } else {
            guard image != nil else { throw ValidationError("Missing expected argument '<image>' (or give --filters)") }
            guard layer != nil else { throw ValidationError("Missing expected argument '--layer <layer>' (or give --filters)") }
        }
    }

    func run() throws {
        var network = try Network(cfg: cfg)
        network.warnings.forEach(Output.warn)
        try network.loadWeights(path: weights)
        let shown = try filters ? filtersPicture(network) : mapsPicture(network, image: image!, layer: layer!)
        if let png { try shown.writePNG(to: png) }
        picture.draw(shown)
    }

    /// The first convolutional layer's filters, each enlarged to about 24 pixels (a 3x3 filter:
    /// 8 pixels a weight, 2 pixels apart), padded to whole sixel bands.
    private func filtersPicture(_ network: Network) throws -> Raster {
        guard let filters = FirstLayerFilters(network) else {
            throw DarknetError.usage("--filters: \(cfg) has no convolutional layer")
        }
        return filters.grid(scale: filters.scale(toAbout: 24)).padded(toMultipleOf: 6)
    }

    private func mapsPicture(_ network: Network, image: String, layer: Int) throws -> Raster {
        guard network.layers.indices.contains(layer) else {
            throw DarknetError.usage("--layer \(layer): the network has layers 0...\(network.layers.count - 1)")
        }
        let input = try network.letterboxedInput(from: image)
        let result = try Predictor(network: network).forward(input.values)
        let maps = FeatureMaps(result, layer: layer, shape: network.layers[layer].output)
        guard grid || (0..<maps.channels).contains(channel) else {
            throw DarknetError.usage("--channel \(channel): layer \(layer) has channels 0...\(maps.channels - 1)")
        }
        let scale = max(1, 256 / max(maps.width, maps.height))
        // Padded to whole sixel bands (6 rows), so the PNG and the sixel are the same picture.
        return (grid
            ? maps.grid(channels: 0..<maps.channels, normalization: normalize, colormap: picture.colormap, scale: max(1, scale / 4))
            : maps.picture(channel: channel, normalization: normalize, colormap: picture.colormap, scale: scale)).padded(toMultipleOf: 6)
    }
}

extension Normalization: ExpressibleByArgument {}
