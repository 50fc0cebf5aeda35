import ArgumentParser
import Darknet
import Foundation

/// `darkscope models`: networks side by side, as the Tiny Darknet page compares them, but
/// computed from the cfgs, timed on this machine, and with the published figures beside them.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare networks: input, layers, operations, parameters, size, forward time and published accuracy.",
        discussion: """
            One row per network (default: every cfg in the shipped cfg/ folder, then its alexeyab/). Ops are Darknet's \
            BFLOPs summed over the layers, connected layers included (2 x inputs x outputs each), \
            in billions; Size is the weights as float32 in MB of 2^20 bytes, as Darknet's authors \
            count. Forward is the median time of --runs passes over a mid-grey image after one \
            warm-up, summed over the layers, with the network's weights where they are found (as \
            the explorer finds them: $DARKSCOPE_WEIGHTS when it fits, NAME.weights beside the cfg, \
            in the current folder, ~/.local/share/darkscope/weights, /usr/share/darkscope/weights), \
            else on random weights, which take the same time. \
            Top-1, Top-5 and the published Ops and Size come from cfg/models.tsv, with the page \
            each row is copied from; its note says why the computed Ops or Size differ where they do.
            """)

    enum Format: String, EnumerableFlag {
        case text, markdown, json

        static func help(for value: Format) -> ArgumentHelp? {
            switch value {
            case .text: "Print an aligned table."
            case .markdown: "Print a GitHub Markdown table."
            case .json: "Print a JSON array, one object per network."
            }
        }
    }

    @Argument(help: "Networks' .cfg files (default: every cfg in the shipped cfg/ folder, then its alexeyab/).")
    var cfgs: [String] = []

    @Flag var format: Format = .text

    @Option(help: "Timed forward passes per network; the median is shown.")
    var runs = 5

    func validate() throws {
        guard runs > 0 else { throw ValidationError("--runs must be at least 1") }
    }

    func run() throws {
        let paths = cfgs.isEmpty ? try DataFiles.shippedCfgs() : cfgs
        let figures = try DataFiles.cfgFolder.map { try PublishedFigures(path: ($0 as NSString).appendingPathComponent("models.tsv")) }
        var rows: [ModelRow] = []
        for path in paths {
            var network = try Network(cfg: path)
            network.warnings.forEach(Output.warn)
            let file = URL(fileURLWithPath: path).lastPathComponent
            let entry = figures?.entry(cfg: file, input: network.input.description, floats: network.parameterCount)
            var row = ModelRow(network: network, cfgFile: file, published: entry, runs: runs)
            if let weights = try WeightsSearch.find(explicit: nil, for: network) {
                do {
                    try network.loadWeights(path: weights)
                    row.weights = weights
                } catch {
                    Output.warn("\(error); \(file) is timed on random weights")
                }
            }
            // The time does not depend on the values: a network without weights runs on random ones.
            if row.weights == nil { try network.randomize(seed: 1) }
            row.forwardMs = try Self.medianForwardMs(network, runs: runs)
            rows.append(row)
        }
        switch format {
        case .json: try ModelTable.printJSON(rows)
        case .markdown: ModelTable.printMarkdown(rows, runs: runs)
        case .text: ModelTable.printText(rows, runs: runs)
        }
    }

    /// One warm-up pass, then the median over `runs` of the summed per-layer times, in ms.
    static func medianForwardMs(_ network: Network, runs: Int) throws -> Double {
        let predictor = Predictor(network: network)
        let input = [Float](repeating: 0.5, count: network.input.count)
        _ = try predictor.forward(input, keepingLayerOutputs: false)
        var times: [Double] = []
        for _ in 0..<runs { times.append(try predictor.forward(input, keepingLayerOutputs: false).totalSeconds * 1e3) }
        times.sort()
        let middle = times.count / 2
        return times.count % 2 == 1 ? times[middle] : (times[middle - 1] + times[middle]) / 2
    }
}

/// Published accuracy, Ops and Size of the shipped networks: `cfg/models.tsv`.
struct PublishedFigures {
    struct Entry {
        var cfg: String
        var input: String
        var floats: Int
        var name: String
        var top1: Double?
        var top5: Double?
        /// As published, to keep their rounding ("4.0", "238").
        var ops: String?
        var size: String?
        var source: String?
        var note: String?
    }

