import ArgumentParser
import Darknet

struct Layers: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a network's layer table as Darknet does, then its totals.")

    @Argument(help: "The network's .cfg file.")
    var cfg: String

    func run() throws {
        let network = try Network(cfg: cfg)
        network.warnings.forEach(Output.warn)
        network.layerTable.forEach(Output.line)
        Output.line(network.totalsLine)
    }
}
