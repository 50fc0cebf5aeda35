import ArgumentParser
import Darknet
import Foundation

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify images as `darknet classify` does and print the top classes.",
        discussion: """
            An image that cannot be read gets its error line on standard error; the others are \
            still classified, and the exit status is 1 at the end. With --json, standard output is \
            one JSON array with an object per image, in order: {"image", "seconds", "predictions"} \
            or, for an image that failed, {"image", "error"}. On a terminal, standard error shows \
            [N/TOTAL] while several images are classified.
            """)

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

    @OptionGroup var convolutionOptions: ConvolutionOptions

    @Flag(help: "Print JSON instead of Darknet's text.")
    var json = false

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one image") }
        guard top > 0 else { throw ValidationError("--top must be at least 1") }
    }

    /// One image's entry of `--json`: its predictions, or why it has none.
    struct Result: Codable {
        var image: String
        var seconds: Double?
        var predictions: [Prediction]?
        var error: String?
    }

    /// Every image in turn: one that cannot be read gets its error line on stderr and the
    /// others are still classified, with exit status 1 at the end. Output is flushed image by
    /// image, so a reader that goes away (`| head -1`) stops the run at the next image.
    func run() throws {
        var network = try Network(cfg: cfg)
        network.warnings.forEach(Output.warn)
        guard network.input.isImage else {
            throw DarknetError.usage("\(cfg): the network takes \(network.input.count) flat inputs, not an image")
        }
        // Each image decodes on another thread while the one before runs, and the first
        // while the weights load (about 10 of the 57 ms a one-image `classify` took).
        let shape = network
        let inputs = Lookahead(count: images.count) { [images] in try shape.letterboxedInput(from: images[$0]) }
        network.use(convolutionOptions.convolution)
        try network.loadWeights(path: weights)
        let names = try DataFiles.labels(path: labels, outputs: network.outputCount)
        let predictor = Predictor(network: network)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let progress = Progress(total: images.count)
        var failed = false
        if json { Output.line("[") }
        for (number, path) in images.enumerated() {
            progress.show(number)
            var entry: Result
            do {
                let image = try inputs.value(number)
                let result = try predictor.forward(image.values, keepingLayerOutputs: false)
                entry = Result(image: path, seconds: result.totalSeconds, predictions: names.top(top, of: result.prediction()))
            } catch let error as DarknetError where Self.concernsOneImage(error) {
                failed = true
                progress.clear()
                fputs("darkscope: \(error)\n", stderr)
                entry = Result(image: path, error: "\(error)")
            }
            if json {
                let object = String(decoding: try encoder.encode(entry), as: UTF8.self)
                Output.line(object + (number + 1 < images.count ? "," : ""))
            } else if let predictions = entry.predictions, let seconds = entry.seconds {
                progress.clear()
                fputs(String(format: "%@: Predicted in %f seconds.\n", path, seconds), stderr)
                for prediction in predictions {
                    Output.line(String(format: "%5.2f%%: %@", prediction.probability * 100, prediction.name))
                }
            }
            try Output.finish()
        }
        progress.clear()
        if json { Output.line("]") }
        try Output.finish()
        if failed { throw ExitCode.failure }
    }

    /// Whether an error is one image's own (unreadable, undecodable, too large), so that
    /// the others can still be classified; anything else stops the run.
    private static func concernsOneImage(_ error: DarknetError) -> Bool {
        switch error {
        case .image, .file: true
        default: false
        }
    }
}

/// Values 0..<count of `make`, each computed on a thread of its own while the caller works
/// on the one before: `value(i)` starts `i + 1`, then waits for `i`. Asked in order.
final class Lookahead<Value>: @unchecked Sendable {
    private let make: @Sendable (Int) throws -> Value
    private let count: Int
    private var pending: [Int: (done: DispatchSemaphore, result: Box)] = [:]

    private final class Box: @unchecked Sendable { var result: Result<Value, Error>? }

    init(count: Int, _ make: @escaping @Sendable (Int) throws -> Value) {
        self.make = make
        self.count = count
        start(0)
    }

    func value(_ index: Int) throws -> Value {
        start(index)
        start(index + 1)
        let job = pending.removeValue(forKey: index)!
        job.done.wait()
        return try job.result.result!.get()
    }

    private func start(_ index: Int) {
        guard index < count, pending[index] == nil else { return }
        let job = (done: DispatchSemaphore(value: 0), result: Box())
        pending[index] = job
        let make = make
        DispatchQueue.global().async {
            job.result.result = Result { try make(index) }
            job.done.signal()
        }
    }
}

/// `[12/300]` on stderr, rewritten in place, while images are worked on (with `bar`, a bar
/// and the time left); only when stderr is a terminal and there is more than one image.
final class Progress {
    private let total: Int
    private let enabled: Bool
    private let bar: Bool
    private let started = Date()
    private var shown = false

    init(total: Int, bar: Bool = false) {
        self.total = total
        self.bar = bar
        enabled = total > 1 && isatty(STDERR_FILENO) == 1
    }

    /// Shows that image `index` (0-based) is under way.
    func show(_ index: Int) {
        guard enabled else { return }
        if bar {
            let filled = 30 * index / total, elapsed = Date().timeIntervalSince(started)
            let left = index > 0 ? String(format: ", %.0f s left", elapsed / Double(index) * Double(total - index)) : ""
            fputs("\r[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "] \(index)/\(total)\(left)\u{1B}[K", stderr)
        } else {
            fputs("\r[\(index + 1)/\(total)]", stderr)
        }
        shown = true
    }

    /// Erases the counter, before another line goes to stderr.
    func clear() {
        guard shown else { return }
        fputs("\r\u{1B}[K", stderr)
        shown = false
    }
}

extension ConvolutionAlgorithm: ExpressibleByArgument {}

/// How convolutions sum, for every command that runs a network forward.
struct ConvolutionOptions: ParsableArguments {
    @Option(help: "How convolutions sum: winograd (the default: Winograd's where it applies, within Darknet's parity bounds, about twice as fast) or darknet (Darknet's own sums, bit for bit).")
    var convolution = ConvolutionAlgorithm.default
}
