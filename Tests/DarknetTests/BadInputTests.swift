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
}
