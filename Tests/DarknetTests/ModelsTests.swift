import Darknet
import Foundation
import XCTest

/// `darkscope models`: the comparison table, its figures checked against `darkscope layers`
/// and against what Darknet itself prints and saves.
final class ModelsTests: XCTestCase {
    /// Every `.cfg` in the shipped `cfg/` folder, then in its `alexeyab/`, relative to `cfg/`.
    static var shippedCfgs: [String] {
        get throws { try pjreddieCfgs + alexeyabCfgs }
    }

    static var pjreddieCfgs: [String] {
        get throws { try FileManager.default.contentsOfDirectory(atPath: Repo.path("cfg")).filter { $0.hasSuffix(".cfg") }.sorted() }
    }

    static var alexeyabCfgs: [String] {
        get throws {
            try FileManager.default.contentsOfDirectory(atPath: Repo.path("cfg/alexeyab")).filter { $0.hasSuffix(".cfg") }.sorted()
                .map { "alexeyab/\($0)" }
        }
    }

    /// A cfg's row key: its file name.
    static func name(_ cfg: String) -> String { URL(fileURLWithPath: cfg).lastPathComponent }

    /// `models --json` run in the source tree, one object per network keyed by cfg file name.
    func models(_ arguments: String..., in directory: String = Repo.root.path) throws -> [String: [String: Any]] {
        let result = try runProcess(Repo.binary, ["models", "--json"] + arguments, currentDirectory: directory)
        XCTAssertEqual(result.status, 0, result.stderr)
        let array = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        var rows: [String: [String: Any]] = [:]
        for row in array {
            let cfg = try XCTUnwrap(row["cfg"] as? String)
            rows[URL(fileURLWithPath: cfg).lastPathComponent] = row
        }
        XCTAssertEqual(rows.count, array.count, "one row per cfg")
        return rows
    }

    func number(_ row: [String: Any]?, _ key: String) throws -> Double {
        try XCTUnwrap((row?[key] as? NSNumber)?.doubleValue, "\(key) in \(String(describing: row))")
    }

    func testJSONListsEveryShippedCfgWithTheLayersTotals() throws {
        let rows = try models("--runs", "1")
        XCTAssertEqual(rows.keys.sorted(), try Self.shippedCfgs.map(Self.name).sorted())
        for cfg in try Self.shippedCfgs {
            let name = Self.name(cfg)
            let layers = try darkscope("layers", Repo.path("cfg/\(cfg)"))
            XCTAssertEqual(layers.status, 0, layers.stderr)
            // "total %.3f BFLOPs, %d parameters, %.2f MB of weights"
            let totals = try XCTUnwrap(layers.stdout.split(separator: "\n").last).split(separator: " ")
            XCTAssertEqual(totals.first, "total", name)
            let row = rows[name]
            XCTAssertEqual(String(format: "%.3f", try number(row, "bflops")), String(totals[1]), name)
            XCTAssertEqual(String(format: "%d", Int(try number(row, "parameters"))), String(totals[3]), name)
            XCTAssertEqual(String(format: "%.2f", try number(row, "megabytes")), String(totals[5]), name)
            XCTAssertEqual(Int(try number(row, "layers")), layers.stdout.split(separator: "\n").count - 2, name)
            let network = try Network(cfg: Repo.path("cfg/\(cfg)"))
            XCTAssertEqual(row?["input"] as? String, network.input.description, name)
            XCTAssertEqual(Int(try number(row, "operations")), network.operations, name)
        }
    }

