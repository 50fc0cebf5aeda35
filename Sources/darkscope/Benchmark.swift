import ArgumentParser
import CBLAS
import Darknet
import Foundation

/// `darkscope benchmark`: times the forward pass alone, for `bench/run` and for profiling.
///
/// Hidden from `darkscope --help` (it is a developer's tool) but documented here and in
/// `bench/README.md`. The input is either a raw CHW float32 file of exactly one image
/// (`--input`, as `bench/run` writes it) or `assets/dog.jpg` letterboxed to the network's
/// size; a batch repeats that one image. Times are wall time around `Predictor.forward`,
/// which includes copying the kept outputs into the result.
struct Benchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time a network's forward pass (warm-up, then timed runs; median, min, p90).",
        discussion: """
            Loads CFG with WEIGHTS, or with random weights (seed 1) when WEIGHTS is not given, \
            runs --warmup untimed passes then --runs timed ones on --threads threads \
            and prints the median, minimum and 90th percentile in milliseconds. --json prints \
            the same as one JSON object, with the top-1 class of image 0 and a checksum of its \
            probabilities (the sum over i of p[i] * (i + 1)). --layers times passes that keep \
            every layer's output, as the explorer's do, and adds each layer's median time over \
            the timed passes with its quartiles and extremes, the same for the passes' totals, \
            and the cold first warm-up pass's times apart (it needs --warmup 1 or more). \
            --output writes image 0's probabilities as raw float32 (or, with --output-layer, \
            that layer's output). --occlusion instead times, alternating, an occlusion map of a \
            14x14 grid of patches (each 1/14 of the input's side, over the whole input) and 196 \
            full forward passes of one image, and prints their medians and ratio.
            """,
        shouldDisplay: false)

    @Argument(help: "The network's .cfg file.")
    var cfg: String

    @Argument(help: "The network's .weights file (default: random weights, seed 1).")
    var weights: String?

    @Option(help: "Threads (default: one per processor; more than the processors are cut to their number, with a warning).")
    var threads: Int?

    @Option(help: "Timed forward passes.")
    var runs = 20

    @Option(help: "Untimed forward passes first.")
    var warmup = 3

    @Option(help: "Images per forward pass (copies of the one input).")
    var batch = 1

    @Option(help: "One image as raw CHW float32 at the network's size (default: assets/dog.jpg, letterboxed).")
    var input: String?

    @Option(help: "Write image 0's output probabilities here as raw float32.")
    var output: String?

    @Option(help: "Write this layer's output instead (0-based, as `darkscope layers` numbers them), e.g. the logits before a softmax.")
    var outputLayer: Int?

    @OptionGroup var convolutionOptions: ConvolutionOptions

    @Flag(help: "Time passes that keep every layer's output, as the explorer's, and print each layer's median, quartiles and extremes, and the cold first pass's times.")
    var layers = false

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Flag(help: "Time a 14x14 occlusion map against 196 forward passes instead (see the discussion).")
    var occlusion = false

    @Flag(help: "Time training steps instead: each a batch of [net]'s batch copies of the input, labels 0, 1, ... (see the discussion).")
    var train = false

    func validate() throws {
        guard runs > 0 else { throw ValidationError("--runs must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard batch > 0 else { throw ValidationError("--batch must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard !layers || warmup > 0 else { throw ValidationError("--layers reports the first warm-up pass apart as the cold one: give --warmup 1 or more") }
    }

    /// A series of times in milliseconds (`TimeSummary`'s).
    struct Milliseconds: Codable {
        var median: Double
        var lowerQuartile: Double
        var upperQuartile: Double
        var min: Double
        var max: Double

        init(_ summary: TimeSummary) {
            median = summary.median * 1e3
            lowerQuartile = summary.lowerQuartile * 1e3
            upperQuartile = summary.upperQuartile * 1e3
            min = summary.minimum * 1e3
            max = summary.maximum * 1e3
        }
    }

    struct LayerTime: Codable {
        var index: Int
        /// As the layer table names it (conv, max, ...).
        var type: String
        var output: String
        var ms: Milliseconds
        var coldMs: Double
        /// Of the summed medians.
        var share: Double
        /// Floating-point operations per second at the median time (0 for layers without).
        var gflopPerSecond: Double
    }

    /// `--layers`: every layer, then the passes' totals, from one `LayerTiming`.
    struct LayerReport: Codable {
        /// The timed passes (the cold one not among them).
        var passes: Int
        var layers: [LayerTime]
        var totalMs: Milliseconds
        var coldTotalMs: Double
    }

    struct Report: Codable {
        var cfg: String
        var weights: String
        var input: String
        var batch: Int
        var threads: Int
        var convolution: String
        /// The kernels' instruction set (`InstructionSet.chosen`).
        var instructionSet: String
        var blasCore: String
        var warmup: Int
        var runs: Int
        var medianMs: Double
        var minMs: Double
        var p90Ms: Double
        /// Median over runs of the summed per-layer times: the rest of `medianMs` is spent
        /// outside the layers (copying outputs into the result).
        var layerSumMs: Double
        var imagesPerSecond: Double
        var timesMs: [Double]
        var top1: Int
        var top1Probability: Float
        var checksum: Double
        var probabilitySum: Double
        var gflops: Double
        var layers: LayerReport?
    }

    func run() throws {
        var network = try Network(cfg: cfg)
        network.warnings.forEach(Output.warn)
        if let weights {
            try network.loadWeights(path: weights)
        } else {
            try network.randomize(seed: 1)
        }
        network.use(convolutionOptions.convolution)
        guard network.input.isImage else {
            throw DarknetError.usage("\(cfg): the network takes \(network.input.count) flat inputs, not an image")
        }
        if let outputLayer, !network.layers.indices.contains(outputLayer) {
            throw DarknetError.usage("--output-layer \(outputLayer): the network has layers 0...\(network.layers.count - 1)")
        }
        let (image, inputName) = try loadInput(network)
        if occlusion { return try timeOcclusion(network, input: image, inputName: inputName) }
        if train { return try timeTraining(network, input: image) }
        try Memory.require(Memory.bytes(batch, of: image.count * MemoryLayout<Float>.size), for: "--batch \(batch): its copies of the input")
        var values: [Float] = []
        values.reserveCapacity(batch * image.count)
        for _ in 0..<batch { values += image }

        // Threads beyond the processors only wait on each other (10000 took 13.6 s and 735 MB).
        let processors = ProcessInfo.processInfo.activeProcessorCount
        if let threads, threads > processors {
            Output.warn("--threads \(threads): this machine has \(processors) processors; using \(processors)")
        }
        let predictor = Predictor(network: network, threads: threads.map { min($0, processors) })
        let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"

        let keeping = layers || outputLayer != nil
        var timing = LayerTiming(capacity: runs)
        for pass in 0..<warmup {
            let result = try predictor.forward(values, batch: batch, keepingLayerOutputs: keeping)
            if pass == 0 { timing.record(result) }
        }
        var times: [Double] = []
        var layerSums: [Double] = []
        var last: ForwardResult?
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            let result = try predictor.forward(values, batch: batch, keepingLayerOutputs: keeping)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            timing.record(result)
            layerSums.append(result.totalSeconds * 1e3)
            last = result
        }
        let prediction = Array(last!.prediction())
        if let output {
            var written = prediction
            if let outputLayer {
                written = Array(last!.layerOutputs[outputLayer].prefix(network.layers[outputLayer].output.count))
            }
            let data = written.withUnsafeBytes { Data($0) }
            guard FileManager.default.createFile(atPath: output, contents: data) else {
                throw DarknetError.usage("cannot write \(output)")
            }
        }

        let sorted = times.sorted()
        let median = TimeSummary(sorted)!.median
        let top1 = prediction.indices.max { prediction[$0] < prediction[$1] } ?? 0
        var checksum = 0.0, sum = 0.0
        for (i, p) in prediction.enumerated() {
            checksum += Double(p) * Double(i + 1)
            sum += Double(p)
        }
        var layerReport: LayerReport?
        if layers, let total = timing.total, let cold = timing.cold {
            let summaries = timing.layers.map(Milliseconds.init)
            let summed = summaries.map(\.median).reduce(0, +)
            let rows = network.layers.enumerated().map { index, layer in
                let ms = summaries[index]
                return LayerTime(index: index, type: layer.tableType, output: layer.output.description, ms: ms, coldMs: cold[index] * 1e3,
                                 share: summed > 0 ? ms.median / summed : 0,
                                 gflopPerSecond: ms.median > 0 ? Double(batch * layer.operations) / ms.median / 1e6 : 0)
            }
            layerReport = LayerReport(passes: timing.count, layers: rows, totalMs: Milliseconds(total),
                                      coldTotalMs: (timing.coldTotal ?? 0) * 1e3)
        }
        let report = Report(
            cfg: cfg, weights: weights ?? "random (seed 1)", input: inputName, batch: batch, threads: predictor.threads,
            convolution: convolutionOptions.convolution.rawValue,
            instructionSet: InstructionSet.chosen.rawValue, blasCore: core, warmup: warmup, runs: runs, medianMs: median, minMs: sorted[0],
            p90Ms: sorted[max(0, Int((0.9 * Double(sorted.count)).rounded(.up)) - 1)],
            layerSumMs: TimeSummary(layerSums)!.median,
            imagesPerSecond: Double(batch) * 1000 / median, timesMs: times, top1: top1,
            top1Probability: prediction.isEmpty ? 0 : prediction[top1], checksum: checksum, probabilitySum: sum,
            gflops: Double(network.operations) / 1e9, layers: layerReport)
        json ? try printJSON(report) : printText(report)
    }

    struct OcclusionReport: Codable {
        var cfg: String
        var input: String
        var threads: Int
        var grid: Int
        var patch: Int
        var runs: Int
        var mapMedianMs: Double
        var forwardPassesMedianMs: Double
        /// The map's time over the passes'.
        var ratio: Double
    }

    /// An occlusion map of a 14x14 grid against as many forward passes of one image, each
    /// timed `runs` times after `warmup`, the two alternating so that both see the same machine.
    private func timeOcclusion(_ network: Network, input: [Float], inputName: String) throws {
        let grid = 14, patch = network.input.width / grid
        guard patch > 0, network.input.width % grid == 0, network.input.height % grid == 0 else {
            throw DarknetError.usage("--occlusion: the network's \(network.input) input is not a whole number of 14x14 patches")
        }
        var settings = AttributionSettings()
        settings.patch = patch
        settings.stride = patch
        let attributor = Attributor(network: network, threads: threads)
        let predictor = Predictor(network: network, threads: threads)
        let image = Image(width: network.input.width, height: network.input.height, channels: network.input.channels, values: input)
        let letterbox = Letterbox(filling: network.input)
        let request = AttributionRequest(method: .occlusion, settings: settings)
        func milliseconds(_ body: () throws -> Void) rethrows -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        }
        var maps: [Double] = [], passes: [Double] = []
        for run in 0..<(warmup + runs) {
            let map = try milliseconds {
                let map = try attributor.map(request, input: image, letterbox: letterbox)
                precondition(map.rows == grid && map.cols == grid, "a 14x14 map")
            }
            let forward = try milliseconds {
                for _ in 0..<(grid * grid) { _ = try predictor.forward(input, keepingLayerOutputs: false) }
            }
            if run >= warmup {
                maps.append(map)
                passes.append(forward)
            }
        }
        let map = TimeSummary(maps)!.median, forward = TimeSummary(passes)!.median
        let report = OcclusionReport(cfg: cfg, input: inputName, threads: predictor.threads, grid: grid, patch: patch, runs: runs,
                                     mapMedianMs: map, forwardPassesMedianMs: forward, ratio: map / forward)
        if json {
            try printJSON(report)
        } else {
            Output.line("\(cfg): \(report.threads) thread(s), \(inputName)")
            Output.line(String(format: "occlusion %dx%d (patch %d): median %.1f ms; %d forward passes: median %.1f ms; ratio %.3f over %d runs",
                               grid, grid, patch, report.mapMedianMs, grid * grid, report.forwardPassesMedianMs, report.ratio, runs))
        }
    }

    private func loadInput(_ network: Network) throws -> ([Float], String) {
        let shape = network.input
        if let input {
            let data = try Data(contentsOf: URL(fileURLWithPath: input))
            guard data.count == shape.count * MemoryLayout<Float>.size else {
                throw DarknetError.usage("\(input) holds \(data.count) bytes; the network takes one \(shape) image, \(shape.count) float32 values (\(shape.count * 4) bytes)")
            }
            let values = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            return (values, input)
        }
        guard let dog = DataFiles.find("assets/dog.jpg") else {
            throw DarknetError.usage("assets/dog.jpg not found; give --input FILE.f32")
        }
        return (try network.letterboxedInput(from: dog).values, dog + " (letterboxed)")
    }

    private func printJSON(_ report: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        Output.line(String(decoding: try encoder.encode(report), as: UTF8.self))
    }

    private func printText(_ report: Report) {
        Output.line("\(report.cfg): \(String(format: "%.3f", report.gflops)) GFLOP per image, batch \(report.batch), \(report.threads) thread(s), \(report.convolution) convolutions on \(report.instructionSet), OpenBLAS core \(report.blasCore)")
        Output.line(String(format: "forward: median %.3f ms, min %.3f ms, p90 %.3f ms over %d runs after %d warm-up; %.1f images/s",
                           report.medianMs, report.minMs, report.p90Ms, report.runs, report.warmup, report.imagesPerSecond))
        Output.line(String(format: "layers: median %.3f ms summed; %.3f ms outside them", report.layerSumMs, report.medianMs - report.layerSumMs))
        Output.line(String(format: "top-1: class %d (p = %.6f), checksum %.6f", report.top1, report.top1Probability, report.checksum))
        guard let layers = report.layers else { return }
        Output.line("per layer, ms over \(layers.passes) timed passes that keep every layer's output; cold: the first warm-up pass")
        let columns = ["median", "q1", "q3", "min", "max", "cold"].map { String(repeating: " ", count: 8 - $0.count) + $0 }
        Output.line("layer type      output".padding(toLength: 31, withPad: " ", startingAt: 0) + columns.joined() + "   share  GFLOP/s")
        // The name columns, then the times: the total's row lines up under the layers'.
        let row = { (names: String, ms: Milliseconds, cold: Double) in
            String(format: "%@ %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f", names.padding(toLength: 31, withPad: " ", startingAt: 0),
                   ms.median, ms.lowerQuartile, ms.upperQuartile, ms.min, ms.max, cold)
        }
        for layer in layers.layers {
            let names = String(format: "%5d %@ %@", layer.index, layer.type.padding(toLength: 9, withPad: " ", startingAt: 0), layer.output)
            Output.line(row(names, layer.ms, layer.coldMs) + String(format: "  %5.1f%%  %@", layer.share * 100,
                                                                    layer.gflopPerSecond > 0 ? String(format: "%7.1f", layer.gflopPerSecond) : "      -"))
        }
        Output.line(row("total", layers.totalMs, layers.coldTotalMs))
    }

    /// `--train`: what `Trainer.train` takes for one batch (forward, backward and update), as
    /// `bench/run` compares with libdarknet's `train_network`.
    struct TrainingReport: Codable {
        var cfg: String
        var batch: Int
        var threads: Int
        var warmup: Int
        var runs: Int
        var medianMs: Double
        var imagesPerSecond: Double
        var timesMs: [Double]
    }

    private func timeTraining(_ network: Network, input image: [Float]) throws {
        let processors = ProcessInfo.processInfo.activeProcessorCount
        let trainer = try Trainer(network: network, threads: threads.map { min($0, processors) })
        let size = network.training.batch, classes = network.outputCount
        let images = Array([[Float]](repeating: image, count: size).joined()), labels = (0..<size).map { $0 % classes }
        for _ in 0..<warmup { _ = try trainer.train(images: images, labels: labels) }
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try trainer.train(images: images, labels: labels)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        let median = TimeSummary(times.map { $0 / 1e3 })!.median * 1e3
        let report = TrainingReport(cfg: cfg, batch: size, threads: trainer.threads, warmup: warmup, runs: runs, medianMs: median,
                                    imagesPerSecond: Double(size) * 1e3 / median, timesMs: times)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return Output.line(String(decoding: try encoder.encode(report), as: UTF8.self))
        }
        Output.line("\(cfg): training, batch \(size), \(trainer.threads) thread(s)")
        Output.line(String(format: "median %.3f ms a batch over %d runs after %d warm-up; %.1f images/s", median, runs, warmup,
                           report.imagesPerSecond))
    }
}