    static let columns = ["cfg", "input", "floats", "name", "top1", "top5", "ops", "size", "source", "note"]

    var entries: [Entry] = []

    /// Reads the file; a missing file means no figures, a malformed one is an error.
    init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw DarknetError.file(path: path, problem: "cannot be read as UTF-8 text")
        }
        var sawHeader = false
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let problem = { (text: String) in DarknetError.cfg(file: path, line: index + 1, problem: text) }
            if !sawHeader {
                guard fields == Self.columns else {
                    throw problem("the header must be the tab-separated columns \(Self.columns.joined(separator: ", "))")
                }
                sawHeader = true
                continue
            }
            guard fields.count == Self.columns.count else {
                throw problem("\(fields.count) tab-separated fields; expected \(Self.columns.count) (\(Self.columns.joined(separator: ", ")))")
            }
            guard let floats = Int(fields[2]), floats >= 0 else { throw problem("floats '\(fields[2])' is not a count") }
            func number(_ column: Int) throws -> Double? {
                if fields[column].isEmpty { return nil }
                guard let value = Double(fields[column]), value >= 0 else {
                    throw problem("\(Self.columns[column]) '\(fields[column])' is not a number")
                }
                return value
            }
            for column in [6, 7] { _ = try number(column) }
            let optional = { (column: Int) in fields[column].isEmpty ? nil : fields[column] }
            entries.append(Entry(cfg: fields[0], input: fields[1], floats: floats, name: fields[3],
                                 top1: try number(4), top5: try number(5), ops: optional(6), size: optional(7),
                                 source: optional(8), note: optional(9)))
        }
    }

    /// The row written for this cfg: same file name, input size and float count.
    func entry(cfg: String, input: String, floats: Int) -> Entry? {
        entries.first { $0.cfg == cfg && $0.input == input && $0.floats == floats }
    }
}

/// One network's row of the comparison.
struct ModelRow: Encodable {
    var name: String
    var cfg: String
    var input: String
    var layers: Int
    var operations: Int
    var parameters: Int
    var parameterBytes: Int
    var weights: String?
    var forwardMs: Double?
    var runs: Int
    var published: PublishedFigures.Entry?

    init(network: Network, cfgFile: String, published: PublishedFigures.Entry?, runs: Int) {
        name = published?.name ?? URL(fileURLWithPath: cfgFile).deletingPathExtension().lastPathComponent
        cfg = network.cfgPath
        input = network.input.description
        layers = network.layers.count
        operations = network.operations
        parameters = network.parameterCount
        parameterBytes = network.parameterBytes
        self.runs = runs
        self.published = published
    }

    var bflops: Double { Double(operations) / 1e9 }
    var megabytes: Double { Double(parameterBytes) / 1_048_576 }

    /// Whether `computed` rounds to `published` at the published figure's own precision.
    static func agrees(_ computed: Double, _ published: String?) -> Bool? {
        guard let published, Double(published) != nil else { return nil }
        let decimals = published.split(separator: ".", omittingEmptySubsequences: false).dropFirst().first?.count ?? 0
        return String(format: "%.\(decimals)f", computed) == published
    }

    var opsAgree: Bool? { Self.agrees(bflops, published?.ops) }
    var sizeAgrees: Bool? { Self.agrees(megabytes, published?.size) }

    enum Key: String, CodingKey {
        case name, cfg, input, layers, bflops, operations, parameters, megabytes, weights, forwardMs, runs
        case top1, top5, publishedBflops, publishedMegabytes, opsAgree, sizeAgrees, source, note
    }

    /// Every key in every object, unknowns as null.
    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(name, forKey: .name)
        try container.encode(cfg, forKey: .cfg)
        try container.encode(input, forKey: .input)
        try container.encode(layers, forKey: .layers)
        try container.encode(bflops, forKey: .bflops)
        try container.encode(operations, forKey: .operations)
        try container.encode(parameters, forKey: .parameters)
        try container.encode(megabytes, forKey: .megabytes)
        try container.encode(weights, forKey: .weights)
        try container.encode(forwardMs, forKey: .forwardMs)
        try container.encode(forwardMs == nil ? nil : runs, forKey: .runs)
        try container.encode(published?.top1, forKey: .top1)
        try container.encode(published?.top5, forKey: .top5)
        try container.encode(published?.ops.flatMap(Double.init), forKey: .publishedBflops)
        try container.encode(published?.size.flatMap(Double.init), forKey: .publishedMegabytes)
        try container.encode(opsAgree, forKey: .opsAgree)
        try container.encode(sizeAgrees, forKey: .sizeAgrees)
        try container.encode(published?.source, forKey: .source)
        try container.encode(published?.note, forKey: .note)
    }
}

