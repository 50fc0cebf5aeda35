import ArgumentParser
import Darknet
import Foundation

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images as `darknet classify` does and print the top classes.")

    @Argument(help: "The network's .cfg file.")
    var cfg: String

    @Argument(help: "The network's .weights file.")
    var weights: String

    @Argument(help: "Images (JPEG or PNG).")
    var images: [String]

    @Option(help: "How many classes to print per image.")
    var top = 5

    @Option(help: "A class-name list, one per line (default: ImageNet's for 1000-class networks).")
    var labels: String?

    @Option(help: ConvolutionAlgorithm.help)
    var convolution = ConvolutionAlgorithm.darknet

    @Flag(help: "Print JSON instead of Darknet's text.")
    var json = false

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image") }
        guard top > 0 else { throw ValidationError("--top must be at least 1") }
    }

    struct Result: Codable {
        var image: String
        var seconds: Double
        var predictions: [Prediction]
    }

    func run() throws {
        var network = try Network(cfg: cfg)
        network.warnings.forEach(Output.warn)
        network.use(convolution)
        try network.loadWeights(path: weights)
        let names = try DataFiles.labels(path: labels, outputs: network.outputCount)
        let predictor = Predictor(network: network)
        var results: [Result] = []
        for path in images {
            let image = try network.letterboxedInput(from: path)
            let result = try predictor.forward(image.values, keepingLayerOutputs: false)
            let predictions = names.top(top, of: result.prediction())
            if json {
                results.append(Result(image: path, seconds: result.totalSeconds, predictions: predictions))
            } else {
                fputs(String(format: "%@: Predicted in %f seconds.\n", path, result.totalSeconds), stderr)
                for prediction in predictions {
                    Output.line(String(format: "%5.2f%%: %@", prediction.probability * 100, prediction.name))
                }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            Output.line(String(decoding: try encoder.encode(results), as: UTF8.self))
        }
    }
}

extension ConvolutionAlgorithm: ExpressibleByArgument {
    /// The option's help, the same for every command that takes it.
    static let help: ArgumentHelp = "How convolutions sum: darknet (Darknet's sums, bit for bit) or winograd (faster; not bit for bit)."
}
