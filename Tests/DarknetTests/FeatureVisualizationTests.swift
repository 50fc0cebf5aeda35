import Darknet
import Foundation
import XCTest

/// Activation maximization with the real Tiny Darknet: the pictures excite what they were
/// made for more than photos do, and a seed fixes them.
final class FeatureVisualizationTests: XCTestCase {
    static let photos = ["dog", "eagle", "giraffe", "horses", "kite"]

    private func tiny() throws -> Network {
        var network = try Network(cfg: Repo.path("cfg/tiny.cfg"))
        try network.loadWeights(path: try Repo.requireTinyWeights())
        return network
    }

    /// For a channel of an early, a middle and a late layer, and for a class's logit: the
    /// optimized picture's value is several times the largest any of the five photos gives.
    func testPicturesExciteTheirTargetSeveralTimesMoreThanAnyPhoto() throws {
        let network = try tiny()
        var settings = FeatureVisualizationSettings()
        settings.steps = 64
        let visualizer = FeatureVisualizer(network: network, settings: settings)
        let photos = try Self.photos.map {
            try network.originalImage(from: Repo.path("assets/\($0).jpg")).letterboxed(width: 224, height: 224)
        }
        // Early layers' channels see a few pixels each: photos already hold their patterns in many
        // places, and the input's range bounds them (layer 0: 3.5 times; layer 2's best 2.7).
        let targets: [Objective] = [.channelMean(layer: 0, channel: 3), .channelMean(layer: 10, channel: 7),
                                        .channelMean(layer: 18, channel: 7), .logit(class: 14)]
        for target in targets {
            let picture = try XCTUnwrap(try visualizer.pictures(for: [target]).first)
            XCTAssertTrue(picture.values.allSatisfy { (0...1).contains($0) }, "\(target): values leave [0, 1]")
            let optimized = try visualizer.excitation(of: [target], in: [picture])[0]
            let best = try visualizer.excitation(of: [target], in: photos).max()!
            XCTAssertGreaterThan(best, 0, "\(target)")
            XCTAssertGreaterThan(optimized, 3 * best, "\(target): the picture gives \(optimized), a photo \(best)")
        }
    }

    /// The same seed and settings give the same picture, whatever else shares its batch;
    /// another seed gives another.
    func testTheSeedFixesThePicture() throws {
        let network = try tiny()
        var settings = FeatureVisualizationSettings()
        settings.steps = 8
        let target = Objective.channelMean(layer: 5, channel: 3)
        let alone = try FeatureVisualizer(network: network, settings: settings).pictures(for: [target])[0]
        let again = try FeatureVisualizer(network: network, settings: settings).pictures(for: [target])[0]
        XCTAssertEqual(alone, again)
        let batched = try FeatureVisualizer(network: network, settings: settings)
            .pictures(for: [.channelMean(layer: 5, channel: 9), target])[1]
        XCTAssertEqual(alone, batched)
        settings.seed = 2
        let other = try FeatureVisualizer(network: network, settings: settings).pictures(for: [target])[0]
        XCTAssertNotEqual(alone, other)
    }

