import ArgumentParser
import Darknet

struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "Make or inspect .weights files.",
        subcommands: [Init.self, Info.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write deterministic random weights for a cfg (He-scaled, positive variances).")

        @Argument(help: "The network's .cfg file.")
        var cfg: String

        @Argument(help: "The .weights file to write; an existing file is never overwritten.")
        var output: String

        @Option(help: "Random seed: the same seed gives the same file.")
        var seed: UInt64 = 1

        func run() throws {
            let network = try Network(cfg: cfg)
            network.warnings.forEach(Output.warn)
            // Weights this machine could not load are of no use here: refused before the disk fills.
            try network.requireMemoryForWeights()
            // Drawn and written a chunk at a time: the same values `randomize(seed:)` loads,
            // without holding them all.
            let blocks = network.layers.map(\.parameterBlocks)
            try WeightsFile.write(path: output, header: WeightsHeader()) { put in
                try WeightsFile.randomValues(for: blocks, seed: seed) { chunk in try chunk.withUnsafeBytes { try put($0) } }
            }
            Output.line("wrote \(output): \(network.parameterCount) floats for \(network.layers.count) layers (seed \(seed))")
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a .weights file's header and float count, and check it against a cfg.")

        @Argument(help: "The .weights file.")
        var weights: String

        @Argument(help: "A .cfg file to check the weights against.")
        var cfg: String?

        func run() throws {
            let file = try WeightsFile(path: weights)
            // Checked before anything is printed, so a failure leaves standard output empty.
            var network = try cfg.map { try Network(cfg: $0) }
            try network?.load(file)
            let header = file.header
            Output.line("version \(header.major).\(header.minor).\(header.revision), seen \(header.seen) (\(header.seenIs64Bit ? 64 : 32)-bit)\(header.transposed ? ", connected weights transposed" : "")")
            Output.line("\(file.values.count) floats after a \(header.byteCount)-byte header")
            guard let cfg, let network else { return }
            var offset = 0
            for (index, layer) in network.layers.enumerated() where layer.parameterCount > 0 {
                Output.line(String(format: "%5ld %@ %ld floats at %ld", index, layer.sectionName, layer.parameterCount, offset))
                offset += layer.parameterCount
            }
            Output.line("matches \(cfg): \(network.parameterCount) floats")
        }
    }
}
