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

    /// The 8-bit RGBA pixels of an image file ImageMagick reads (`format:path`), and its size.
    private func rgba(_ image: String, in directory: URL) throws -> (width: Int, height: Int, pixels: Data) {
        let size = try runProcess(Self.convert, [image, "-format", "%w %h", "info:"])
        let numbers = size.stdout.split(separator: " ").compactMap { Int($0) }
        guard size.status == 0, numbers.count == 2 else { throw DarknetTestError("ImageMagick cannot read \(image): \(size.stderr)") }
        let raw = directory.appendingPathComponent("\(UUID().uuidString).rgba").path
        let converted = try runProcess(Self.convert, [image, "-depth", "8", "rgba:\(raw)"])
        guard converted.status == 0 else { throw DarknetTestError("ImageMagick cannot convert \(image): \(converted.stderr)") }
        return (numbers[0], numbers[1], try Data(contentsOf: URL(fileURLWithPath: raw)))
    }

    /// `show --format MODE --png` for three views, each with the PNG's pixels.
    private func shownWithPNG(_ mode: String, in directory: URL) throws -> [(view: [String], shown: String, png: (width: Int, height: Int, pixels: Data))] {
        let weights = directory.appendingPathComponent("tiny.weights").path
        XCTAssertEqual(try darkscope("weights", "init", Repo.path("cfg/tiny.cfg"), weights, "--seed", "3").status, 0)
        return try [["--layer", "0", "--channel", "3"], ["--layer", "5", "--grid"], ["--layer", "19", "--channel", "7"]].map { view in
            let png = directory.appendingPathComponent("\(mode)\(view[1]).png").path
            let shown = try runProcess(Repo.binary, ["show", Repo.path("cfg/tiny.cfg"), weights, Repo.path("assets/dog.jpg"),
                                                     "--format", mode, "--png", png] + view)
            XCTAssertEqual(shown.status, 0, shown.stderr)
            return (view, shown.stdout.hasSuffix("\n") ? String(shown.stdout.dropLast()) : shown.stdout, try rgba(png, in: directory))
        }
    }

    /// kitty's graphics commands `ESC _ G keys ; payload ESC \`, as (keys, payload).
    private func kittyCommands(_ text: String) -> [(keys: [String: String], payload: String)] {
        text.components(separatedBy: "\u{1B}\\").dropLast().map { command in
            let body = command.hasPrefix("\u{1B}_G") ? String(command.dropFirst(3)) : "not a kitty command: \(command.prefix(20))"
            let parts = body.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
            let keys = Dictionary(parts[0].split(separator: ",").map { pair in
                let field = pair.split(separator: "=", maxSplits: 1)
                return (String(field[0]), field.count > 1 ? String(field[1]) : "")
            }, uniquingKeysWith: { _, last in last })
            return (keys, parts.count > 1 ? String(parts[1]) : "")
        }
    }

    /// The kitty picture `show` prints is RGBA transmitted in base64 chunks (m=1 ... m=0),
    /// quietly (q=2), at its own size, and its pixels are the PNG's, byte for byte (alpha too:
    /// libchafa 1.12 miscodes each chunk's last byte unless darkscope repairs it).
    func testKittyPayloadDecodesToThePNGPicture() throws {
        try requireImageMagick()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for (view, shown, png) in try shownWithPNG("kitty", in: directory) {
            let commands = kittyCommands(shown)
            XCTAssertGreaterThan(commands.count, 3, "\(view): header, chunks, end")
            guard let header = commands.first, let end = commands.last else { continue }
            XCTAssertEqual(header.keys["a"], "T", "transmit and display")
            XCTAssertEqual(header.keys["f"], "32", "RGBA")
            XCTAssertEqual(header.keys["s"].flatMap { Int($0) }, png.width)
            XCTAssertEqual(header.keys["v"].flatMap { Int($0) }, png.height)
            XCTAssertNil(header.keys["c"], "at its own size, not scaled to cells")
            XCTAssertEqual(header.keys["m"], "1")
            XCTAssertEqual(end.keys["m"], "0")
            XCTAssertEqual(end.payload, "")
            XCTAssertTrue(commands.allSatisfy { $0.keys["q"] == "2" }, "every command quiet")
            let chunks = commands.dropFirst().dropLast()
            XCTAssertTrue(chunks.allSatisfy { $0.keys["m"] == "1" && !$0.payload.isEmpty })
            var pixels = Data()
            for chunk in chunks {
                guard let decoded = Data(base64Encoded: chunk.payload) else { return XCTFail("\(view): a chunk is not base64: \(chunk.payload.prefix(40))") }
                pixels.append(decoded)
            }
            XCTAssertEqual(pixels.count, png.width * png.height * 4, "\(view)")
            XCTAssertTrue(pixels == png.pixels, "\(view): \(zip(pixels, png.pixels).filter { $0 != $1 }.count) bytes differ from the PNG's")
        }
    }

    /// The iTerm2 picture `show` prints is an image file in base64 (libchafa writes a TIFF),
    /// inline, at its own size in pixels, whose pixels are the PNG's.
    func testITerm2PayloadDecodesToThePNGPicture() throws {
        try requireImageMagick()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for (view, shown, png) in try shownWithPNG("iterm2", in: directory) {
            let prefix = "\u{1B}]1337;File="
            XCTAssertTrue(shown.hasPrefix(prefix), "an OSC 1337 File sequence")
            XCTAssertTrue(shown.hasSuffix("\u{07}"), "ended by BEL")
            let body = shown.dropFirst(prefix.count).dropLast()
            guard let colon = body.firstIndex(of: ":") else { return XCTFail("\(view): no payload") }
            let arguments = Set(body[..<colon].split(separator: ";").map(String.init))
            XCTAssertTrue(arguments.isSuperset(of: ["inline=1", "width=\(png.width)px", "height=\(png.height)px"]), "\(arguments)")
            guard let file = Data(base64Encoded: String(body[body.index(after: colon)...])) else { return XCTFail("\(view): payload is not base64") }
            let path = directory.appendingPathComponent("iterm2\(view[1]).tiff")
            try file.write(to: path)
            let decoded = try rgba("tiff:\(path.path)", in: directory)
            XCTAssertEqual(decoded.width, png.width)
            XCTAssertEqual(decoded.height, png.height)
            XCTAssertTrue(decoded.pixels == png.pixels, "\(view): \(zip(decoded.pixels, png.pixels).filter { $0 != $1 }.count) bytes differ from the PNG's")
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
