import ArgumentParser
import Darknet
import Foundation

struct Valid: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Top-1 and top-k accuracy of a classifier on labelled images, and its confusion matrix.",
        discussion: """
            DATA is a folder of label folders (DATA/LABEL/*.jpg|png) or a Darknet data file, whose \
            valid= list is read (labels as darkscope train matches them; top= sets k). Each image is \
            resized to the network's input, as darkscope train takes it. Prints the accuracies, then \
            the confusion matrix (a row per true label, a column per best guess) for up to 30 labels, \
            else the ten most frequent confusions; --json prints all of it as one object.
            """)

    @Argument(help: "A folder of label folders, or a Darknet data file.")
    var data: String

    @Argument(help: "The network's .cfg file.")
    var cfg: String

    @Argument(help: "The network's .weights file.")
    var weights: String

    @Option(help: "How many best guesses count for top-k (default: the data file's top=, else 5).")
    var top: Int?

    @Flag(help: "Print one JSON object: images, k, top1, topK, labels, confusion, skipped.")
    var json = false

    @Option(help: "Threads (default: one per processor).")
    var threads: Int?

    func validate() throws {
        if let top, top < 1 { throw ValidationError("--top must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        var network = try Network(cfg: cfg)
        network.warnings.forEach(Output.warn)
        let data = try TrainingData(path: data, list: "valid")
        try network.loadWeights(path: weights)
        let result = try Validation(network: network, data: data, top: top ?? data.top ?? 5, threads: threads)
        result.skipped.forEach { Output.warn("skipped an image: \($0)") }
        guard result.images > 0 else { throw DarknetError.usage("\(self.data): none of its images could be read") }
        if json { return try printJSON(result) }
        func percent(_ count: Int) -> String { String(format: "%.2f%% (%d/%d)", 100 * Double(count) / Double(result.images), count, result.images) }
        Output.line("top-1: \(percent(result.top1))")
        Output.line("top-\(result.k): \(percent(result.topK))")
        let labels = result.labels
        if labels.count <= 30 {
            let width = max(5, labels.map(\.count).max() ?? 0, String(result.images).count)
            func cell(_ text: String) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
            Output.line("truth \\ guess")
            Output.line(([cell("")] + labels.map(cell)).joined(separator: " "))
            for (truth, row) in result.confusion.enumerated() {
                Output.line(([cell(labels[truth])] + row.map { cell($0 == 0 ? "." : String($0)) }).joined(separator: " "))
            }
        } else {
            let pairs = result.confusion.enumerated().flatMap { truth, row in
                row.enumerated().filter { $0.offset != truth && $0.element > 0 }.map { (truth, $0.offset, $0.element) }
            }
            Output.line("most frequent confusions (truth -> guess: images):")
            for (truth, guess, count) in pairs.sorted(by: { $0.2 > $1.2 }).prefix(10) {
                Output.line("  \(labels[truth]) -> \(labels[guess]): \(count)")
            }
        }
    }

    private func printJSON(_ result: Validation) throws {
        let object: [String: Any] = [
            "images": result.images, "k": result.k, "top1": result.top1Accuracy,
            "topK": result.topKAccuracy, "labels": result.labels, "confusion": result.confusion,
            "skipped": result.skipped,
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        Output.line(String(decoding: data, as: UTF8.self))
    }
}
