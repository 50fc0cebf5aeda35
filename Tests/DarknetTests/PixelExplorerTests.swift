import Foundation
import XCTest

/// The explorer drawing kitty and iTerm2 pictures. tmux passes neither through, so the
/// explorer runs under `script` inside the tmux pane: the pane is its terminal (keys, mouse,
/// resizes) and `script` records every byte it writes, pictures included.
final class PixelExplorerTests: XCTestCase {
    /// Drives the explorer in `mode` through layer changes, a click, resizes and the help
    /// screen, then quits; returns what it wrote.
    private func recordedSession(_ mode: String) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            throw DarknetTestError("script(1) is missing: Debian's essential bsdutils package has it")
        }
        let weights = try Repo.requireTinyWeights()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("\(mode).log").path
        let session = try TmuxSession(command: "script -q -f -e -c \"'\(Repo.binary)' --format \(mode)\" '\(log)'",
                                      environment: ["DARKSCOPE_WEIGHTS": weights])
        try session.waitFor("malamute", "layer 0 conv 224x224x16")
        try session.keys("j", "j")
        try session.waitFor("layer 2 conv 112x112x32")
        // Row 5 of the screen is layer 3's row: the mouse works under pictures' modes too.
        try session.click(row: 5, column: 10)
        try session.waitFor("layer 3 max 56x56x32")
        try session.resize(columns: 120, rows: 36)
        try session.waitFor("layer 3 max 56x56x32", "q quit")
        try session.resize(columns: 100, rows: 30)
        try session.keys("l")
        try session.waitFor("ch 1 min")
        try session.keys("?")
        try session.waitFor("darkscope keys")
        try session.keys("x")
        try session.waitFor("q quit")
        try session.keys("q")
        try session.waitFor("EXITED 0")
        return String(decoding: try Data(contentsOf: URL(fileURLWithPath: log)), as: UTF8.self)
    }

    /// Every kitty picture is deleted by its id before the next screen's are drawn (kitty
    /// keeps an image over whatever text is written there), and none is left after `q`.
    func testKittyPicturesAreDeletedWhenTheScreenChanges() throws {
        let output = try recordedSession("kitty")
        var onScreen: Set<String> = [], transmitted: Set<String> = [], batches = 0
        // Each drawing of pictures ends by restoring the cursor (ESC 8).
        for batch in output.components(separatedBy: "\u{1B}8") {
            var first = true
            for command in batch.components(separatedBy: "\u{1B}_G").dropFirst() {
                let keys = Dictionary(command.prefix { $0 != ";" && $0 != "\u{1B}" }.split(separator: ",").map { pair in
                    let field = pair.split(separator: "=", maxSplits: 1)
                    return (String(field[0]), field.count > 1 ? String(field[1]) : "")
                }, uniquingKeysWith: { _, last in last })
                XCTAssertEqual(keys["q"], "2", "quiet: \(command.prefix(60).debugDescription)")
                switch keys["a"] {
                case "T":
                    guard let id = keys["i"] else { XCTFail("a picture without an id"); continue }
                    XCTAssertNotNil(keys["c"], "scaled to cells")
                    XCTAssertNotNil(keys["r"], "scaled to cells")
                    if first { XCTAssertEqual(onScreen, [], "drawn over pictures not deleted"); batches += 1 }
                    first = false
                    onScreen.insert(id)
                    transmitted.insert(id)
                case "d":
                    XCTAssertEqual(keys["d"], "I", "the image deleted with its data")
                    guard let id = keys["i"] else { XCTFail("a deletion without an id"); continue }
                    XCTAssertTrue(onScreen.contains(id), "deletes \(id), which is not on the screen")
                    onScreen.remove(id)
                default: break
                }
            }
        }
        XCTAssertEqual(onScreen, [], "pictures left on the screen after q")
        XCTAssertGreaterThanOrEqual(batches, 5, "pictures drawn for the first screen, two layers, a resize and a channel")
        XCTAssertGreaterThanOrEqual(transmitted.count, 5)
    }

    /// A crash (SIGSEGV) deletes every kitty picture before leaving the alternate screen.
    func testACrashLeavesNoKittyPicture() throws {
        let weights = try Repo.requireTinyWeights()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("crash.log").path
        let session = try TmuxSession(command: "script -q -f -e -c \"'\(Repo.binary)' --format kitty\" '\(log)'",
                                      environment: ["DARKSCOPE_WEIGHTS": weights])
        try session.waitFor("malamute", "layer 0 conv 224x224x16")
        let found = try runProcess("/usr/bin/pgrep", ["-f", "^\(Repo.binary) --format kitty$"]).stdout.split(separator: "\n")
        let pid = try XCTUnwrap(found.first.flatMap { Int32($0) }, "the explorer's process")
        XCTAssertEqual(kill(pid, SIGSEGV), 0)
        try session.waitFor("EXITED")
        let output = String(decoding: try Data(contentsOf: URL(fileURLWithPath: log)), as: UTF8.self)
        let lastPicture = try XCTUnwrap(output.range(of: "\u{1B}_Ga=T,", options: .backwards), "a kitty picture was drawn")
        let deletion = try XCTUnwrap(output.range(of: "\u{1B}_Ga=d,d=A,q=2\u{1B}\\", options: .backwards), "the crash deletes the pictures")
        let leaving = try XCTUnwrap(output.range(of: "\u{1B}[?1049l", options: .backwards), "the crash leaves the alternate screen")
        XCTAssertLessThan(lastPicture.lowerBound, deletion.lowerBound)
        XCTAssertLessThan(deletion.lowerBound, leaving.lowerBound)
    }

    /// iTerm2 pictures are inline files scaled to their cells, each a decodable image.
    func testITerm2PicturesAreInlineFilesScaledToCells() throws {
        let output = try recordedSession("iterm2")
        let pictures = output.components(separatedBy: "\u{1B}]1337;File=").dropFirst()
        XCTAssertGreaterThanOrEqual(pictures.count, 5)
        for picture in pictures {
            guard let colon = picture.firstIndex(of: ":"), let bell = picture.firstIndex(of: "\u{07}") else { XCTFail("unterminated"); continue }
            let arguments = picture[..<colon].split(separator: ";")
            XCTAssertTrue(arguments.contains("inline=1"))
            XCTAssertTrue(arguments.contains { $0.hasPrefix("width=") && Int($0.dropFirst(6)) != nil }, "width in cells: \(arguments)")
            let file = Data(base64Encoded: String(picture[picture.index(after: colon)..<bell]))
            XCTAssertEqual(file?.prefix(4), Data([0x49, 0x49, 0x2A, 0x00]), "a little-endian TIFF")
        }
    }
}
