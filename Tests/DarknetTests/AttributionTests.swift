import Darknet
import Foundation
import XCTest

/// Attribution maps against the sanity checks of Adebayo et al., "Sanity checks for saliency
/// maps" (2018), with the real Tiny Darknet on the dog; and `darkscope explain` as a person runs it.
final class AttributionTests: XCTestCase {
    /// The dog in assets/dog.jpg (768x576), in image pixels, chosen by looking at the photo:
    /// from its tail and left flank to its right forepaw, from the top of its ears to its tail's tip.
    static let dog = (left: 130.0, top: 220.0, right: 310.0, bottom: 540.0)
    static let photo = (width: 768.0, height: 576.0)

    /// Settings cheap enough for a test (fewer samples, steps and patches than the defaults).
    static var cheap: AttributionSettings {
        var settings = AttributionSettings()
        settings.samples = 6
        settings.steps = 8
        settings.patch = 32
        settings.stride = 32
        return settings
    }

    private struct Subject {
        var network: Network
        var input: Image
        var letterbox: Letterbox
        var names: [String]

        func map(_ method: AttributionMethod, _ name: String, network other: Network? = nil) throws -> AttributionMap {
            let index = try XCTUnwrap(names.firstIndex(of: name))
            return try Attributor(network: other ?? network).map(
                AttributionRequest(method: method, classIndex: index, settings: AttributionTests.cheap),
                input: input, letterbox: letterbox)
        }
    }

    /// Each method's map for malamute with the trained weights, made once for every test.
    nonisolated(unsafe) private static var malamuteMaps: [AttributionMethod: AttributionMap] = [:]

    private func malamute(_ method: AttributionMethod, _ subject: Subject) throws -> AttributionMap {
        if let map = Self.malamuteMaps[method] { return map }
        let map = try subject.map(method, "malamute")
        Self.malamuteMaps[method] = map
        return map
    }

