import ArgumentParser
import Darknet

struct Partial: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the first N layers' weights, as Darknet's partial, to fine-tune from.",
        discussion: """
            Reads WEIGHTS whole against CFG, then writes to OUTPUT a header with seen 0 (as Darknet's \
            load_network with clear) and the parameters of layers 0 to N-1; a network whose first N \
            layers are the same reads them (darkscope train's WEIGHTS). An existing OUTPUT is never \
            overwritten.
            """)

    @Argument(help: "The network's .cfg file.")
    var cfg: String

    @Argument(help: "Its .weights file.")
    var weights: String

    @Argument(help: "The .weights file to write.")
    var output: String

    @Argument(help: "How many layers to keep, from the first.")
    var layers: Int

    func run() throws {
        var network = try Network(cfg: cfg)
        guard (0...network.layers.count).contains(layers) else {
            throw DarknetError.usage("the network has \(network.layers.count) layers; N must be 0...\(network.layers.count), not \(layers)")
        }
        try network.loadWeights(path: weights)
        let kept = network.layers.prefix(layers).flatMap(\.parameters)
        try WeightsFile.write(path: output, header: WeightsHeader()) { put in try kept.withUnsafeBytes { try put($0) } }
        Output.line("wrote \(output): \(kept.count) floats of the first \(layers) layers")
    }
}
