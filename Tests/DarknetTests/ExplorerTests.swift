import Darknet
import Foundation
import XCTest

/// A tmux server of the test's own, running darkscope in a real terminal.
final class TmuxSession {
    let socket = "darkscope-test-\(getpid())-\(UUID().uuidString.prefix(8))"
    let tmux = "/usr/bin/tmux"

    init(command: String, columns: Int = 100, rows: Int = 30, environment: [String: String] = [:]) throws {
        guard FileManager.default.isExecutableFile(atPath: tmux) else {
            if Repo.isCI { throw DarknetTestError("tmux is not installed; scripts/setup-debian installs it") }
            throw XCTSkip("tmux is not installed (apt-get install tmux)")
        }
        let exports = environment.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        // The shell ignores Ctrl-C so that it survives to report how darkscope ended.
        let script = "trap '' INT; cd '\(Repo.root.path)' && echo BEFORE-DARKSCOPE && env \(exports) \(command); echo EXITED $?; sleep 600"
        let result = try runProcess(tmux, ["-L", socket, "-f", "/dev/null", "new-session", "-d", "-x", "\(columns)", "-y", "\(rows)", "sh", "-c", script])
        guard result.status == 0 else { throw DarknetTestError("tmux failed: \(result.stderr)") }
    }

    deinit { _ = try? runProcess(tmux, ["-L", socket, "kill-server"]) }

    func keys(_ keys: String...) throws { try keysBatch(keys) }

    /// A left click at a 0-based cell: xterm (X10) press and release reports typed into the pane.
    func click(row: Int, column: Int) throws {
        let cell = String(UnicodeScalar(UInt8(33 + column))) + String(UnicodeScalar(UInt8(33 + row)))
        for button in [" ", "#"] {
            _ = try runProcess(tmux, ["-L", socket, "send-keys", "-l", "\u{1B}[M" + button + cell])
        }
    }

    /// Many keys in one call, as fast as tmux types them.
    func keysBatch(_ keys: [String]) throws {
        _ = try runProcess(tmux, ["-L", socket, "send-keys"] + keys)
    }

    func resize(columns: Int, rows: Int) throws {
        _ = try runProcess(tmux, ["-L", socket, "resize-window", "-x", "\(columns)", "-y", "\(rows)"])
    }

    func screen() throws -> String {
        try runProcess(tmux, ["-L", socket, "capture-pane", "-p"]).stdout
    }

    /// Waits until the screen shows every text given (and none of `absent`), and returns it.
    /// `unwrapped` reads the screen as one line, for messages a narrow terminal wraps.
    @discardableResult
    func waitFor(_ texts: String..., absent: [String] = [], unwrapped: Bool = false, timeout: TimeInterval = 20,
                 file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            last = try screen()
            let text = unwrapped ? last.replacingOccurrences(of: "\n", with: "") : last
            if texts.allSatisfy(text.contains) && !absent.contains(where: text.contains) { return last }
            usleep(100_000)
        }
        XCTFail("screen never showed \(texts) without \(absent); it shows:\n\(last)", file: file, line: line)
        return last
    }
}

struct DarknetTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

final class ExplorerTests: XCTestCase {
    private var binary: String { "'\(Repo.binary)'" }

    private func realWeights() throws -> [String: String] { ["DARKSCOPE_WEIGHTS": try Repo.requireTinyWeights()] }