    private func tinyOnTheDog() throws -> Subject {
        var network = try Network(cfg: Repo.path("cfg/tiny.cfg"))
        try network.loadWeights(path: try Repo.requireTinyWeights())
        let image = try network.originalImage(from: Repo.path("assets/dog.jpg"))
        let names = try String(contentsOfFile: Repo.path("assets/imagenet1k.names"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        return Subject(network: network, input: image.letterboxed(width: 224, height: 224),
                       letterbox: network.letterbox(for: image), names: names)
    }

    /// The share of the map's positive mass inside the dog's box, and the box's share of the map's cells.
    static func massOnTheDog(_ map: AttributionMap) -> (mass: Double, share: Double) {
        var inside = 0.0, total = 0.0, cells = 0
        for r in 0..<map.rows {
            for c in 0..<map.cols {
                let x = (Double(c) + 0.5) * photo.width / Double(map.cols), y = (Double(r) + 0.5) * photo.height / Double(map.rows)
                let onDog = x >= dog.left && x < dog.right && y >= dog.top && y < dog.bottom
                let mass = Double(max(map[r, c], 0))
                total += mass
                if onDog {
                    inside += mass
                    cells += 1
                }
            }
        }
        return (total > 0 ? inside / total : 0, Double(cells) / Double(map.rows * map.cols))
    }

    /// Every method's map for malamute puts at least 1.5 times the dog's share of the picture
    /// on the dog (its box covers 13-16 % of the cells), and covers the original image in its
    /// proportions (4:3) with finite values.
    func testEveryMethodFindsTheMalamuteOnTheDog() throws {
        let subject = try tinyOnTheDog()
        for method in AttributionMethod.allCases {
            let map = try malamute(method, subject)
            XCTAssertEqual(map.values.count, map.rows * map.cols)
            XCTAssertEqual(Double(map.cols) / Double(map.rows), 4.0 / 3.0, accuracy: 0.15, "\(method): \(map.rows)x\(map.cols)")
            XCTAssertTrue(map.values.allSatisfy(\.isFinite), "\(method)")
            XCTAssertEqual(map.probability, 0.1418, accuracy: 0.001, "\(method): malamute's probability")
            let (mass, share) = Self.massOnTheDog(map)
            XCTAssertGreaterThan(mass, 1.5 * share, "\(method): \(mass) of the mass on the dog, which covers \(share)")
            print("\(method): \(String(format: "%.3f", mass)) of the mass on the dog (\(String(format: "%.3f", share)) of the picture)")
        }
        // Gradient maps cover the image at the input's resolution: the 224x168 letterboxed photo.
        let gradient = try malamute(.gradient, subject)
        XCTAssertEqual([gradient.rows, gradient.cols], [168, 224])
        XCTAssertNil(gradient.layer)
        XCTAssertEqual(try malamute(.gradCAM, subject).layer, 19, "the last convolution at least 7x7")
    }

    /// Cascading randomization (Adebayo et al. §3.1): the trained weights replaced by random
    /// ones layer by layer from the top. Each map's rank correlation with the trained map
    /// falls from 1 (the trained weights loaded the same way give the same map): below 0.9
    /// from the top layer on, and below 0.5 in magnitude once every layer is random.
    func testMapsChangeAsTheWeightsAreRandomizedFromTheTop() throws {
        let subject = try tinyOnTheDog()
        var random = subject.network
        try random.randomize(seed: 5)
        let trained = subject.network.parameters, randomized = random.parameters
        // Where each layer's parameters start in `parameters`.
        var starts: [Int] = [], offset = 0
        for layer in subject.network.layers {
            starts.append(offset)
            offset += layer.parameterCount
        }
        let withParameters = subject.network.layers.indices.filter { subject.network.layers[$0].parameterCount > 0 }
        // Random from the top layer, from the top four, and all; none first, as the control.
        let cascade = [0, 1, 4, withParameters.count].map { Array(withParameters.suffix($0)) }
        var cascaded: [Network] = []
        for layers in cascade {
            var values = trained
            let first = layers.first.map { starts[$0] } ?? trained.count
            values.replaceSubrange(first..., with: randomized[first...])
            var network = subject.network
            try network.load(WeightsFile(path: "cascade from layer \(layers.first ?? -1)", header: WeightsHeader(), values: values))
            cascaded.append(network)
        }
        let control = try spearman(malamute(.gradient, subject).values, subject.map(.gradient, "malamute", network: cascaded[0]).values)
        XCTAssertGreaterThan(control, 0.999, "the trained weights reloaded")
        for method in AttributionMethod.allCases {
            let reference = try malamute(method, subject)
            let correlations = try cascaded.dropFirst().map { try spearman(reference.values, subject.map(method, "malamute", network: $0).values) }
            print("\(method): rank correlation with the trained map, randomized from layers \(cascade.dropFirst().map { $0.first! }): \(correlations.map { String(format: "%.3f", $0) })")
            XCTAssertTrue(correlations.allSatisfy { $0 < 0.9 }, "\(method): \(correlations)")
            XCTAssertLessThan(abs(correlations.last!), 0.5, "\(method): \(correlations)")
        }
    }

    /// Maps for malamute and for mountain bike on the same image differ: rank correlation below 0.9.
    func testTwoClassesGiveDifferentMaps() throws {
        let subject = try tinyOnTheDog()
        for method in AttributionMethod.allCases {
            let dog = try malamute(method, subject), bike = try subject.map(method, "mountain bike")
            XCTAssertNotEqual(dog.classIndex, bike.classIndex)
            let correlation = spearman(dog.values, bike.values)
            print("\(method): malamute and mountain bike maps' rank correlation \(String(format: "%.3f", correlation))")
            XCTAssertLessThan(correlation, 0.9, "\(method)")
        }
    }

    /// `progress` hears every pass up to the total, and stops the computation by returning false.
    func testProgressCountsPassesAndCancels() throws {
        let subject = try tinyOnTheDog()
        let attributor = Attributor(network: subject.network)
        var request = AttributionRequest(method: .smoothGrad, settings: Self.cheap)
        var seen: [AttributionProgress] = []
        let map = try attributor.map(request, input: subject.input, letterbox: subject.letterbox) { seen.append($0); return true }
        XCTAssertEqual(map.classIndex, subject.names.firstIndex(of: "malamute"), "the top-1 by default")
        XCTAssertEqual(map.request, request, "keyed by the request as asked")
        XCTAssertEqual(seen.map(\.completed), Array(0...7))
        XCTAssertEqual(Set(seen.map(\.total)), [7])
        request.method = .occlusion
        var calls = 0
        XCTAssertThrowsError(try attributor.map(request, input: subject.input, letterbox: subject.letterbox) { _ in
            calls += 1
            return calls < 3
        }) { XCTAssertTrue($0 is CancellationError, "\($0)") }
        XCTAssertEqual(calls, 3, "stopped at the first pass after false")
    }

    /// A pass from a base (occlusion's), computing again only the rows of each layer that a
    /// change reaches, gives the full pass's prediction: to the bit with Darknet's convolutions
    /// (Tiny Darknet with its real weights, and every shipped cfg at 64x64, AlexNet 128x128,
    /// with random weights), within 1e-5 with Winograd's (Tiny Darknet), for patches at the top, middle and bottom, with full
    /// passes in between (which overwrite the outputs the base's passes reuse).
    func testPassesFromABaseEqualFullPasses() throws {
        let photo = try Image(contentsOf: Repo.path("assets/dog.jpg"))
        var networks: [(String, Network)] = []
        var tiny = try Network(cfg: Repo.path("cfg/tiny.cfg"))
        try tiny.loadWeights(path: try Repo.requireTinyWeights())
        networks.append(("tiny.cfg, winograd", tiny))
        tiny.use(.darknet)
        networks.append(("tiny.cfg", tiny))
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in try FileManager.default.contentsOfDirectory(atPath: Repo.path("cfg")).filter({ $0.hasSuffix(".cfg") }).sorted() {
            let path = directory.appendingPathComponent(name).path
            try GradientTests.resized(try String(contentsOfFile: Repo.path("cfg/\(name)"), encoding: .utf8),
                                      to: name == "alexnet.cfg" ? 128 : 64).write(toFile: path, atomically: true, encoding: .utf8)
            var network = try Network(cfg: path)
            network.use(.darknet)
            try network.randomize(seed: 9)
            networks.append((name, network))
        }
        for (name, network) in networks {
            let side = network.input.width, patch = side / 8
            let image = photo.letterboxed(width: side, height: network.input.height)
            let predictor = Predictor(network: network, threads: 2)
            let base = try predictor.forward(image.values)
            let place = network.letterbox(for: photo)
            for top in [place.top, side / 2, place.top + place.height - patch] {
                var occluded = image
                for c in 0..<image.channels {
                    for y in top..<(top + patch) {
                        for x in (side / 3)..<(side / 3 + patch) { occluded[x, y, c] = 0.5 }
                    }
                }
                let partial = try predictor.prediction(for: occluded.values, changedRows: top..<(top + patch), base: base)
                let again = try predictor.prediction(for: occluded.values, changedRows: top..<(top + patch), base: base)
                // The plain pass, as the base's (the pass that does not keep outputs runs
                // Winograd's maxpools inside their convolutions, within rounding of it).
                let full = Array(try predictor.forward(occluded.values).prediction())
                let difference = zip(partial, full).map { abs($0 - $1) }.max() ?? 0
                if network.convolution == .darknet {
                    XCTAssertTrue(partial == full, "\(name), rows \(top)..<\(top + patch): max difference \(difference)")
                    XCTAssertTrue(again == full, "\(name): the base restored after a pass from it")
                } else {
                    // Folded epilogues round by the columns a call covers: within rounding.
                    XCTAssertLessThan(relativeError(partial, full), 1e-5, "\(name), rows \(top)..<\(top + patch)")
                    XCTAssertTrue(again == partial, "\(name): the base restored after a pass from it")
                }
                XCTAssertFalse(full == Array(base.prediction()), "\(name), rows \(top)..<\(top + patch): the patch changes the prediction")
            }
        }
    }

    // MARK: darkscope explain

    /// Few samples and steps, and occlusion patches a quarter of the input's side (12 of them on the photo).
    static func cheapOptions(side: Int) -> [String] {
        ["--samples", "2", "--steps", "2", "--patch", "\(side / 4)", "--stride", "\(side / 4)"]
    }

    /// Every method on every shipped cfg prints one JSON object with the map over the photo
    /// (4:3, so never more rows than cols), the class it was made for and Grad-CAM's layer:
    /// Tiny Darknet with its real weights, the others with random ones at 64x64 (AlexNet 128x128).
    func testExplainRunsEveryMethodOnEveryShippedCfg() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cfgs = try FileManager.default.contentsOfDirectory(atPath: Repo.path("cfg")).filter { $0.hasSuffix(".cfg") }.sorted()
        XCTAssertGreaterThanOrEqual(cfgs.count, 7)
        for name in cfgs {
            var cfg = Repo.path("cfg/\(name)"), weights = try Repo.requireTinyWeights(), side = 224
            if name != "tiny.cfg" {
                side = name == "alexnet.cfg" ? 128 : 64
                cfg = directory.appendingPathComponent(name).path
                let text = try String(contentsOfFile: Repo.path("cfg/\(name)"), encoding: .utf8)
                try GradientTests.resized(text, to: side).write(toFile: cfg, atomically: true, encoding: .utf8)
                weights = cfg + ".weights"
                XCTAssertEqual(try darkscope("weights", "init", cfg, weights, "--seed", "3").status, 0)
            }
            for method in AttributionMethod.allCases {
                let run = try runProcess(Repo.binary, ["explain", cfg, weights, Repo.path("assets/dog.jpg"), "--method", method.rawValue,
                                                       "--json"] + Self.cheapOptions(side: side))
                XCTAssertEqual(run.status, 0, "\(name) \(method): \(run.stderr)")
                guard run.status == 0 else { continue }
                let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], run.stdout)
                XCTAssertEqual(Set(object.keys), ["method", "class", "layer", "rows", "cols", "map"])
                XCTAssertEqual(object["method"] as? String, method.rawValue)
                let rows = try XCTUnwrap(object["rows"] as? Int), cols = try XCTUnwrap(object["cols"] as? Int)
                let map = try XCTUnwrap(object["map"] as? [[Double]])
                XCTAssertEqual(map.count, rows, "\(name) \(method)")
                XCTAssertTrue(map.allSatisfy { $0.count == cols }, "\(name) \(method)")
                XCTAssertLessThanOrEqual(rows, cols, "\(name) \(method): the 4:3 photo")
                let target = try XCTUnwrap(object["class"] as? [String: Any])
                XCTAssertNotNil(target["index"] as? Int)
                XCTAssertNotNil(target["name"] as? String)
                XCTAssertNotNil(target["probability"] as? Double)
                XCTAssertEqual(object["layer"] is NSNull, !method.readsLayer, "\(name) \(method): \(object["layer"] ?? "none")")
            }
        }
    }

    /// --png writes the blended picture at the photo's own size (768x576); without --png and
    /// --json the picture is drawn on stdout; the JSON's class is the one asked for, by name or index.
    func testExplainDrawsAndWritesThePicture() throws {
        let weights = try Repo.requireTinyWeights()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let png = directory.appendingPathComponent("dog.png").path
        let written = try darkscope("explain", Repo.path("cfg/tiny.cfg"), weights, Repo.path("assets/dog.jpg"), "--class", "malamute", "--png", png)
        XCTAssertEqual(written.status, 0, written.stderr)
        XCTAssertEqual(written.stdout, "", "--png draws nothing")
        let data = try Data(contentsOf: URL(fileURLWithPath: png))
        // The PNG signature, then IHDR's width and height, big-endian.
        XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let size = [16, 20].map { at in data[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        XCTAssertEqual(size, [768, 576])
        let drawn = try darkscope("explain", Repo.path("cfg/tiny.cfg"), weights, Repo.path("assets/dog.jpg"), "--method", "gradient",
                                  "--format", "ascii", "--colors", "none", "--width", "40")
        XCTAssertEqual(drawn.status, 0, drawn.stderr)
        let rows = drawn.stdout.split(separator: "\n").map { $0.replacingOccurrences(of: "\u{1B}[0m", with: "") }
        XCTAssertGreaterThan(rows.count, 5)
        XCTAssertTrue(rows.allSatisfy { $0.count == 40 && $0.allSatisfy(\.isASCII) }, drawn.stdout)
        let byIndex = try darkscope("explain", Repo.path("cfg/tiny.cfg"), weights, Repo.path("assets/dog.jpg"), "--class", "254", "--json")
        XCTAssertEqual(byIndex.status, 0, byIndex.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(byIndex.stdout.utf8)) as? [String: Any])
        let target = try XCTUnwrap(object["class"] as? [String: Any])
        XCTAssertEqual(target["index"] as? Int, 254)
        XCTAssertEqual(target["name"] as? String, "mountain bike")
        XCTAssertEqual(object["layer"] as? Int, 19)
    }

    /// Bad input: one line on stderr, a non-zero exit, and the user's files untouched.
    func testExplainRefusesBadInputInOneLine() throws {
        let weights = try Repo.requireTinyWeights()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let existing = directory.appendingPathComponent("mine.png").path
        try Data("mine".utf8).write(to: URL(fileURLWithPath: existing))
        let cases: [([String], String)] = [
            (["--class", "malamut"], "unknown class 'malamut'; did you mean 'malamute'?"),
            (["--class", "husky"], "'Siberian husky'"),
            (["--class", "1000"], "class 1000 does not exist"),
            (["--layer", "20"], "layer 20 outputs 1x1x1000, no width and height to map over the image; give a layer with width and height, such as 19"),
            (["--method", "gradcam++", "--layer", "21"], "layer 21 outputs 1000 flat values"),
            (["--layer", "22"], "layer 22 does not exist"),
            (["--method", "occlusion", "--patch", "200"], "an occlusion patch of 200x200 input pixels does not fit in the image, 224x168"),
            (["--png", existing], "already exists"),
        ]
        for (options, message) in cases {
            let run = try runProcess(Repo.binary, ["explain", Repo.path("cfg/tiny.cfg"), weights, Repo.path("assets/dog.jpg")] + options)
            XCTAssertNotEqual(run.status, 0, "\(options)")
            XCTAssertFalse(run.signalled, "\(options)")
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, "\(options): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(message), "\(options): \(run.stderr)")
            XCTAssertEqual(run.stdout, "", "\(options)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: existing)), Data("mine".utf8))
    }
}

/// Spearman's rank correlation: Pearson's of the ranks, ties given their mean rank.
func spearman(_ a: [Float], _ b: [Float]) -> Double {
    func ranks(_ values: [Float]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && values[order[j + 1]] == values[order[i]] { j += 1 }
            for k in i...j { ranks[order[k]] = Double(i + j) / 2 }
            i = j + 1
        }
        return ranks
    }
    let x = ranks(a), y = ranks(b)
    let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
    let covariance = zip(x, y).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
    let spread = (x.reduce(0) { $0 + ($1 - mx) * ($1 - mx) } * y.reduce(0) { $0 + ($1 - my) * ($1 - my) }).squareRoot()
    return spread > 0 ? covariance / spread : 0
}
