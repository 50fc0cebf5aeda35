import Darknet
import Foundation
import Render
import XCTest

/// `darkscope index` over a folder of 50 crops of the five photos, with the real Tiny Darknet.
final class ChannelIndexTests: XCTestCase {
    /// Ten windows of each photo, as PNGs in two subfolders.
    private func makeFolder(in directory: URL) throws -> URL {
        let folder = directory.appendingPathComponent("photos")
        for sub in ["a", "b"] {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        var n = 0
        for name in FeatureVisualizationTests.photos {
            let photo = try Image(contentsOf: Repo.path("assets/\(name).jpg"))
            for k in 0..<10 {
                n += 1
                let width = photo.width * 3 / 5, height = photo.height * 3 / 5
                let left = k * (photo.width - width) / 9, top = (9 - k) * (photo.height - height) / 9
                try Self.write(photo, left: left, top: top, width: width, height: height, step: 2,
                               to: folder.appendingPathComponent("\(n % 2 == 0 ? "a" : "b")/\(name)-\(k).png").path)
            }
        }
        return folder
    }

    /// A window of `image`, every `step`th pixel, as a PNG.
    static func write(_ image: Image, left: Int, top: Int, width: Int, height: Int, step: Int, to path: String) throws {
        var raster = Raster(width: width / step, height: height / step)
        for y in 0..<raster.height {
            for x in 0..<raster.width {
                func sample(_ c: Int) -> UInt8 { UInt8((image[left + x * step, top + y * step, c] * 255).rounded()) }
                raster[x, y] = RGB(sample(0), sample(1), sample(2))
            }
        }
        try raster.writePNG(to: path)
    }

    private func index(_ folder: URL, cache: URL, _ options: String...) throws -> [String: Any] {
        let run = try runProcess(Repo.binary, ["index", folder.path, Repo.path("cfg/tiny.cfg"), try Repo.requireTinyWeights(),
                                               "--cache", cache.path, "--json"] + options)
        XCTAssertEqual(run.status, 0, run.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], run.stdout)
    }