    /// `visualize` as a person runs it: a PNG at the input's size, or a picture on stdout;
    /// bad targets refused in one line.
    func testVisualizeWritesAPictureAndRefusesBadTargets() throws {
        let weights = try Repo.requireTinyWeights()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let png = directory.appendingPathComponent("channel.png").path
        let written = try darkscope("visualize", Repo.path("cfg/tiny.cfg"), weights, "--layer", "7", "--channel", "2",
                                    "--steps", "4", "--png", png)
        XCTAssertEqual(written.status, 0, written.stderr)
        XCTAssertTrue(written.stderr.hasPrefix("layer 7 channel 2: "), written.stderr)
        let data = try Data(contentsOf: URL(fileURLWithPath: png))
        let size = [16, 20].map { at in data[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        XCTAssertEqual(size, [224, 224])
        let drawn = try darkscope("visualize", Repo.path("cfg/tiny.cfg"), weights, "--class", "malamute", "--steps", "2",
                                  "--format", "ascii", "--colors", "none", "--width", "30")
        XCTAssertEqual(drawn.status, 0, drawn.stderr)
        let rows = drawn.stdout.split(separator: "\n").map { $0.replacingOccurrences(of: "\u{1B}[0m", with: "") }
        XCTAssertGreaterThan(rows.count, 5)
        XCTAssertTrue(rows.allSatisfy { $0.count == 30 && $0.allSatisfy(\.isASCII) }, drawn.stdout)
        let cases: [([String], String)] = [
            (["--layer", "22", "--channel", "0"], "layer 22 does not exist"),
            (["--layer", "5", "--channel", "128"], "layer 5 has channels 0...127, not 128"),
            (["--class", "malamut"], "did you mean 'malamute'?"),
            (["--layer", "5"], "give --channel (with --layer) or --class"),
            (["--layer", "5", "--channel", "1", "--png", png], "already exists"),
        ]
        for (options, message) in cases {
            let run = try runProcess(Repo.binary, ["visualize", Repo.path("cfg/tiny.cfg"), weights, "--steps", "1"] + options)
            XCTAssertNotEqual(run.status, 0, "\(options)")
            XCTAssertFalse(run.signalled, "\(options)")
            XCTAssertTrue(run.stderr.contains(message), "\(options): \(run.stderr)")
            XCTAssertEqual(run.stdout, "", "\(options)")
        }
    }

    /// Nightmare's turn between rounds is Darknet's `rotate_image`: black in the corners the
    /// turned photo leaves (not its edges extended), and each pixel within a float rounding of
    /// Debian's (built with -Ofast, which regroups the sums).
    func testTheRotationBetweenRoundsIsDarknets() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = Repo.path("assets/eagle.jpg")
        let photo = try Oracle.image(path, in: directory)
        for radians: Float in [0.1, -0.45] {
            let theirs = try Oracle.rotated(path, radians: radians, in: directory), ours = photo.rotated(radians: radians)
            let worst = zip(ours.values, theirs.values).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 2.5e-7, "\(radians) radians: a pixel differs from Darknet's")
            XCTAssertEqual(theirs[0, 0, 0], 0, "\(radians) radians: Darknet's corner is not black")
            XCTAssertEqual(ours[0, 0, 0], 0, "\(radians) radians: the corner the photo left is not black")
        }
    }

    /// `nightmare` with Darknet's options on Tiny Darknet: one PNG a round, named as Darknet
    /// names them, at the image's size, changed from the photo and the same on a second run;
    /// files it would write over, layers out of range and octaves that shrink the image to
    /// nothing refused before any work.
    func testNightmareWritesEachRoundWithDarknetsOptions() throws {
        let weights = try Repo.requireTinyWeights()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let photo = Repo.path("assets/eagle.jpg")
        let options = ["--rounds", "2", "--iters", "3", "--octaves", "2", "--range", "3", "--rate", "0.05", "--thresh", "0.5",
                       "--zoom", "0.9", "--rotate", "0.1"]
        let run = try runProcess(Repo.binary, ["nightmare", Repo.path("cfg/tiny.cfg"), weights, photo, "9"] + options,
                                 currentDirectory: directory.path)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, "0 eagle_tiny_9_000000.png\n1 eagle_tiny_9_000001.png\n")
        let original = try Image(contentsOf: photo)
        var rounds: [Image] = []
        for round in 0..<2 {
            let dreamt = try Image(contentsOf: directory.appendingPathComponent("eagle_tiny_9_00000\(round).png").path)
            XCTAssertEqual([dreamt.width, dreamt.height], [original.width, original.height])
            let change = zip(dreamt.values, original.values).reduce(0) { $0 + abs($1.0 - $1.1) } / Float(original.values.count)
            XCTAssertGreaterThan(change, 0.01, "round \(round) barely changed the photo")
            rounds.append(dreamt)
        }
        let elsewhere = directory.appendingPathComponent("again").path
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: false)
        let again = try runProcess(Repo.binary, ["nightmare", Repo.path("cfg/tiny.cfg"), weights, photo, "9", "--prefix", elsewhere] + options)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try Image(contentsOf: elsewhere + "/eagle_tiny_9_000001.png"), rounds[1], "the same options gave another picture")
        let refusals: [([String], String)] = [
            (["9", "--prefix", elsewhere], "already exists"),
            (["22"], "layer 22 does not exist"),
            (["0", "--range", "3"], "a range of 3 layers around layer 0 leaves the network's layers 0...21"),
            (["8", "--octaves", "40"], "40 octaves scale the"),
            (["8", "--range", "\(Int.max)"], "a range of \(Int.max) layers around layer 8 leaves"),
        ]
        for (arguments, message) in refusals {
            let refused = try runProcess(Repo.binary, ["nightmare", Repo.path("cfg/tiny.cfg"), weights, photo] + arguments,
                                         currentDirectory: directory.path)
            XCTAssertNotEqual(refused.status, 0, "\(arguments)")
            XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, "\(arguments): \(refused.stderr)")
            XCTAssertTrue(refused.stderr.contains(message), "\(arguments): \(refused.stderr)")
        }
    }
}
