import Foundation
import XCTest

/// The explorer's other networks (`m`, the networks view `N`) and Darknet's `visualize`
/// (`f`, `show --filters`), driven in tmux as a person would.
final class NetworksViewTests: XCTestCase {
    private var binary: String { "'\(Repo.binary)'" }

    private func realWeights() throws -> [String: String] { ["DARKSCOPE_WEIGHTS": try Repo.requireTinyWeights()] }

    /// The shipped cfg `m` opens after tiny.cfg: the next by name, wrapping around.
    /// The shipped cfg `m` opens after Tiny Darknet, relative to `cfg/` (AlexeyAB's come last).
    private func cfgAfterTiny() throws -> String {
        let names = try ModelsTests.shippedCfgs
        let tiny = try XCTUnwrap(names.firstIndex(of: "tiny.cfg"))
        return names[(tiny + 1) % names.count]
    }

    /// A copy of a shipped cfg in a folder of its own, with random weights beside it as NAME.weights.
    private func cfgWithWeights(_ name: String, seed: Int = 3) throws -> String {
        let folder = try Repo.temporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        let cfg = folder.appendingPathComponent("\(name).cfg").path
        try FileManager.default.copyItem(atPath: Repo.path("cfg/\(name).cfg"), toPath: cfg)
        let made = try darkscope("weights", "init", cfg, folder.appendingPathComponent("\(name).weights").path, "--seed", "\(seed)")
        XCTAssertEqual(made.status, 0, made.stderr)
        return cfg
    }

    private func titleLine(_ screen: String) -> String { screen.split(separator: "\n").first.map(String.init) ?? "" }

    func testMSwitchesToTheNextCfgAndBackKeepingTheImage() throws {
        let path = try cfgAfterTiny(), next = URL(fileURLWithPath: path).lastPathComponent
        let table = try darkscope("layers", Repo.path("cfg/\(path)"))
        let last = try XCTUnwrap(table.stdout.split(separator: "\n").compactMap { Int($0.split(separator: " ").first ?? "") }.last)
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute", "tiny.cfg")
        try session.keys("G")
        try session.waitFor("layer 21 softmax")
        try session.keys("m")
        // The other network is on random weights (none is shipped): its name and the banner,
        // the same image, and the selected layer clamped to its last.
        let switched = try session.waitFor(next, "UNTRAINED", "dog.jpg", "BFLOPs", "layer \(min(21, last)) ",
                                           absent: ["tiny.cfg"], timeout: 90)
        XCTAssertTrue(titleLine(switched).contains(next), switched)
        try session.waitFor("%", absent: ["computing…"], timeout: 90)
        try session.keys("M")
        let back = try session.waitFor("tiny.cfg", "tiny.weights", "malamute", "layer \(min(21, last)) ",
                                       absent: ["UNTRAINED", next, "computing…"], timeout: 90)
        XCTAssertTrue(back.contains("14.18%"), back)
    }

    func testNetworksViewShowsEveryNetworkWithWeightsSideBySide() throws {
        let squeezenet = try cfgWithWeights("squeezenet")
        let session = try TmuxSession(command: "\(binary) '\(squeezenet)' assets/dog.jpg", environment: realWeights())
        try session.waitFor("squeezenet.cfg", "squeezenet.weights", "BFLOPs", absent: ["computing…"], timeout: 60)
        try session.keys("N")
        // Tiny Darknet (DARKSCOPE_WEIGHTS) and the SqueezeNet copy (weights beside it); the
        // shipped cfgs have no weights, so they are left out.
        let screen = try session.waitFor("networks on dog.jpg", "tiny.cfg", "squeezenet.cfg", "malamute",
                                         absent: ["computing…"], timeout: 90)
        let times = screen.components(separatedBy: " ms").count - 1
        XCTAssertEqual(times, 2, "two networks, each with its forward time:\n\(screen)")
        XCTAssertFalse(screen.contains("untrained"), screen)
        XCTAssertFalse(screen.contains("alexnet.cfg"), screen)
        XCTAssertTrue(screen.contains("14.18% malamute"), screen)
        try session.keys("N")
        try session.waitFor("BFLOPs", "q quit", absent: ["networks on"])
    }

    func testNetworksViewWithoutAnyWeightsRunsThemAllUntrained() throws {
        let session = try TmuxSession(command: binary, columns: 160, rows: 40, environment: ["DARKSCOPE_WEIGHTS": ""])
        try session.waitFor("UNTRAINED", "BFLOPs")
        try session.keys("N")
        let screen = try session.waitFor("no network has weights", "tiny.cfg", "squeezenet.cfg", "untrained", " ms", timeout: 60)
        XCTAssertTrue(screen.contains("tiny.cfg"), screen)
        try session.keys("Escape")
        try session.waitFor("BFLOPs", absent: ["networks on"])
    }

    func testFiltersViewShowsTinyDarknetsSixteenFirstLayerFilters() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        try session.keys("f")
        try session.waitFor("layer 0 conv weights  16 filters 3x3x3", "Darknet's visualize")
        try session.keys("f")
        try session.waitFor("layer 0 conv 224x224x16", "16 channels", absent: ["16 filters"])
    }

    func testHelpListsTheNetworkAndFilterKeys() throws {
        let session = try TmuxSession(command: binary, environment: realWeights())
        try session.waitFor("malamute")
        try session.keys("?")
        try session.waitFor("next / previous network", "networks view", "first convolutional layer's")
        try session.keys("x")
        try session.waitFor("q quit")
    }

    func testShowFiltersWritesAFourByFourGridOfSixteenTiles() throws {
        let folder = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let weights = folder.appendingPathComponent("tiny.weights").path
        XCTAssertEqual(try darkscope("weights", "init", Repo.path("cfg/tiny.cfg"), weights).status, 0)
        let png = folder.appendingPathComponent("filters.png").path
        let result = try darkscope("show", Repo.path("cfg/tiny.cfg"), weights, "--filters", "--png", png, "--format", "ascii")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertFalse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        // 16 filters of 3x3 weights, each weight 8 pixels (about 24 a filter), 2 pixels between
        // them: 4 x 24 + 3 x 2 = 102 pixels both ways, already a whole number of sixel bands.
        let header = try XCTUnwrap(FileManager.default.contents(atPath: png))
        XCTAssertEqual(Array(header.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        func bigEndian(_ offset: Int) -> Int { header[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) } }
        let tile = 3 * 8, gap = 2
        XCTAssertEqual(bigEndian(16), 4 * tile + 3 * gap)
        XCTAssertEqual(bigEndian(20), 4 * tile + 3 * gap)

        let ascii = try darkscope("show", Repo.path("cfg/tiny.cfg"), weights, "--filters", "--format", "ascii", "--colors", "none")
        XCTAssertEqual(ascii.status, 0, ascii.stderr)
        let lines = ascii.stdout.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        XCTAssertGreaterThan(lines.count, 5, ascii.stdout)
        XCTAssertTrue(ascii.stdout.unicodeScalars.allSatisfy { $0.isASCII }, ascii.stdout)

        // Without --filters, an image and --layer are still required.
        let missing = try darkscope("show", Repo.path("cfg/tiny.cfg"), weights, Repo.path("assets/dog.jpg"))
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("--layer"), missing.stderr)
    }
}
