import Darknet
import Foundation
import XCTest

/// darkscope against malformed files: every case of `Tests/Corpus/cases.tsv` must fail
/// with one clear line on stderr, never crash, and never modify what it was given.
final class BadInputTests: XCTestCase {
    static let corpus = Repo.path("Tests/Corpus")

    struct Case {
        var name: String
        var arguments: [String]
        var fragment: String
        var line: Int
    }

    /// The manifest: tab-separated name, arguments (space-separated) and expected fragment.
    static func cases() throws -> [Case] {
        let text = try String(contentsOfFile: "\(corpus)/cases.tsv", encoding: .utf8)
        var cases: [Case] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3, !fields[0].isEmpty, !fields[1].isEmpty, !fields[2].isEmpty else {
                throw DarknetError.usage("cases.tsv:\(index + 1): expected name, arguments and fragment separated by tabs, got '\(line)'")
            }
            cases.append(Case(name: fields[0], arguments: fields[1].split(separator: " ").map(String.init),
                              fragment: fields[2], line: index + 1))
        }
        return cases
    }

    struct FileState: Equatable {
        var contents: Data
        var modified: Date?
        var permissions: Int?
    }

    /// Every regular file under `folder`, by relative path, with its bytes and metadata.
    static func snapshot(_ folder: String) throws -> [String: FileState] {
        var files: [String: FileState] = [:]
        let manager = FileManager.default
        for case let relative as String in manager.enumerator(atPath: folder)! {
            let path = "\(folder)/\(relative)"
            let attributes = try manager.attributesOfItem(atPath: path)
            guard attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            files[relative] = FileState(contents: try Data(contentsOf: URL(fileURLWithPath: path)),
                                        modified: attributes[.modificationDate] as? Date,
                                        permissions: (attributes[.posixPermissions] as? NSNumber)?.intValue)
        }
        return files
    }

    /// Checks that a run failed as darkscope must: a status, one `darkscope: ` line, no output.
    func assertRefused(_ result: ProcessResult, containing fragment: String, _ label: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(result.signalled, "\(label): killed by signal \(result.status)\n\(result.stderr)", file: file, line: line)
        XCTAssertNotEqual(result.status, 0, "\(label): exited 0", file: file, line: line)
        XCTAssertEqual(result.stdout, "", "\(label): printed to stdout", file: file, line: line)
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertTrue(lines.count == 2 && lines[1].isEmpty, "\(label): stderr is not exactly one line:\n\(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.hasPrefix("darkscope: "), "\(label): stderr does not start with 'darkscope: ': \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(fragment), "\(label): expected '\(fragment)' in: \(result.stderr)", file: file, line: line)
    }

    func testEveryCorpusCaseFailsWithOneClearLine() throws {
        let cases = try Self.cases()
        XCTAssertGreaterThanOrEqual(cases.count, 25, "the corpus must keep at least 25 cases")
        XCTAssertEqual(Set(cases.map(\.name)).count, cases.count, "case names must be unique")
        let before = try Self.snapshot(Self.corpus)
        for item in cases {
            let label = "\(item.name) (cases.tsv:\(item.line): darkscope \(item.arguments.joined(separator: " ")))"
            do {
                let result = try runProcess(Repo.binary, item.arguments, currentDirectory: Self.corpus, timeout: 60)
                assertRefused(result, containing: item.fragment, label)
            } catch {
                XCTFail("\(label): \(error)")
            }
        }
        let after = try Self.snapshot(Self.corpus)
        XCTAssertEqual(Set(after.keys), Set(before.keys), "files appeared in or vanished from the corpus")
        for (path, state) in before where after[path] != state {
            XCTFail("darkscope modified Tests/Corpus/\(path)")
        }
    }

    /// Every corpus file is small and used by some case, so the corpus stays what the manifest says.
    func testCorpusFilesAreSmallAndUsed() throws {
        let used = Set(try Self.cases().flatMap(\.arguments))
        for (path, state) in try Self.snapshot(Self.corpus) where path != "cases.tsv" && path != ".gitignore" {
            XCTAssertLessThan(state.contents.count, 20_000, "Tests/Corpus/\(path) is too large for the corpus")
            XCTAssertTrue(used.contains(path), "Tests/Corpus/\(path) is not used by any case in cases.tsv")
        }
    }

    func testWeightsInitNeverOverwrites() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("mine.weights").path
        let precious = Data("not darkscope's to overwrite\n".utf8)
        XCTAssertTrue(FileManager.default.createFile(atPath: output, contents: precious))
        let result = try darkscope("weights", "init", "\(Self.corpus)/weights/net.cfg", output)
        assertRefused(result, containing: "\(output): already exists", "weights init over an existing file")
        XCTAssertEqual(FileManager.default.contents(atPath: output), precious)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["mine.weights"])

        // Not even a file darkscope itself wrote, inside the corpus.
        let before = try Self.snapshot(Self.corpus)
        let again = try runProcess(Repo.binary, ["weights", "init", "weights/net.cfg", "weights/net.bin", "--seed", "2"],
                                   currentDirectory: Self.corpus)
        assertRefused(again, containing: "weights/net.bin: already exists", "weights init over the corpus")
        XCTAssertEqual(try Self.snapshot(Self.corpus), before)
    }

    /// A network whose input or layer outputs cannot fit is refused with the memory it needs,
    /// before the allocation that would stop the process (under `ulimit -v`, so on any machine).
    func testANetworkTooLargeForMemoryIsRefusedNotKilled() throws {
        let folder = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let cases = [("input", 16384, 1, "the 16384x16384x3 input's three copies need 9.7 GB of memory"),
                     ("outputs", 2048, 256, "the layers' outputs for a batch of 1 need 4.3 GB of memory")]
        for (name, size, filters, fragment) in cases {
            let cfg = folder.appendingPathComponent("\(name).cfg").path, weights = folder.appendingPathComponent("\(name).weights").path
            try """
                [net]\nwidth=\(size)\nheight=\(size)\nchannels=3
                [convolutional]\nfilters=\(filters)\nsize=3\nstride=1\npad=1\nactivation=leaky
                [avgpool]\n[softmax]\n
                """.write(toFile: cfg, atomically: true, encoding: .utf8)
            XCTAssertEqual(try darkscope("weights", "init", cfg, weights).status, 0)
            let result = try runProcess("/bin/sh", ["-c", "ulimit -v 2000000 && exec \"$0\" classify \"$1\" \"$2\" \"$3\"",
                                                    Repo.binary, cfg, weights, Repo.path("assets/dog.jpg")])
            assertRefused(result, containing: fragment, "\(name) too large")
            XCTAssertTrue(result.stderr.contains("is available (the machine's RAM, or what ulimit -v leaves)"), result.stderr)
        }
    }

    /// A batch too large for memory, or for its bytes to be counted in an Int, is refused with
    /// what it needs (benchmark's copies of the input, a training batch's outputs and gradients),
    /// not allocated until the process is stopped or traps.
    func testABatchTooLargeForMemoryIsRefusedNotAllocated() throws {
        let folder = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        for batch in ["100000000", "\(Int.max)"] {
            let result = try runProcess(Repo.binary, ["benchmark", "weights/net.cfg", "--batch", batch, "--runs", "1", "--warmup", "0"],
                                        currentDirectory: Self.corpus, timeout: 60)
            assertRefused(result, containing: "--batch \(batch): its copies of the input need", "benchmark --batch \(batch)")
        }
        let (data, cfg) = try TrainingTests.stripes(in: folder)
        let huge = folder.appendingPathComponent("huge.cfg").path
        try String(contentsOfFile: cfg, encoding: .utf8).replacingOccurrences(of: "batch=8", with: "batch=2147483647")
            .write(toFile: huge, atomically: true, encoding: .utf8)
        let result = try runProcess(Repo.binary, ["train", data.path, huge, "--backup", folder.path], timeout: 60)
        assertRefused(result, containing: "huge.cfg:2: [net] batch=2147483647: a batch's outputs and gradients need", "train")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("huge_final.weights").path))
    }

    /// Weights named twice, as a file and with --weights, are refused rather than one of them
    /// silently winning.
    func testExploreRefusesWeightsGivenTwice() throws {
        let result = try darkscope("explore", "cfg/tiny.cfg", "a.weights", "--weights", "b.weights", in: Repo.root.path)
        XCTAssertEqual(result.status, 64, result.stderr)
        XCTAssertTrue(result.stderr.contains("weights given twice (a.weights and --weights b.weights): give one"), result.stderr)
    }

    /// Runs a program whose standard output is a pipe nobody reads: the read end is closed
    /// before the program starts, so its first write meets EPIPE (and SIGPIPE) for certain.
    func runWithClosedStdout(_ executable: String, _ arguments: [String], in directory: String? = nil) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        try out.fileHandleForReading.close()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            throw DarknetError.usage("\(executable) did not finish within 120 s")
        }
        return ProcessResult(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
                             stdout: "", stderr: String(decoding: errors, as: UTF8.self))
    }

    /// The harness itself: a program that does not handle SIGPIPE must die of it here,
    /// or the closed-pipe tests below would pass without testing anything.
    func requireClosedPipeKills() throws {
        let control = try runWithClosedStdout("/bin/sh", ["-c", "echo hello; echo 'still alive' >&2"])
        guard control.signalled, control.status == SIGPIPE else {
            throw XCTSkip("a closed pipe does not kill /bin/sh here (status \(control.status), signalled \(control.signalled)); SIGPIPE is ignored by the test runner")
        }
    }

    func assertSurvivesClosedPipe(_ arguments: [String], in directory: String? = nil,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try runWithClosedStdout(Repo.binary, arguments, in: directory)
        let label = "darkscope \(arguments.joined(separator: " ")) > closed pipe"
        XCTAssertFalse(result.signalled, "\(label): killed by signal \(result.status)", file: file, line: line)
        XCTAssertEqual(result.status, 1, "\(label): \(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.stderr.split(separator: "\n").last.map(String.init),
                       "darkscope: cannot write to standard output: Broken pipe", label, file: file, line: line)
    }

    func testLayersIntoAClosedPipeIsAnErrorNotASignal() throws {
        try requireClosedPipeKills()
        try assertSurvivesClosedPipe(["layers", Repo.path("cfg/tiny.cfg")])
    }

    func testClassifyIntoAClosedPipeIsAnErrorNotASignal() throws {
        try requireClosedPipeKills()
        try assertSurvivesClosedPipe(["classify", "weights/net.cfg", "weights/net.bin", "images/ok.png"], in: Self.corpus)
        try assertSurvivesClosedPipe(["classify", "--json", "weights/net.cfg", "weights/net.bin", "images/ok.png"], in: Self.corpus)
    }

    func testClassifyTinyIntoAClosedPipeIsAnErrorNotASignal() throws {
        _ = try Repo.requireTinyWeights()
        try requireClosedPipeKills()
        try assertSurvivesClosedPipe(["classify", "cfg/tiny.cfg", Repo.tinyWeights, "assets/dog.jpg", "assets/kite.jpg"], in: Repo.root.path)
    }

    /// A major version whose `major * 10 + minor` overflows a 32-bit int is read as Darknet
    /// reads it (no 64-bit `seen`, connected weights transposed), not trapped on.
    func testWeightsWithALargeMajorVersionAreRead() throws {
        let result = try runProcess(Repo.binary, ["weights", "info", "weights/major-overflow.bin"], currentDirectory: Self.corpus)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("version 2147483647.0.0, seen 0 (32-bit), connected weights transposed\n450 floats"), result.stdout)
    }

    /// Finite weights can still overflow to infinities and NaN in the activations: the
    /// maps of such layers are drawn (from their finite values), never trapped on.
    func testMapsOfOverflowingActivationsAreDrawn() throws {
        let folder = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        // net.cfg's blocks: conv biases, scales, means, variances (2 each), 2 x 27 weights; connected 3 biases, 384 weights.
        // Filter 0 sums to +inf, filter 1 to -inf, so the connected layer adds +inf and -inf: NaN.
        let values: [Float] = [0, 0, 1, 1, 0, 0, 1, 1] + Array(repeating: 3e38, count: 27) + Array(repeating: -3e38, count: 27)
            + [0, 0, 0] + Array(repeating: 1, count: 384)
        let weights = folder.appendingPathComponent("overflow.weights").path
        try WeightsFile(path: weights, header: WeightsHeader(), values: values).write()
        for layer in ["0", "1", "2"] {
            for extra in [["--grid"], ["--normalize", "layer"], []] {
                let arguments = ["show", "weights/net.cfg", weights, "images/ok.png", "--layer", layer] + extra
                let result = try runProcess(Repo.binary, arguments, currentDirectory: Self.corpus)
                XCTAssertFalse(result.signalled, "\(arguments): killed by signal \(result.status)")
                XCTAssertEqual(result.status, 0, "\(arguments): \(result.stderr)")
                XCTAssertFalse(result.stdout.isEmpty, "\(arguments)")
            }
        }
    }

    /// A cfg line of 200 KB is quoted by its first 80 characters and its length.
    func testALongCfgLineIsQuotedInPart() throws {
        let folder = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let cfg = folder.appendingPathComponent("long.cfg").path
        try ("[net]\nwidth=8\nheight=8\nchannels=3\n[convolutional]\nfilters=" + String(repeating: "9", count: 200_000) + "\n")
            .write(toFile: cfg, atomically: true, encoding: .utf8)
        let result = try darkscope("layers", cfg)
        assertRefused(result, containing: "long.cfg:6: [convolutional] filters: expected a whole number, got '\(String(repeating: "9", count: 80))… (200000 characters)'", "a 200 KB value")
        XCTAssertLessThan(result.stderr.utf8.count, 400, result.stderr)
    }

    /// `layers` counts a network of 49 billion parameters in 64 bits without allocating them
    /// (under a 2 GB address-space limit, in seconds); loading or drawing its weights is refused
    /// with the memory they need, and `weights init` writes nothing.
    func testAHugeNetworkIsCountedNotAllocated() throws {
        let cfg = "\(Self.corpus)/cfg/huge-filters.cfg"
        let start = Date()
        let result = try runProcess("/bin/sh", ["-c", "ulimit -v 2000000 && exec \"$0\" layers \"$1\"", Repo.binary, cfg], timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        XCTAssertTrue(result.stdout.hasSuffix("total 84.000 BFLOPs, 49000000030 parameters, 186920.17 MB of weights\n"), result.stdout)
        let folder = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("huge.weights").path
        assertRefused(try darkscope("weights", "init", cfg, output),
                      containing: "huge-filters.cfg: its 49000000030 parameters, held 2 times while loading, need 392.0 GB of memory", "weights init")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [])
    }

    /// `weights init` interrupted while writing removes its hidden temporary file and dies of
    /// the signal; the output name never appears.
    func testInterruptedWeightsInitLeavesNothing() throws {
        let folder = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        // 50 million floats: about a second to draw and write, the temporary file there all along.
        let cfg = folder.appendingPathComponent("wide.cfg").path
        try "[net]\nwidth=64\nheight=64\nchannels=3\n[connected]\noutput=4096\nactivation=linear\n"
            .write(toFile: cfg, atomically: true, encoding: .utf8)
        let output = folder.appendingPathComponent("out").appendingPathComponent("wide.weights")
        try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: false)
        for signal in [SIGINT, SIGTERM] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Repo.binary)
            process.arguments = ["weights", "init", cfg, output.path]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let deadline = Date().addingTimeInterval(60)
            var pending: [String] = []
            while process.isRunning && pending.isEmpty && Date() < deadline {
                pending = (try? FileManager.default.contentsOfDirectory(atPath: output.deletingLastPathComponent().path)) ?? []
                usleep(2_000)
            }
            XCTAssertTrue(pending.first?.hasPrefix(".wide.weights.") == true, "no temporary file seen: \(pending)")
            usleep(50_000)
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, "signal \(signal): exited \(process.terminationStatus) before it")
            XCTAssertEqual(process.terminationStatus, signal)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output.deletingLastPathComponent().path), [],
                           "signal \(signal) left files behind")
        }
    }

    /// Files that are not regular files are refused at once, never waited on: a FIFO nobody
    /// writes would block the open forever.
    func testAFIFOIsRefusedNotWaitedOn() throws {
        let folder = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let fifo = folder.appendingPathComponent("fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let net = "\(Self.corpus)/weights/net.cfg", weights = "\(Self.corpus)/weights/net.bin", image = "\(Self.corpus)/images/ok.png"
        for arguments in [["layers", fifo], ["weights", "info", fifo], ["classify", net, fifo, image], ["classify", net, weights, fifo],
                          ["classify", net, weights, image, "--labels", fifo], ["show", fifo, weights, image, "--layer", "0"]] {
            let result = try runProcess(Repo.binary, arguments, timeout: 20)
            assertRefused(result, containing: "\(fifo): not a regular file (a FIFO)", arguments.joined(separator: " "))
        }
    }

    /// A cfg saved with a UTF-8 byte-order mark (as Notepad saves it) reads as without one.
    func testACfgWithAByteOrderMarkIsRead() throws {
        let folder = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = try Data(contentsOf: URL(fileURLWithPath: Repo.path("cfg/tiny.cfg")))
        let plain = folder.appendingPathComponent("plain.cfg"), marked = folder.appendingPathComponent("marked.cfg")
        try text.write(to: plain)
        try (Data([0xEF, 0xBB, 0xBF]) + text).write(to: marked)
        let expected = try darkscope("layers", plain.path), result = try darkscope("layers", marked.path)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, expected.stdout)
        XCTAssertTrue(result.stdout.contains("total 0.983 BFLOPs, 1046488 parameters"), result.stdout)
    }

    /// A bad image among good ones gets its error line; the others are still classified,
    /// and the exit status says something failed.
    func testClassifyGoesOnPastABadImage() throws {
        let images = ["images/ok.png", "images/empty.jpg", "images/pixel.gif", "images/ok.png"]
        let text = try runProcess(Repo.binary, ["classify", "--top", "2", "weights/net.cfg", "weights/net.bin"] + images,
                                  currentDirectory: Self.corpus)
        XCTAssertEqual(text.status, 1, text.stderr)
        XCTAssertFalse(text.signalled)
        XCTAssertEqual(text.stdout.split(separator: "\n").count, 4, "two classes for each good image: \(text.stdout)")
        XCTAssertEqual(text.stderr.split(separator: "\n").map(String.init).filter { !$0.contains("Predicted in") },
                       ["darkscope: images/empty.jpg: the file is empty", "darkscope: images/pixel.gif: not a JPEG or PNG image, but a GIF image"])
        XCTAssertEqual(text.stderr.components(separatedBy: "images/ok.png: Predicted in").count, 3, text.stderr)

        let json = try runProcess(Repo.binary, ["classify", "--json", "--top", "2", "weights/net.cfg", "weights/net.bin"] + images,
                                  currentDirectory: Self.corpus)
        XCTAssertEqual(json.status, 1, json.stderr)
        let entries = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]], json.stdout)
        XCTAssertEqual(entries.compactMap { $0["image"] as? String }, images)
        XCTAssertEqual(entries.map { ($0["predictions"] as? [Any])?.count ?? 0 }, [2, 0, 0, 2])
        XCTAssertEqual(entries[1]["error"] as? String, "images/empty.jpg: the file is empty")
        XCTAssertNil(entries[0]["error"])
        XCTAssertEqual(json.stderr.split(separator: "\n").count, 2, json.stderr)
    }

    /// Once standard output is closed, classify stops at the next image: the images after it
    /// are never read (here, the bad one's error never comes).
    func testClassifyStopsWhenItsReaderGoesAway() throws {
        try requireClosedPipeKills()
        for json in [[], ["--json"]] {
            let result = try runWithClosedStdout(Repo.binary, ["classify"] + json + ["weights/net.cfg", "weights/net.bin", "images/ok.png", "images/empty.jpg"],
                                                 in: Self.corpus)
            XCTAssertEqual(result.status, 1, result.stderr)
            XCTAssertFalse(result.stderr.contains("empty.jpg"), "went on after the pipe closed: \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").last, "darkscope: cannot write to standard output: Broken pipe")
        }
    }

    /// More threads than processors are cut to the processors, with a warning.
    func testBenchmarkThreadsAreBoundedByTheProcessors() throws {
        let result = try runProcess(Repo.binary, ["benchmark", "weights/net.cfg", "--threads", "10000", "--runs", "1", "--warmup", "0", "--json"],
                                    currentDirectory: Self.corpus, timeout: 60)
        XCTAssertEqual(result.status, 0, result.stderr)
        let processors = ProcessInfo.processInfo.activeProcessorCount
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(report["threads"] as? Int, processors)
        XCTAssertEqual(result.stderr, "darkscope: warning: --threads 10000: this machine has \(processors) processors; using \(processors)\n")
    }

    /// On a terminal, classify counts the images on stderr in place ([2/3]) and erases the
    /// count; into a pipe it prints no count.
    func testClassifyShowsProgressOnATerminalOnly() throws {
        let folder = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("terminal.log").path, done = folder.appendingPathComponent("done").path
        let socket = "darkscope-progress-\(getpid())"
        let command = "cd '\(Self.corpus)' && '\(Repo.binary)' classify weights/net.cfg weights/net.bin images/ok.png images/ok.png images/ok.png > /dev/null; touch '\(done)'; sleep 30"
        XCTAssertEqual(try runProcess("/usr/bin/tmux", ["-L", socket, "new-session", "-d", "-x", "80", "-y", "10", "sleep 1; " + command]).status, 0)
        defer { _ = try? runProcess("/usr/bin/tmux", ["-L", socket, "kill-server"]) }
        XCTAssertEqual(try runProcess("/usr/bin/tmux", ["-L", socket, "pipe-pane", "-o", "cat > '\(log)'"]).status, 0)
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: done) && Date() < deadline { usleep(20_000) }
        usleep(200_000)
        let raw = String(decoding: FileManager.default.contents(atPath: log) ?? Data(), as: UTF8.self)
        for count in ["[1/3]", "[2/3]", "[3/3]"] { XCTAssertTrue(raw.contains("\r\(count)"), "no \(count) in \(raw.debugDescription)") }
        XCTAssertTrue(raw.contains("\r\u{1B}[K"), "the count is not erased: \(raw.debugDescription)")

        let piped = try runProcess(Repo.binary, ["classify", "weights/net.cfg", "weights/net.bin", "images/ok.png", "images/ok.png"],
                                   currentDirectory: Self.corpus)
        XCTAssertEqual(piped.status, 0, piped.stderr)
        XCTAssertFalse(piped.stderr.contains("[1/2]") || piped.stderr.contains("\u{1B}"), piped.stderr)
    }
}