    func testFirstScreenShowsLayerTableAndMalamute() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        let screen = try session.waitFor("malamute", "BFLOPs")
        XCTAssertTrue(screen.contains("conv        16  3x3/1   224x224x   3 -> 224x224x  16  0.043"), screen)
        XCTAssertTrue(screen.contains("tiny.cfg"), screen)
        XCTAssertTrue(screen.contains("14.18%"), screen)
        XCTAssertFalse(screen.contains("UNTRAINED"), screen)
        XCTAssertFalse(screen.contains("sums"), screen)
    }

    /// The default is Winograd's; Darknet's own sums give Darknet's top five too, and the title says which.
    func testDarknetsOwnSumsGiveTheSameTopFive() throws {
        let session = try TmuxSession(command: "\(binary) --convolution darknet", environment: realWeights())
        let screen = try session.waitFor("malamute", "BFLOPs", "darknet sums")
        for line in ["14.18%", "6.13%", "5.48%", "4.54%", "3.94%"] { XCTAssertTrue(screen.contains(line), screen) }
    }

    func testMovingToLayerFiveShowsItsChannels() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        try session.keys("j", "j", "j", "j", "j")
        try session.waitFor("layer 5 conv 56x56x128", "128 channels")
        try session.keys("l", "l")
        try session.waitFor("ch 2 min")
        try session.keys("G")
        try session.waitFor("layer 21 softmax")
        try session.keys("g")
        try session.waitFor("layer 0 conv 224x224x16", "16 channels")
    }

    func testClicksSelectALayerRowAndAChannelTile() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute", "layer 0 conv 224x224x16", "ch 0 min")
        // Row 2 of the screen is the table's first entry (layer 0); row 5 is layer 3.
        try session.click(row: 5, column: 10)
        try session.waitFor("layer 3 max 56x56x32")
        try session.keys("g")
        try session.waitFor("layer 0 conv 224x224x16")
        // The 16 channels of layer 0 are a square 4 x 4 grid between the maps header and the
        // colour scale, twice as many columns wide as rows high (cells are 1:2). The middle of
        // the second tile of the second row is channel 5.
        let screen = try session.screen().split(separator: "\n", omittingEmptySubsequences: false)
        let header = try XCTUnwrap(screen.firstIndex { $0.hasPrefix("layer 0 conv") })
        let scale = try XCTUnwrap(screen.firstIndex { $0.contains(" … ") && $0.contains("norm channel") })
        let rows = scale - header - 1
        try session.click(row: header + 1 + rows * 3 / 8, column: 2 * rows * 3 / 8)
        try session.waitFor("ch 5 min")
    }

    func testCompareModeShowsBothImagesPredictions() throws {
        let session = try TmuxSession(command: "\(binary) assets/dog.jpg assets/eagle.jpg", environment: realWeights())
        let screen = try session.waitFor("A dog.jpg", "B eagle.jpg", "malamute", "bald eagle", " sim")
        XCTAssertTrue(screen.contains("53.71%"), screen)
        try session.keys("v")
        try session.waitFor("dog.jpg", "malamute", absent: ["B eagle.jpg", "A dog.jpg"])
    }

    func testVOpensASecondImageFromTheSameFolder() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        try session.keys("v")
        try session.waitFor("A dog.jpg", "B ")
        try session.keys("]")
        try session.waitFor("A dog.jpg", "B ")
    }

    func testSmallTerminalsShowTheTableAndTheTopClassAndTinyOnesAMessage() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        for (columns, rows) in [(60, 20), (40, 12)] {
            try session.resize(columns: columns, rows: rows)
            let screen = try session.waitFor("  0  conv      224x224x  16", "14.18%", "malamute", "BFLOPs")
            XCTAssertFalse(screen.contains("too small"), screen)
        }
        try session.resize(columns: 39, rows: 12)
        try session.waitFor("terminal too small: 39x12", "40x12")
        try session.resize(columns: 100, rows: 30)
        let screen = try session.waitFor("malamute", "BFLOPs", "q quit", "layer 0 conv")
        XCTAssertFalse(screen.contains("too small"), screen)
    }

    func testQuitGivesTheShellBack() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        try session.keys("q")
        let screen = try session.waitFor("EXITED 0")
        XCTAssertTrue(screen.contains("BEFORE-DARKSCOPE"), "the shell's screen is back: \(screen)")
        XCTAssertFalse(screen.contains("BFLOPs"), "the explorer's screen is gone: \(screen)")
    }

    func testQuitDoesNotWaitForANetworkBeingOpened() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        // m m m: AlexNet, ResNet and others open on the worker; q must not wait for them.
        try session.keys("m", "m", "m")
        let start = Date()
        try session.keys("q")
        try session.waitFor("EXITED 0")
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.5)
    }

    func testCtrlCAndSigtermRestoreTheTerminalAndExitAsTheSignal() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        try session.keys("C-c")
        let screen = try session.waitFor("EXITED", "BEFORE-DARKSCOPE", absent: ["BFLOPs"])
        XCTAssertTrue(screen.contains("EXITED 130"), screen)
        let again = try TmuxSession(command: binary, environment: realWeights())
        try again.waitFor("malamute")
        _ = try runProcess("/usr/bin/pkill", ["-TERM", "-f", "^\(Repo.binary)$"])
        let terminated = try again.waitFor("EXITED", "BEFORE-DARKSCOPE", absent: ["BFLOPs"])
        XCTAssertTrue(terminated.contains("EXITED 143"), terminated)
    }

    /// The maps' (or the explanation's) and the input picture's cells, at 100x30: the maps pane
    /// is the 65 columns left of the predictions, the image below the top-5 on their right.
    private func pictures(_ session: TmuxSession) throws -> (maps: [String], image: [String]) {
        let lines = try session.screen().components(separatedBy: "\n")
        guard let header = lines.firstIndex(where: { $0.hasPrefix("layer ") || $0.hasPrefix("why: ") }),
              let scale = lines.firstIndex(where: { $0.contains(" … ") && ($0.contains("norm ") || $0.contains("evidence")) })
        else { return ([], []) }
        let rows = Array(lines[(header + 1)..<scale])
        return (rows.map { String($0.prefix(65)) }, rows.suffix(8).map { String($0.dropFirst(66)) })
    }

    /// Waits until the pictures differ from `before`, and returns them.
    private func waitForNewPictures(_ session: TmuxSession, than before: (maps: [String], image: [String]),
                                    file: StaticString = #filePath, line: UInt = #line) throws -> (maps: [String], image: [String]) {
        let deadline = Date().addingTimeInterval(15)
        var now = try pictures(session)
        while Date() < deadline && (now.maps == before.maps || now.image == before.image) {
            usleep(100_000)
            now = try pictures(session)
        }
        XCTAssertNotEqual(now.maps, before.maps, "the maps still show the old picture", file: file, line: line)
        XCTAssertNotEqual(now.image, before.image, "the input picture is still the old one", file: file, line: line)
        return now
    }

    func testFilesReplacedOnDiskRedrawTheMapsAndTheImage() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = directory.appendingPathComponent("photo.jpg").path
        let cfg = directory.appendingPathComponent("tiny.cfg").path
        let weights = directory.appendingPathComponent("tiny.weights").path
        try FileManager.default.copyItem(atPath: Repo.path("assets/dog.jpg"), toPath: image)
        try FileManager.default.copyItem(atPath: Repo.path("cfg/tiny.cfg"), toPath: cfg)
        try FileManager.default.copyItem(atPath: try Repo.requireTinyWeights(), toPath: weights)
        let session = try TmuxSession(command: "\(binary) '\(cfg)' '\(weights)' '\(image)'")
        try session.waitFor("malamute", "ch 0 min")
        let dog = try pictures(session)
        XCTAssertFalse(dog.maps.joined().trimmingCharacters(in: .whitespaces).isEmpty)

        // A new photo under the same name (as `cp eagle.jpg photo.jpg` writes it).
        try Data(contentsOf: Repo.root.appendingPathComponent("assets/eagle.jpg")).write(to: URL(fileURLWithPath: image))
        try session.waitFor("bald eagle", absent: ["malamute"])
        let eagle = try waitForNewPictures(session, than: dog)

        // Deleted: an error, and the eagle's pictures gone.
        try FileManager.default.removeItem(atPath: image)
        try session.waitFor("photo.jpg: no such", absent: ["bald eagle"])
        // Created again as another picture: reloaded.
        try FileManager.default.copyItem(atPath: Repo.path("assets/dog.jpg"), toPath: image)
        try session.waitFor("malamute")
        let again = try waitForNewPictures(session, than: eagle)
        XCTAssertEqual(again.maps, dog.maps, "the same photo draws the same maps")

        // Other weights under the same name: the network is reopened and the maps follow.
        let random = directory.appendingPathComponent("random.weights").path
        let made = try darkscope("weights", "init", cfg, random, "--seed", "7")
        XCTAssertEqual(made.status, 0, made.stderr)
        try FileManager.default.removeItem(atPath: weights)
        try FileManager.default.moveItem(atPath: random, toPath: weights)
        try session.waitFor("tiny.cfg with tiny.weights", "ch 0 min", absent: ["malamute"])
        let reweighted = try pictures(session)
        XCTAssertNotEqual(reweighted.maps, dog.maps, "the maps are the new weights'")
        XCTAssertEqual(reweighted.image, dog.image, "the image itself did not change")

        // The cfg changed on disk (a comment added): the network is reopened.
        let text = try String(contentsOfFile: cfg, encoding: .utf8)
        try (text + "\n# edited\n").write(toFile: cfg, atomically: true, encoding: .utf8)
        try session.waitFor("tiny.cfg with tiny.weights", "ch 0 min")
    }

    func testSwitchingNetworksRedrawsTheMaps() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute", "layer 0 conv 224x224x16", "ch 0 min")
        let tiny = try pictures(session)
        try session.keys("M")
        let screen = try session.waitFor("squeezenet.cfg", "ch 0 min", absent: ["opening"])
        XCTAssertFalse(screen.contains("layer 0 conv 224x224x16"), screen)
        let other = try pictures(session)
        XCTAssertNotEqual(other.maps, tiny.maps, screen)
    }

    /// The explorer's resident and peak memory, from /proc, in MiB.
    private func memory(of pattern: String) throws -> (resident: Int, peak: Int) {
        let found = try runProcess("/usr/bin/pgrep", ["-f", pattern]).stdout.split(separator: "\n")
        guard let pid = found.first else { throw DarknetTestError("no process matches \(pattern)") }
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func field(_ name: String) -> Int {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    /// Thousands of keys chosen by a seeded generator, every network among them, then a check
    /// that the screen still works, the memory stayed within its budget and q quits cleanly.
    func testThousandsOfRandomKeysLeaveAWorkingScreenWithinTheMemoryBudget() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        let keys = ["j", "k", "h", "l", "g", "G", "a", "n", "c", "v", "[", "]", "m", "M", "N", "f", "?", "Tab",
                    "Up", "Down", "Left", "Right", "PgUp", "PgDn", "Home", "End", "o", "Escape", "Escape", "x"]
        var generator = SplitMix64(seed: 11)
        for _ in 0..<30 {
            try session.keysBatch((0..<100).map { _ in keys[Int(generator.next() % UInt64(keys.count))] })
            usleep(150_000)
        }
        // Back to a known screen: close whatever is open, on Tiny Darknet, one image.
        try session.keys("Escape", "Escape", "x")
        let memory = try self.memory(of: "^\(Repo.binary)$")
        XCTAssertLessThan(memory.peak, 1024, "peak RSS \(memory.peak) MiB over the 1 GiB budget")
        try session.keys("q")
        try session.waitFor("EXITED 0", timeout: 10)
    }

    func testTwoHundredRandomResizesLeaveAWorkingScreen() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        var generator = SplitMix64(seed: 5)
        for _ in 0..<200 {
            try session.resize(columns: 20 + Int(generator.next() % 180), rows: 6 + Int(generator.next() % 60))
            usleep(10_000)
        }
        try session.resize(columns: 100, rows: 30)
        try session.waitFor("malamute", "BFLOPs", "layer 0 conv", "q quit")
        try session.keys("j")
        try session.waitFor("layer 1 max")
        try session.keys("q")
        try session.waitFor("EXITED 0", timeout: 10)
    }

    /// `benchmark --layers`: the median total and each layer's median, in ms.
    private func benchmarkedTimes(weights: String) throws -> (total: Double, layers: [Double]) {
        let benchmark = try LayerBenchmark.run(cfg: Repo.path("cfg/tiny.cfg"), weights: weights, runs: 31)
        return (benchmark.totalMs.median, benchmark.layers.map(\.ms.median))
    }

    /// The ms column and the total, as the screen shows them (Darknet's 64 columns, then ms).
    private func screenTimes(_ screen: String) throws -> (total: Double, layers: [Double]) {
        var layers: [Double] = []
        for line in screen.components(separatedBy: "\n") where line.count >= 72 {
            guard let index = Int(line.prefix(3).trimmingCharacters(in: .whitespaces)), index == layers.count,
                  let ms = Double(line.dropFirst(64).prefix(8).trimmingCharacters(in: .whitespaces)) else { continue }
            layers.append(ms)
        }
        let total = try XCTUnwrap(screen.range(of: #"[0-9.]+(?= ms \(median of)"#, options: .regularExpression).map { Double(screen[$0]) } ?? nil)
        return (total, layers)
    }

    /// The times on screen are warm medians: within 25 % of `benchmark --layers` measured just
    /// before and just after on the same network, for the total and every layer that takes a
    /// twentieth of it (smaller ones are within timer noise). A busy machine can upset one
    /// sitting, so up to three are measured; one that agrees passes.
    func testTheExplorersTimesAgreeWithTheBenchmarkMeasuredBesideThem() throws {
        let weights = try Repo.requireTinyWeights()
        var disagreements: [[String]] = []
        for _ in 0..<3 {
            let before = try benchmarkedTimes(weights: weights)
            let session = try TmuxSession(command: "\(binary) cfg/tiny.cfg '\(weights)'", columns: 120, rows: 60)
            let screen = try session.waitFor("median of 31 passes", timeout: 60)
            try session.keys("q")
            let after = try benchmarkedTimes(weights: weights)
            let shown = try screenTimes(screen)
            XCTAssertEqual(shown.layers.count, before.layers.count, screen)
            func agrees(_ value: Double, _ a: Double, _ b: Double) -> Bool {
                [a, b, (a + b) / 2].contains { abs(value / $0 - 1) <= 0.25 } || (min(a, b)...max(a, b)).contains(value)
            }
            var problems: [String] = []
            if !agrees(shown.total, before.total, after.total) {
                problems.append("the explorer's \(shown.total) ms against the benchmark's \(before.total) and \(after.total) ms")
            }
            for (index, ms) in shown.layers.enumerated() where index < before.layers.count && before.layers[index] >= before.total / 20 {
                if !agrees(ms, before.layers[index], after.layers[index]) {
                    problems.append("layer \(index): the explorer's \(ms) ms against the benchmark's \(before.layers[index]) and \(after.layers[index]) ms")
                }
            }
            if problems.isEmpty { return }
            disagreements.append(problems)
        }
        XCTFail("in three sittings: \(disagreements)")
    }

    /// The maps pane's picture rows as the screen shows them.
    private func mapsPicture(_ session: TmuxSession) throws -> [String] { try pictures(session).maps }

    private func waitForPicture(_ session: TmuxSession, unlike before: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let deadline = Date().addingTimeInterval(30)
        var now = try mapsPicture(session)
        while Date() < deadline && (now == before || now.joined().trimmingCharacters(in: .whitespaces).isEmpty) {
            usleep(100_000)
            now = try mapsPicture(session)
        }
        XCTAssertNotEqual(now, before, "the maps pane did not change", file: file, line: line)
        return now
    }

    func testExplainingShowsTheChosenClasssMapAndFollowsMethodAndClass() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute", "ch 0 min")
        let activations = try mapsPicture(session)
        try session.keys("e")
        try session.waitFor("why: gradcam of layer 19 for the top-1  malamute 14.18%", "evidence")
        let gradCAM = try waitForPicture(session, unlike: activations)
        try session.keys("2")
        try session.waitFor("why: gradcam of layer 19 for Newfoundland  Newfoundland 6.13%")
        let newfoundland = try waitForPicture(session, unlike: gradCAM)
        try session.keys("E", "E")
        try session.waitFor("why: gradient for Newfoundland  Newfoundland")
        _ = try waitForPicture(session, unlike: newfoundland)
        // Occlusion takes many passes: its progress shows, and keys are answered meanwhile.
        try session.keys("E", "E", "E", "E")
        try session.waitFor("computing occlusion…")
        try session.keys("j")
        try session.waitFor("computing occlusion", "  1  max ")
        try session.waitFor("why: occlusion for Newfoundland  Newfoundland", "evidence", timeout: 120)
        try session.keys("e")
        try session.waitFor("layer 1 max 112x112x16")
    }

    /// The rows between the maps pane's header (`layer ...`) and its status line in the
    /// channel views, as the screen shows them (the maps pane's 85 columns).
    private func channelPicture(_ session: TmuxSession) throws -> [String] {
        let lines = try session.screen().components(separatedBy: "\n")
        guard let header = lines.firstIndex(where: { $0.hasPrefix("layer ") }) else { return [] }
        let status = try NSRegularExpression(pattern: "^(activation|computing|indexing|reading|[0-9])")
        let end = lines[(header + 1)...].firstIndex { status.firstMatch(in: $0, range: NSRange($0.startIndex..., in: $0)) != nil } ?? lines.count
        return lines[(header + 1)..<end].map { String($0.prefix(85)) }
    }

    /// `w` draws what each channel of the layer looks for, channel by channel, answering keys
    /// meanwhile; a second look, and a second run, draw them at once from the caches. `x` shows
    /// the channel's map, picture and top images of the first image's folder, indexed meanwhile.
    func testChannelViewsShowWhatAChannelLooksForAndItsTopImages() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var environment = try realWeights()
        environment["XDG_CACHE_HOME"] = directory.path
        let session = try TmuxSession(command: binary + " --format ascii", columns: 120, rows: 36, environment: environment)
        try session.waitFor("malamute", "ch 0 min")
        try session.keys("j", "j", "j", "j", "j")
        try session.waitFor("layer 5 conv 56x56x128", "128 channels")
        let activations = try channelPicture(session)
        try session.keys("w")
        try session.waitFor("layer 5 conv 56x56x128: what channels 0-15 look for  ch 0", "/16 ready", "computing")
        try session.keys("l")
        try session.waitFor("look for  ch 1", "computing channel")
        try session.waitFor("16/16 ready", "activation maximization", timeout: 120)
        let looks = try channelPicture(session)
        XCTAssertNotEqual(looks, activations, "the pictures did not replace the maps")
        XCTAssertGreaterThan(Set(looks.joined()).count, 20, "the grid is blank:\n\(looks.joined(separator: "\n"))")
        try session.keys("w")
        try session.waitFor("128 channels", absent: ["look for"])
        try session.keys("w")
        try session.waitFor("16/16 ready", timeout: 2)
        XCTAssertEqual(try channelPicture(session), looks, "a second look drew other pictures")
        try session.keys("x")
        try session.waitFor("layer 5 conv 56x56x128 ch 1: map, looks for, top of assets/ (5 images)", ".jpg", timeout: 60)
        let examples = try channelPicture(session)
        XCTAssertNotEqual(examples, looks)
        XCTAssertNotEqual(examples, activations)
        try session.keys("q")
        try session.waitFor("EXITED 0")
        let again = try TmuxSession(command: binary + " --format ascii", columns: 120, rows: 36, environment: environment)
        try again.waitFor("malamute")
        try again.keys("j", "j", "j", "j", "j", "w")
        try again.waitFor("16/16 ready", timeout: 5)
    }

    func testHelpListsEveryKey() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        try session.keys("?")
        try session.waitFor("darkscope keys", "colormap: grayscale", "compare two images", "open an image by path")
        try session.keys("x")
        try session.waitFor("q quit")
    }

    func testWithoutWeightsItOpensOnRandomWeightsWithABanner() throws {
        let session = try TmuxSession(command: binary, environment: ["DARKSCOPE_WEIGHTS": ""])
        try session.waitFor("UNTRAINED", "pjreddie.com/media/files/tiny.weights", "BFLOPs", "q quit")
    }

    func testOpenPromptLoadsAnotherImage() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        try session.keys("o")
        try session.waitFor("open image")
        try session.keys("C-u")
        for _ in 0..<60 { try session.keys("BSpace") }
        try session.keys("assets/eag", "Tab", "Enter")
        try session.waitFor("eagle.jpg", "bald eagle")
    }

    func testUnusableTerminalsGetAClearMessage() throws {
        let piped = try darkscope("explore")
        XCTAssertNotEqual(piped.status, 0)
        XCTAssertFalse(piped.signalled)
        XCTAssertTrue(piped.stderr.contains("needs a terminal"), piped.stderr)

        let dumb = try TmuxSession(command: "\(binary)", environment: ["TERM": "dumb"])
        try dumb.waitFor("TERM=dumb cannot draw", "EXITED 1")

        let tiny = try TmuxSession(command: binary, columns: 15, rows: 8)
        try tiny.waitFor("terminal is too small (15x8)", "EXITED 1", unwrapped: true)
    }
}