    /// Darknet's convolutional line: filters, size x size / stride, input and output shapes, BFLOPs.
    static let convolutional = try! NSRegularExpression(pattern:
        #"^\s*\d+ conv\s+(\d+)\s+(\d+)\s*x\s*(\d+)\s*/\s*(\d+)\s+(\d+)\s*x\s*(\d+)\s*x\s*(\d+)\s*->\s*(\d+)\s*x\s*(\d+)\s*x\s*(\d+)\s+(\d+\.\d+) BFLOPs$"#)

    /// Ops as Darknet prints them while parsing: each convolutional line's BFLOPs, and
    /// 2 x inputs x outputs for each connected line (Darknet prints no figure for those).
    /// Its figures are rounded to 3 decimals, so their sum may drift from the true total by
    /// half a unit per line; the exact count is recomputed from the shapes on each line,
    /// checked against that line's figure, and the total must match ours to 3 decimals.
    /// Size as Darknet saves the weights: `darknet partial` rewrites the network's floats
    /// after its 20-byte header. pjreddie's cfgs only: Debian's Darknet does not read AlexeyAB's
    /// (their Ops are checked against the published figures instead).
    func testOpsAndSizeAgreeWithDarknet() throws {
        try Oracle.requireDarknet()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let rows = try models("--runs", "1")
        for name in try Self.pjreddieCfgs {
            let cfg = Repo.path("cfg/\(name)")
            let weights = directory.appendingPathComponent("\(name).weights").path
            let made = try darkscope("weights", "init", cfg, weights, "--seed", "1")
            XCTAssertEqual(made.status, 0, made.stderr)
            let network = try Network(cfg: cfg)
            let input = [Float](repeating: 0.5, count: network.input.count)
            let table = try Oracle.layers(cfg: cfg, weights: weights, input: input, in: directory).table
            XCTAssertEqual(table.count, network.layers.count + 1, "\(name): Darknet's table")
            var printed = 0.0, figures = 0, exact = 0
            for line in table.dropFirst() {
                let words = line.split(separator: " ")
                if words.last == "BFLOPs" {
                    let match = try XCTUnwrap(Self.convolutional.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)), line)
                    let field = { (index: Int) in String(line[Range(match.range(at: index), in: line)!]) }
                    let value = (1...10).map { Int(field($0))! }
                    let operations = 2 * value[0] * value[1] * value[2] * value[6] * value[7] * value[8]
                    XCTAssertEqual(String(format: "%.3f", Double(operations) / 1e9), field(11), "\(name): \(line)")
                    printed += Double(field(11))!
                    figures += 1
                    exact += operations
                } else if words.count > 1, words[1] == "connected" {
                    // "    8 connected                            9216  ->  4096"
                    XCTAssertEqual(words.count, 5, line)
                    exact += 2 * (Int(words[2]) ?? 0) * (Int(words[4]) ?? 0)
                    printed += 2 * Double(Int(words[2]) ?? 0) * Double(Int(words[4]) ?? 0) / 1e9
                }
            }
            let ours = try number(rows[name], "bflops")
            XCTAssertEqual(String(format: "%.3f", ours), String(format: "%.3f", Double(exact) / 1e9), "\(name): Ops")
            XCTAssertEqual(Int(try number(rows[name], "operations")), exact, "\(name): Ops")
            XCTAssertLessThanOrEqual(abs(ours - printed), 0.0005 * Double(figures) + 1e-9, "\(name): Ops against the printed sum")

            let saved = directory.appendingPathComponent("\(name).saved").path
            let partial = try runProcess(Oracle.darknet, ["partial", cfg, weights, saved, "100000"])
            XCTAssertEqual(partial.status, 0, partial.stderr)
            let bytes = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: saved)[.size] as? Int) - 20
            XCTAssertEqual(Int(try number(rows[name], "parameters")) * 4, bytes, "\(name): Darknet saves the floats")
            XCTAssertEqual(String(format: "%.2f", try number(rows[name], "megabytes")),
                           String(format: "%.2f", Double(bytes) / 1_048_576), "\(name): Size")
            try FileManager.default.removeItem(atPath: weights)
            try FileManager.default.removeItem(atPath: saved)
        }
    }

    func testMarkdownHasAHeaderAndOneRowPerCfg() throws {
        let result = try darkscope("models", "--markdown", "--runs", "1", in: Repo.root.path)
        XCTAssertEqual(result.status, 0, result.stderr)
        let table = result.stdout.split(separator: "\n").filter { $0.hasPrefix("|") }.map(String.init)
        let cfgs = try Self.shippedCfgs
        XCTAssertEqual(table.count, 2 + cfgs.count, result.stdout)
        let cells = { (line: String) in line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { $0.trimmingCharacters(in: .whitespaces) } }
        let header = cells(table[0])
        XCTAssertEqual(Array(header.prefix(7)), ["Model", "cfg", "Input", "Layers", "Ops", "Params", "Size"])
        XCTAssertTrue(header.contains("Top-1") && header.contains("Top-5") && header.contains("Forward") && header.contains("Note"))
        XCTAssertTrue(cells(table[1]).allSatisfy { $0.hasPrefix("---") || $0.hasPrefix(":--") }, table[1])
        XCTAssertEqual(table.dropFirst(2).map { cells($0)[1] }, cfgs.map(Self.name))
        for line in table { XCTAssertEqual(cells(line).count, header.count, line) }

        let tiny = try XCTUnwrap(table.first { $0.contains("| tiny.cfg |") })
        let row = Dictionary(uniqueKeysWithValues: zip(header, cells(tiny)))
        XCTAssertEqual(row["Model"], "Tiny Darknet")
        XCTAssertEqual(row["Input"], "224x224x3")
        XCTAssertEqual(row["Ops"], "0.98 Bn")
        XCTAssertEqual(row["Size"], "3.99 MB")
        XCTAssertEqual(row["Top-1"], "58.7")
        XCTAssertEqual(row["Top-5"], "81.7")
        XCTAssertTrue(result.stdout.contains("https://pjreddie.com/darknet/tiny-darknet/"), result.stdout)
    }

    /// The issue's table: tiny and AlexNet agree with it to its rounding; where a shipped
    /// cfg's Ops or Size do not round to the published figure, its row says why.
    func testPublishedFiguresAgreeOrTheRowSaysWhy() throws {
        let rows = try models("--runs", "1")
        for (name, row) in rows {
            XCTAssertNotNil(row["top1"] as? NSNumber, "\(name): no published Top-1")
            XCTAssertNotNil(row["source"] as? String, "\(name): no source")
            // A published size only where the source gives one (CSPNet's README gives none).
            let agree = [row["opsAgree"], row["publishedMegabytes"] is NSNull ? false : row["sizeAgrees"]].map { ($0 as? NSNumber)?.boolValue }
            XCTAssertFalse(agree.contains(nil), "\(name): no published Ops or Size")
            if agree.contains(false) {
                XCTAssertFalse((row["note"] as? String ?? "").isEmpty, "\(name): disagrees without a note")
            }
        }
        XCTAssertEqual(try number(rows["tiny.cfg"], "publishedBflops"), 0.98)
        XCTAssertEqual(String(format: "%.2f", try number(rows["tiny.cfg"], "bflops")), "0.98")
        XCTAssertEqual(String(format: "%.1f", try number(rows["tiny.cfg"], "megabytes")), "4.0")
        XCTAssertEqual(rows["tiny.cfg"]?["opsAgree"] as? Bool, true)
        XCTAssertEqual(rows["tiny.cfg"]?["sizeAgrees"] as? Bool, true)
        XCTAssertEqual(String(format: "%.2f", try number(rows["alexnet.cfg"], "bflops")), "2.27")
        XCTAssertEqual(String(format: "%.0f", try number(rows["alexnet.cfg"], "megabytes")), "238")
        XCTAssertEqual(rows["alexnet.cfg"]?["opsAgree"] as? Bool, true)
        XCTAssertEqual(rows["alexnet.cfg"]?["sizeAgrees"] as? Bool, true)
        XCTAssertEqual(rows["squeezenet.cfg"]?["opsAgree"] as? Bool, false)
        XCTAssertEqual(rows["darknet.cfg"]?["opsAgree"] as? Bool, false)
        // AlexeyAB's classifiers: the Ops CSPNet's authors publish for them.
        XCTAssertEqual(rows["efficientnet_b0.cfg"]?["opsAgree"] as? Bool, true)
        XCTAssertEqual(rows["cspdarknet53.cfg"]?["opsAgree"] as? Bool, true)
        XCTAssertEqual(try number(rows["efficientnet_b0.cfg"], "top1"), 71.3)
        XCTAssertEqual(try number(rows["cspdarknet53.cfg"], "top5"), 93.6)
    }

    /// Every network is timed: with the weights beside its cfg, or on random weights without.
    func testForwardTimeWhereWeightsAreFound() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let timed = directory.appendingPathComponent("tiny.cfg").path
        let untimed = directory.appendingPathComponent("no-weights-anywhere.cfg").path
        try FileManager.default.copyItem(atPath: Repo.path("cfg/tiny.cfg"), toPath: timed)
        try FileManager.default.copyItem(atPath: Repo.path("cfg/darknet.cfg"), toPath: untimed)
        let made = try darkscope("weights", "init", timed, directory.appendingPathComponent("tiny.weights").path)
        XCTAssertEqual(made.status, 0, made.stderr)
        let rows = try models(timed, untimed, "--runs", "3", in: directory.path)
        XCTAssertGreaterThan(try number(rows["tiny.cfg"], "forwardMs"), 0)
        XCTAssertEqual(try number(rows["tiny.cfg"], "runs"), 3)
        // DARKSCOPE_WEIGHTS comes first when it fits the network (the real Tiny Darknet weights do).
        let expected = ProcessInfo.processInfo.environment["DARKSCOPE_WEIGHTS"].flatMap { $0.isEmpty ? nil : $0 }
        if expected == nil {
            XCTAssertEqual(rows["tiny.cfg"]?["weights"] as? String, directory.appendingPathComponent("tiny.weights").path)
        } else {
            XCTAssertNotNil(rows["tiny.cfg"]?["weights"] as? String)
        }
        XCTAssertEqual(rows["tiny.cfg"]?["name"] as? String, "Tiny Darknet", "the same cfg elsewhere keeps its figures")
        XCTAssertGreaterThan(try number(rows["no-weights-anywhere.cfg"], "forwardMs"), 0)
        XCTAssertTrue(rows["no-weights-anywhere.cfg"]?["weights"] is NSNull)
        XCTAssertTrue(rows["no-weights-anywhere.cfg"]?["top1"] is NSNull)

        let text = try runProcess(Repo.binary, ["models", timed, untimed, "--runs", "1"], currentDirectory: directory.path)
        XCTAssertEqual(text.status, 0, text.stderr)
        let lines = text.stdout.split(separator: "\n")
        XCTAssertTrue(lines[0].hasPrefix("Model "), text.stdout)
        XCTAssertTrue(lines[1].contains(" ms "), String(lines[1]))
        XCTAssertTrue(lines[2].contains(" — "), String(lines[2]))
    }

    /// A cfg of a shipped name but another network does not borrow the published figures.
    func testAChangedCfgGetsNoPublishedFigures() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = try String(contentsOfFile: Repo.path("cfg/tiny.cfg"), encoding: .utf8)
        let changed = directory.appendingPathComponent("tiny.cfg").path
        try text.replacingOccurrences(of: "width=224", with: "width=256").write(toFile: changed, atomically: true, encoding: .utf8)
        let row = try models(changed, "--runs", "1")["tiny.cfg"]
        XCTAssertEqual(row?["name"] as? String, "tiny")
        XCTAssertEqual(row?["input"] as? String, "256x224x3")
        XCTAssertTrue(row?["top1"] is NSNull)
        XCTAssertTrue(row?["opsAgree"] is NSNull)
    }

    /// The figures file of the cfg folder in use: a malformed one is refused with its line.
    func testAMalformedFiguresFileIsRefusedWithItsLine() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cfg = directory.appendingPathComponent("cfg")
        try FileManager.default.createDirectory(at: cfg, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Repo.path("cfg/tiny.cfg"), toPath: cfg.appendingPathComponent("tiny.cfg").path)
        let tsv = cfg.appendingPathComponent("models.tsv").path
        let header = "cfg\tinput\tfloats\tname\ttop1\ttop5\tops\tsize\tsource\tnote\n"
        try (header + "tiny.cfg\t224x224x3\t1046488\tTiny\tmany\t81.7\t0.98\t4.0\t\t\n").write(toFile: tsv, atomically: true, encoding: .utf8)
        let bad = try runProcess(Repo.binary, ["models"], currentDirectory: directory.path)
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stdout, "")
        XCTAssertTrue(bad.stderr.hasPrefix("darkscope: ") && bad.stderr.contains("models.tsv:2: top1 'many'"), bad.stderr)

        // The same folder with a good file: only its cfgs, with its figures.
        try (header + "# a comment\ntiny.cfg\t224x224x3\t1046488\tTiny\t1.5\t\t\t\t\t\n").write(toFile: tsv, atomically: true, encoding: .utf8)
        let rows = try models("--runs", "1", in: directory.path)
        XCTAssertEqual(rows.keys.sorted(), ["tiny.cfg"])
        XCTAssertEqual(rows["tiny.cfg"]?["name"] as? String, "Tiny")
        XCTAssertEqual(try number(rows["tiny.cfg"], "top1"), 1.5)
        XCTAssertTrue(rows["tiny.cfg"]?["top5"] is NSNull)
    }
}