    /// For channels of an early, a middle and a late layer: the index's top 9 are the 9 images
    /// whose maxima, computed again here image by image, are highest, in that order, with the
    /// same values and places; each box is the receptive field around the place, in the
    /// image's pixels.
    func testTopImagesAreThoseThatExciteTheChannelMost() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let folder = try makeFolder(in: directory), cache = directory.appendingPathComponent("cache")
        var network = try Network(cfg: Repo.path("cfg/tiny.cfg"))
        try network.loadWeights(path: try Repo.requireTinyWeights())
        let predictor = Predictor(network: network)
        let images = try FileManager.default.subpathsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".png") }.sorted()
        XCTAssertEqual(images.count, 50)
        var outputs: [String: [[Float]]] = [:]
        for image in images {
            outputs[image] = try predictor.forward(network.letterboxedInput(from: folder.appendingPathComponent(image).path).values).layerOutputs
        }
        let first = try index(folder, cache: cache)
        XCTAssertEqual((first["processed"] as? [String])?.count, 50)
        XCTAssertEqual(first["images"] as? Int, 50)
        for (layer, channel) in [(2, 5), (10, 7), (17, 30), (19, 14)] {
            let report = try index(folder, cache: cache, "--layer", "\(layer)", "--channel", "\(channel)")
            XCTAssertEqual((report["processed"] as? [String])?.count, 0, "a second run runs nothing")
            let layers = try XCTUnwrap(report["layers"] as? [[String: Any]])
            let channels = try XCTUnwrap(layers.first?["channels"] as? [[String: Any]])
            let examples = try XCTUnwrap(channels.first?["examples"] as? [[String: Any]])
            let shape = network.layers[layer].output
            func maximum(_ image: String) -> (value: Float, at: Int) {
                let plane = outputs[image]![layer][(channel * shape.spatial)..<((channel + 1) * shape.spatial)]
                let at = plane.indices.max { plane[$0] < plane[$1] || plane[$0] == plane[$1] && $0 > $1 }!
                return (plane[at], at - plane.startIndex)
            }
            let ranked = images.sorted { maximum($0).value > maximum($1).value }
            XCTAssertEqual(examples.compactMap { $0["image"] as? String }, Array(ranked.prefix(9)), "layer \(layer) channel \(channel)")
            for example in examples {
                let image = try XCTUnwrap(example["image"] as? String), found = maximum(image)
                XCTAssertEqual(example["value"] as? Double ?? .nan, Double(found.value), accuracy: 1e-5)
                XCTAssertEqual(example["x"] as? Int, found.at % shape.width)
                XCTAssertEqual(example["y"] as? Int, found.at / shape.width)
                let box = try XCTUnwrap(example["box"] as? [Int])
                let field = try XCTUnwrap(network.receptiveFields[layer])
                // Letterboxed from 230x172 (or 230x173) into 224x224: 224/230 of a pixel each.
                XCTAssertEqual(Double(box[2] - box[0]), min(Double(field.size) * 230 / 224, 230), accuracy: Double(field.size) / 2,
                               "layer \(layer): box \(box)")
                XCTAssertTrue(box[0] >= 0 && box[1] >= 0 && box[2] <= 230 && box[3] <= 173 && box[0] < box[2] && box[1] < box[3], "\(box)")
            }
        }
    }

    /// Tiny Darknet's receptive fields, by hand from its cfg: 3x3 convolutions and 2x2 pools.
    func testReceptiveFieldsOfTiny() throws {
        let network = try Network(cfg: Repo.path("cfg/tiny.cfg"))
        let fields = network.receptiveFields
        XCTAssertEqual(fields[0], ReceptiveField(size: 3, stride: 1, left: -1, top: -1))
        XCTAssertEqual(fields[1], ReceptiveField(size: 4, stride: 2, left: -1, top: -1))
        XCTAssertEqual(fields[2]?.size, 8)
        XCTAssertEqual(fields[10]?.size, 46)
        XCTAssertEqual(fields[10]?.stride, 8)
        XCTAssertNil(fields[20], "after the global average pool every output reads the whole input")
    }

    /// A second run after one image is added runs only that one; after one is changed, only
    /// that one; after one is removed, none, and the index forgets it. Bad folders are refused.
    func testARerunRunsOnlyNewOrChangedImages() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let folder = try makeFolder(in: directory), cache = directory.appendingPathComponent("cache")
        XCTAssertEqual((try index(folder, cache: cache)["processed"] as? [String])?.count, 50)
        let dog = try Image(contentsOf: Repo.path("assets/dog.jpg"))
        try Self.write(dog, left: 0, top: 0, width: 400, height: 400, step: 2, to: folder.appendingPathComponent("b/new.png").path)
        let added = try index(folder, cache: cache)
        XCTAssertEqual(added["processed"] as? [String], ["b/new.png"])
        XCTAssertEqual(added["reused"] as? Int, 50)
        let changed = folder.appendingPathComponent("a/kite-1.png").path
        try FileManager.default.removeItem(atPath: changed)
        try Self.write(dog, left: 100, top: 100, width: 300, height: 300, step: 2, to: changed)
        XCTAssertEqual(try index(folder, cache: cache)["processed"] as? [String], ["a/kite-1.png"])
        try FileManager.default.removeItem(atPath: changed)
        let removed = try index(folder, cache: cache)
        XCTAssertEqual(removed["processed"] as? [String], [])
        XCTAssertEqual(removed["images"] as? Int, 50)
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: false)
        for (path, message) in [(empty.path, "no .jpg or .png images"), (directory.appendingPathComponent("none").path, "not a folder of images")] {
            let run = try runProcess(Repo.binary, ["index", path, Repo.path("cfg/tiny.cfg"), "--cache", cache.path])
            XCTAssertNotEqual(run.status, 0)
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains(message), run.stderr)
        }
    }
}
