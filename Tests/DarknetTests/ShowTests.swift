import Foundation
import XCTest

/// `darkscope show`: the explorer's renderer on stdout, checked by decoding what it prints.
final class ShowTests: XCTestCase {
    static let convert = "/usr/bin/convert", compare = "/usr/bin/compare"

    private func requireImageMagick() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.convert) else {
            if Repo.isCI { throw DarknetTestError("ImageMagick is missing; scripts/setup-debian installs it") }
            throw XCTSkip("ImageMagick is not installed (apt-get install imagemagick)")
        }
    }

    /// The sixel `show` prints decodes (ImageMagick reads sixel) to the picture `--png` writes,
    /// but for the sixel palette's quantisation.
    func testSixelDecodesToThePNGPicture() throws {
        try requireImageMagick()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = directory.appendingPathComponent("tiny.weights").path
        XCTAssertEqual(try darkscope("weights", "init", Repo.path("cfg/tiny.cfg"), weights, "--seed", "3").status, 0)
        for view in [["--layer", "0", "--channel", "3"], ["--layer", "5", "--grid"], ["--layer", "19", "--channel", "7"]] {
            let png = directory.appendingPathComponent("map\(view[1]).png").path
            let shown = try runProcess(Repo.binary, ["show", Repo.path("cfg/tiny.cfg"), weights, Repo.path("assets/dog.jpg"),
                                                     "--format", "sixel", "--png", png] + view)
            XCTAssertEqual(shown.status, 0, shown.stderr)
            XCTAssertTrue(shown.stdout.hasPrefix("\u{1B}P"), "a sixel starts with DCS")
            let sixel = directory.appendingPathComponent("map\(view[1]).six").path
            try Data(shown.stdout.utf8).write(to: URL(fileURLWithPath: sixel))
            let decoded = directory.appendingPathComponent("decoded\(view[1]).png").path
            let converted = try runProcess(Self.convert, ["sixel:\(sixel)", decoded])
            XCTAssertEqual(converted.status, 0, converted.stderr)
            let sizes = try runProcess(Self.convert, [png, decoded, "-format", "%wx%h\n", "info:"]).stdout.split(separator: "\n")
            XCTAssertEqual(sizes.count, 2)
            XCTAssertEqual(sizes.first, sizes.last, "same size: \(sizes)")
            // compare prints "absolute (normalised)" RMSE on stderr and exits 1 when they differ at all.
            let difference = try runProcess(Self.compare, ["-metric", "RMSE", png, decoded, "null:"]).stderr
            let normalised = difference.split(separator: "(").last.flatMap { Double($0.prefix { $0 != ")" }) }
            XCTAssertNotNil(normalised, difference)
            XCTAssertLessThan(normalised ?? 1, 0.03, "\(view): RMSE \(difference)")
        }
    }

    func testSymbolsAndAsciiFillTheRequestedWidth() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = directory.appendingPathComponent("tiny.weights").path
        XCTAssertEqual(try darkscope("weights", "init", Repo.path("cfg/tiny.cfg"), weights, "--seed", "3").status, 0)
        let ascii = try darkscope("show", Repo.path("cfg/tiny.cfg"), weights, Repo.path("assets/dog.jpg"), "--layer", "2",
                                  "--format", "ascii", "--colors", "none", "--width", "40")
        XCTAssertEqual(ascii.status, 0, ascii.stderr)
        let rows = ascii.stdout.split(separator: "\n").map { $0.replacingOccurrences(of: "\u{1B}[0m", with: "") }
        XCTAssertGreaterThan(rows.count, 5)
        XCTAssertTrue(rows.allSatisfy { $0.count == 40 && $0.allSatisfy(\.isASCII) }, ascii.stdout)
        let symbols = try darkscope("show", Repo.path("cfg/tiny.cfg"), weights, Repo.path("assets/dog.jpg"), "--layer", "2",
                                    "--format", "symbols", "--colors", "256", "--width", "40")
        XCTAssertEqual(symbols.status, 0, symbols.stderr)
        XCTAssertTrue(symbols.stdout.contains("\u{1B}[38;5;"), "256-colour escapes")
        XCTAssertTrue(symbols.stdout.unicodeScalars.contains { $0.value >= 0x2580 }, "block symbols")
    }
}