/// The three ways `models` prints its rows.
enum ModelTable {
    static let unknown = "—"

    enum Alignment { case left, right }

    static let header: [(String, Alignment)] = [
        ("Model", .left), ("cfg", .left), ("Input", .left), ("Layers", .right), ("Ops", .right), ("Params", .right),
        ("Size", .right), ("Forward", .right), ("Top-1", .right), ("Top-5", .right), ("Published", .right),
        ("Source", .left), ("Note", .left),
    ]

    /// The sources in order of first use, numbered from 1.
    static func sources(_ rows: [ModelRow]) -> [String] {
        var seen: [String] = []
        for source in rows.compactMap({ $0.published?.source }) where !seen.contains(source) { seen.append(source) }
        return seen
    }

    static func cells(_ row: ModelRow, sources: [String]) -> [String] {
        let published = row.published
        let figures = [published?.ops.map { "\($0) Bn" }, published?.size.map { "\($0) MB" }]
        let source = published?.source.flatMap { sources.firstIndex(of: $0) }.map { "[\($0 + 1)]" }
        return [
            row.name,
            URL(fileURLWithPath: row.cfg).lastPathComponent,
            row.input,
            "\(row.layers)",
            String(format: "%.2f Bn", row.bflops),
            String(format: "%.2f M", Double(row.parameters) / 1e6),
            String(format: "%.2f MB", row.megabytes),
            row.forwardMs.map { String(format: "%.1f ms", $0) + (row.weights == nil ? "*" : "") } ?? unknown,
            published?.top1.map { String(format: "%.1f", $0) } ?? unknown,
            published?.top5.map { String(format: "%.1f", $0) } ?? unknown,
            figures.allSatisfy { $0 == nil } ? unknown : figures.map { $0 ?? unknown }.joined(separator: ", "),
            source ?? "",
            published?.note ?? "",
        ]
    }

    static func footer(_ rows: [ModelRow], runs: Int) -> [String] {
        var lines = ["Ops: Darknet's BFLOPs summed, connected layers included. Size: float32 weights in MB of 2^20 bytes."]
        let threads = ProcessInfo.processInfo.activeProcessorCount
        lines.append("Forward: median of \(runs) pass\(runs == 1 ? "" : "es") after one warm-up on this machine (\(threads) thread\(threads == 1 ? "" : "s")); * on random weights, none being found (the time is the same).")
        lines.append("Top-1, Top-5 and Published (Ops, Size) as published:")
        for (index, source) in sources(rows).enumerated() { lines.append("[\(index + 1)] \(source)") }
        return lines
    }

    static func printText(_ rows: [ModelRow], runs: Int) {
        let sources = sources(rows)
        let table = [header.map(\.0)] + rows.map { cells($0, sources: sources) }
        let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        for line in table {
            let padded = line.enumerated().map { column, cell in
                let fill = String(repeating: " ", count: widths[column] - cell.count)
                return header[column].1 == .right ? fill + cell : cell + fill
            }
            Output.line(padded.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression))
        }
        Output.line("")
        footer(rows, runs: runs).forEach(Output.line)
    }

    static func printMarkdown(_ rows: [ModelRow], runs: Int) {
        let sources = sources(rows)
        let escape = { (cell: String) in cell.replacingOccurrences(of: "|", with: "\\|") }
        Output.line("| " + header.map { escape($0.0) }.joined(separator: " | ") + " |")
        Output.line("|" + header.map { $0.1 == .right ? "---:|" : "---|" }.joined())
        for row in rows {
            Output.line("| " + cells(row, sources: sources).map(escape).joined(separator: " | ") + " |")
        }
        for line in footer(rows, runs: runs) {
            Output.line(line.hasPrefix("[") ? "- \(line)" : "\n" + line)
        }
    }

    static func printJSON(_ rows: [ModelRow]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        Output.line(String(decoding: try encoder.encode(rows), as: UTF8.self))
    }
}
