import Darknet
import Foundation
import Render

/// What a channel looks for, for the explorer: the picture optimized to excite one channel
/// of one layer of the network on screen (with the default settings).
package struct FeatureKey: Hashable, Sendable {
    package var network: NetworkKey
    package var layer: Int
    package var channel: Int

    package init(network: NetworkKey, layer: Int, channel: Int) {
        self.network = network
        self.layer = layer
        self.channel = channel
    }
}

/// The dataset examples of one channel: from the index of a folder for the network on screen.
package struct ExamplesKey: Hashable, Sendable {
    package var network: NetworkKey
    package var folder: String
    package var layer: Int
    package var channel: Int

    package init(network: NetworkKey, folder: String, layer: Int, channel: Int) {
        self.network = network
        self.folder = folder
        self.layer = layer
        self.channel = channel
    }
}

/// A channel's top images, each cropped to the receptive field around where it fires most;
/// or the folder's indexing under way, or why it failed.
package struct ChannelExamples: Sendable {
    package var key: ExamplesKey
    package var examples: [ChannelExample] = []
    /// `crops[i]`: examples[i]'s box of its image.
    package var crops: [Image] = []
    /// Images in the index.
    package var indexed = 0
    /// (done, to do) while the folder is being indexed.
    package var progress: (done: Int, total: Int)?
    package var error: String?

    package init(key: ExamplesKey) { self.key = key }

    package var isFinished: Bool { progress == nil && (error != nil || indexed > 0) }
}

/// Where optimized pictures are kept between runs: one PNG per network, layer, channel and
/// settings, in `Caches.folder("visualize")`, under a hash of the cfg's and weights' bytes.
package struct FeaturePictures {
    package let folder: String

    package init(network: Network, weightsPath: String?, settings: FeatureVisualizationSettings = .init(),
                 cache: String = Caches.folder("visualize")) throws {
        var hash = Fingerprint()
        try hash.add(network: network, weights: weightsPath)
        var tuning = Fingerprint()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys  // the same bytes every run
        tuning.add(try encoder.encode(settings))
        folder = ((cache as NSString).appendingPathComponent(hash.hex) as NSString).appendingPathComponent(tuning.hex)
    }

    private func path(layer: Int, channel: Int) -> String {
        (folder as NSString).appendingPathComponent("layer\(layer)-channel\(channel).png")
    }

    /// The picture kept for the channel, if any.
    package func stored(layer: Int, channel: Int) -> Image? {
        let path = path(layer: layer, channel: channel)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try? Image(contentsOf: path)
    }

    /// Keeps a picture; a failure to write only costs computing it again.
    package func store(_ image: Image, layer: Int, channel: Int) {
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = path(layer: layer, channel: channel), temporary = path + ".\(getpid()).tmp"
        guard (try? Raster(image).writePNG(to: temporary)) != nil else { return }
        if rename(temporary, path) != 0 { unlink(temporary) }
    }
}

extension ChannelExamples {
    /// Side of each crop, in pixels.
    package static let cropSize = 64

    /// The examples of `key`'s channel in `index`, with their crops read from the folder.
    package init(key: ExamplesKey, index: ChannelIndex, network: Network) {
        self.init(key: key)
        indexed = index.images.count
        examples = index.examples(layer: key.layer, channel: key.channel)
        let field = network.receptiveFields[key.layer]
        crops = examples.map { example in
            let path = (index.folder as NSString).appendingPathComponent(example.image)
            guard let box = index.box(of: example, field: field, input: network.input), !box.x.isEmpty, !box.y.isEmpty,
                  let image = try? Image(contentsOf: path) else {
                return Image(width: Self.cropSize, height: Self.cropSize, channels: 3, filledWith: 0)
            }
            var crop = Image(width: box.x.count, height: box.y.count, channels: image.channels, filledWith: 0)
            for c in 0..<image.channels {
                for y in box.y { for x in box.x { crop[x - box.x.lowerBound, y - box.y.lowerBound, c] = image[x, y, c] } }
            }
            return crop.resized(width: Self.cropSize, height: Self.cropSize)
        }
    }
}
