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

    func keys(_ keys: String...) throws {
        _ = try runProcess(tmux, ["-L", socket, "send-keys"] + keys)
    }

    /// A left click at a 0-based cell: xterm (X10) press and release reports typed into the pane.
    func click(row: Int, column: Int) throws {
        let cell = String(UnicodeScalar(UInt8(33 + column))) + String(UnicodeScalar(UInt8(33 + row)))
        for button in [" ", "#"] {
            _ = try runProcess(tmux, ["-L", socket, "send-keys", "-l", "\u{1B}[M" + button + cell])
        }
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
        XCTAssertFalse(screen.contains("winograd"), screen)
    }

    func testWinogradConvolutionsGiveTheSameTopFive() throws {
        let session = try TmuxSession(command: "\(binary) --convolution winograd", environment: realWeights())
        let screen = try session.waitFor("malamute", "BFLOPs", "winograd convolutions")
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

    func testResizingToTooSmallAndBackLeavesAValidScreen() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        try session.resize(columns: 60, rows: 20)
        try session.waitFor("terminal too small: 60x20")
        try session.resize(columns: 100, rows: 30)
        let screen = try session.waitFor("malamute", "BFLOPs", "q quit")
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

    func testCtrlCAndSigtermRestoreTheTerminal() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        try session.keys("C-c")
        let screen = try session.waitFor("EXITED", "BEFORE-DARKSCOPE", absent: ["BFLOPs"])
        XCTAssertTrue(screen.contains("EXITED 0"), screen)
        let again = try TmuxSession(command: binary, environment: realWeights())
        try again.waitFor("malamute")
        _ = try runProcess("/usr/bin/pkill", ["-TERM", "-f", "^\(Repo.binary)$"])
        try again.waitFor("EXITED", "BEFORE-DARKSCOPE", absent: ["BFLOPs"])
    }

    func testChangedFilesAreReloadedAndPredictionsFollow() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = directory.appendingPathComponent("photo.jpg").path
        let cfg = directory.appendingPathComponent("tiny.cfg").path
        try FileManager.default.copyItem(atPath: Repo.path("assets/dog.jpg"), toPath: image)
        try FileManager.default.copyItem(atPath: Repo.path("cfg/tiny.cfg"), toPath: cfg)
        let session = try TmuxSession(command: "\(binary) '\(cfg)' '\(image)'", environment: realWeights())
        try session.waitFor("malamute")
        // A new photo under the same name: the predictions follow.
        try FileManager.default.removeItem(atPath: image)
        try FileManager.default.copyItem(atPath: Repo.path("assets/eagle.jpg"), toPath: image)
        try session.waitFor("bald eagle", absent: ["malamute"])
        // The cfg changed on disk (a comment added): the network is reopened.
        let text = try String(contentsOfFile: cfg, encoding: .utf8)
        try (text + "\n# edited\n").write(toFile: cfg, atomically: true, encoding: .utf8)
        try session.waitFor("tiny.cfg with tiny.weights", "bald eagle")
    }

    func testHelpListsEveryKey() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        try session.keys("?")
        try session.waitFor("darkscope keys", "cycle colormaps", "compare two images", "open an image by path")
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
