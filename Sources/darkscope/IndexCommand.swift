import ArgumentParser
import Darknet
import Foundation
import Microscope

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Find, for every channel of every layer, the images of a folder that excite it most.",
        discussion: """
            Runs every JPEG and PNG in DIR and its folders through the network once and records, \
            for each channel of each layer, the 9 images where the channel's largest value is \
            highest, and where in each it fires (with the receptive field around that place, in \
            the image's pixels). The index and each image's channel maxima are kept in the cache \
            (--cache): a later run reads every image whose size and modification time are \
            unchanged from there and runs the network only on new or changed ones. Prints what it \
            did, and with --layer the channels' top images; --json prints it as one object.
            """)

    @Argument(help: "The folder of images.")
    var folder: String

    @Argument(help: "The network's .cfg file.")
    var cfg: String

    @Argument(help: "The network's .weights file (default: random weights, seed 1).")
    var weights: String?

    @Option(help: "Print this layer's channels' top images.")
    var layer: Int?

    @Option(help: "Only this channel of --layer.")
    var channel: Int?

    @Option(help: "The cache folder (default: $XDG_CACHE_HOME/darkscope/index or ~/.cache/darkscope/index).")
    var cache: String?

    @Flag(help: "Print one JSON object: the run, and the top images of --layer's channels (of every layer without --layer).")
    var json = false

    func validate() throws {
        if channel != nil && layer == nil { throw ValidationError("--channel needs --layer") }
    }

    struct Report: Encodable {
        struct Example: Encodable {
            var image: String
            var value: Float
            var x: Int
            var y: Int
            /// Left, top, right, bottom in the image's pixels.
            var box: [Int]
        }
        struct Channel: Encodable {
            var channel: Int
            var examples: [Example]
        }
        struct Layer: Encodable {
            var layer: Int
            var channels: [Channel]
        }
        var folder: String
        var index: String
        var images: Int
        var processed: [String]
        var reused: Int
        var failed: [[String: String]]
        var layers: [Layer]
    }

    func run() throws {
        var network = try Network(cfg: cfg)
        network.warnings.forEach(Output.warn)
        if let weights { try network.loadWeights(path: weights) } else { try network.randomize(seed: 1) }
        if let layer {
            guard network.layers.indices.contains(layer) else {
                throw DarknetError.usage("layer \(layer) does not exist; the network has layers 0...\(network.layers.count - 1)")
            }
            let shape = network.layers[layer].output, channels = shape.isImage ? shape.channels : shape.count
            if let channel, !(0..<channels).contains(channel) {
                throw DarknetError.usage("layer \(layer) has channels 0...\(channels - 1), not \(channel)")
            }
        }
        let indexer = try ChannelIndexer(network: network, weights: weights, folder: folder, cache: cache ?? Caches.folder("index"))
        var progress: Progress?
        let update = try indexer.update { done, total in
            if progress == nil { progress = Progress(total: total, bar: true) }
            progress?.show(done)
        }
        progress?.clear()
        for (path, reason) in update.failed { Output.warn("\(path): skipped: \(reason)") }
        let index = update.index, fields = network.receptiveFields
        let layers = layer.map { [$0] } ?? Array(network.layers.indices)
        func examples(_ layer: Int, _ channel: Int) -> [Report.Example] {
            index.examples(layer: layer, channel: channel).map { example in
                let box = index.box(of: example, field: fields[layer], input: network.input)
                return Report.Example(image: example.image, value: example.value, x: example.x, y: example.y,
                                      box: box.map { [$0.x.lowerBound, $0.y.lowerBound, $0.x.upperBound, $0.y.upperBound] } ?? [])
            }
        }
        func channels(_ layer: Int) -> [Int] { channel.map { [$0] } ?? Array(index.layers[layer].indices) }
        if json {
            let report = Report(folder: index.folder, index: indexer.indexPath, images: index.images.count,
                                processed: update.processed, reused: update.reused,
                                failed: update.failed.map { ["image": $0.path, "error": $0.reason] },
                                layers: layers.map { l in
                                    Report.Layer(layer: l, channels: channels(l).map { Report.Channel(channel: $0, examples: examples(l, $0)) })
                                })
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            Output.line(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        Output.line("indexed \(index.images.count) images of \(index.folder): \(update.processed.count) run, \(update.reused) from the cache (\(indexer.indexPath))")
        guard let layer else { return }
        for c in channels(layer) {
            Output.line("layer \(layer) channel \(c):")
            for example in examples(layer, c) {
                Output.line(String(format: "  %10.4f  ", example.value) + "\(example.image) at \(example.x),\(example.y), box \(example.box.map(String.init).joined(separator: ","))")
            }
        }
    }
}
