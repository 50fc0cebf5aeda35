import Foundation

/// Where one channel fires most in one image.
public struct ChannelExample: Codable, Hashable, Sendable {
    /// The image's path inside the indexed folder.
    public var image: String
    /// The channel's largest value in the image.
    public var value: Float
    /// Where, in the layer's output.
    public var x: Int
    public var y: Int
}

/// An image of the folder as it was indexed: the index is current for it while its size and
/// modification time are these.
public struct IndexedImage: Codable, Hashable, Sendable {
    public var path: String
    public var size: Int64
    public var modified: Int64
    public var width: Int
    public var height: Int
}

/// The dataset examples of every channel of every layer: for each, the images of a folder
/// that excite it most, and where (OpenAI Microscope's "dataset examples").
public struct ChannelIndex: Codable, Sendable {
    public static let examplesPerChannel = 9

    public var folder: String
    public var cfg: String
    public var weights: String?
    public var images: [IndexedImage]
    /// `layers[l][c]`: channel c of layer l's examples, the highest first. A flat layer's
    /// channels are its values.
    public var layers: [[[ChannelExample]]]

    public func examples(layer: Int, channel: Int) -> [ChannelExample] {
        layers.indices.contains(layer) && layers[layer].indices.contains(channel) ? layers[layer][channel] : []
    }

    public func image(_ path: String) -> IndexedImage? { images.first { $0.path == path } }

    /// Where in its image (in the image's own pixels) `example` of a layer with receptive
    /// field `field` looks: the field around the place it fires most, through the letterbox;
    /// the whole image where the field is the whole input.
    public func box(of example: ChannelExample, field: ReceptiveField?, input: Shape) -> (x: Range<Int>, y: Range<Int>)? {
        guard let image = image(example.image) else { return nil }
        guard let field else { return (0..<image.width, 0..<image.height) }
        let letterbox = Letterbox(imageWidth: image.width, imageHeight: image.height, boxWidth: input.width, boxHeight: input.height)
        let inInput = field.box(x: example.x, y: example.y, width: input.width, height: input.height)
        func map(_ range: Range<Int>, _ origin: Int, _ fit: Int, _ size: Int) -> Range<Int> {
            let low = min(max((range.lowerBound - origin) * size / fit, 0), size)
            let high = min(max((range.upperBound - origin) * size / fit, 0), size)
            return low..<max(high, low)
        }
        return (map(inInput.x, letterbox.left, letterbox.width, image.width), map(inInput.y, letterbox.top, letterbox.height, image.height))
    }
}

/// Builds and updates a folder's `ChannelIndex` in a cache: one small file of each image's
/// channel maxima, and the index beside them. A second run reads the maxima of every image
/// whose size and modification time are unchanged, runs the network only on the others,
/// and drops the images gone.
public final class ChannelIndexer {
    public let network: Network
    public let folder: String
    /// This folder, network and weights' own folder in the cache.
    public let directory: String
    private let cfgPath: String, weightsPath: String?
    private let predictor: Predictor

    /// `cache` holds one folder per indexed folder, network and weights (named by a hash of
    /// the folder's path and the cfg's and weights' bytes).
    public init(network: Network, weights: String?, folder: String, cache: String, threads: Int? = nil) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw DarknetError.usage("\(folder): not a folder of images")
        }
        self.network = network
        self.folder = URL(fileURLWithPath: folder).standardizedFileURL.path
        cfgPath = network.cfgPath
        weightsPath = weights
        var hash = Fingerprint()
        hash.add(Data(self.folder.utf8))
        try hash.add(network: network, weights: weights)
        directory = (cache as NSString).appendingPathComponent(hash.hex)
        predictor = Predictor(network: network, threads: threads)
    }

    public var indexPath: String { (directory as NSString).appendingPathComponent("index.json") }

    /// The index as last written, if there is one.
    public func stored() -> ChannelIndex? {
        guard let data = FileManager.default.contents(atPath: indexPath) else { return nil }
        return try? JSONDecoder().decode(ChannelIndex.self, from: data)
    }

    public struct Update: Sendable {
        public var index: ChannelIndex
        /// Images the network ran on (new or changed), and those read from the cache.
        public var processed: [String]
        public var reused: Int
        /// Images that could not be read, with why; left out of the index.
        public var failed: [(path: String, reason: String)]
    }

    /// Brings the index up to date with the folder. `progress` hears (done, to do) after each
    /// image the network runs on, and may throw to stop (what is done stays cached).
    public func update(progress: (Int, Int) throws -> Void = { _, _ in }) throws -> Update {
        let paths = try imagePaths()
        guard !paths.isEmpty else { throw DarknetError.usage("\(folder): no .jpg or .png images in it or its folders") }
        try FileManager.default.createDirectory(atPath: maximaFolder, withIntermediateDirectories: true)
        let known = Dictionary((stored()?.images ?? []).map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let channels = network.layers.map { $0.output.isImage ? $0.output.channels : $0.output.count }
        var images: [IndexedImage] = [], maxima: [[Maximum]] = [], processed: [String] = [], failed: [(String, String)] = []
        var stale: [(String, FileStamp.Version)] = []
        for path in paths {
            guard let info = FileStamp.of(absolute(path)).version, info.isRegularFile else {
                failed.append((path, "cannot be read"))
                continue
            }
            if let record = known[path], record.size == info.size, record.modified == info.modifiedNanoseconds,
               let cached = readMaxima(path, count: channels.reduce(0, +)) {
                images.append(record)
                maxima.append(cached)
            } else {
                stale.append((path, info))
            }
        }
        let reused = images.count
        for (done, (path, info)) in stale.enumerated() {
            do {
                let original = try network.originalImage(from: absolute(path))
                let forward = try predictor.forward(original.letterboxed(width: network.input.width, height: network.input.height).values)
                let found = Self.maxima(of: forward, network: network)
                try writeMaxima(found, for: path)
                images.append(IndexedImage(path: path, size: info.size, modified: info.modifiedNanoseconds,
                                           width: original.width, height: original.height))
                maxima.append(found)
                processed.append(path)
            } catch let error as DarknetError {
                failed.append((path, "\(error)"))
            }
            try progress(done + 1, stale.count)
        }
        let index = ChannelIndex(folder: folder, cfg: cfgPath, weights: weightsPath, images: images,
                                 layers: Self.top(maxima, images: images, shapes: network.layers.map(\.output)))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try Self.write(try encoder.encode(index), to: indexPath)
        return Update(index: index, processed: processed, reused: reused, failed: failed)
    }

    /// A channel's largest value in one image and where (its offset in the channel's plane).
    struct Maximum {
        var value: Float
        var at: Int32
    }

    /// Every channel's maximum, layer after layer.
    static func maxima(of forward: ForwardResult, network: Network) -> [Maximum] {
        var found: [Maximum] = []
        for (layer, values) in zip(network.layers, forward.layerOutputs) {
            let shape = layer.output
            let channels = shape.isImage ? shape.channels : shape.count, plane = shape.isImage ? shape.spatial : 1
            for c in 0..<channels {
                var best = Maximum(value: -.infinity, at: 0)
                for i in 0..<plane where values[c * plane + i] > best.value {
                    best = Maximum(value: values[c * plane + i], at: Int32(i))
                }
                found.append(best)
            }
        }
        return found
    }

    /// Each channel's `examplesPerChannel` images of highest maximum, ties by path.
    static func top(_ maxima: [[Maximum]], images: [IndexedImage], shapes: [Shape]) -> [[[ChannelExample]]] {
        var layers: [[[ChannelExample]]] = [], offset = 0
        let order = images.indices.sorted { images[$0].path < images[$1].path }
        for shape in shapes {
            let channels = shape.isImage ? shape.channels : shape.count, width = shape.isImage ? shape.width : 1
            layers.append((0..<channels).map { c in
                let ranked = order.sorted { maxima[$0][offset + c].value > maxima[$1][offset + c].value }
                return ranked.prefix(ChannelIndex.examplesPerChannel).map { i in
                    let found = maxima[i][offset + c], at = Int(found.at)
                    return ChannelExample(image: images[i].path, value: found.value, x: at % width, y: at / width)
                }
            })
            offset += channels
        }
        return layers
    }

    private var maximaFolder: String { (directory as NSString).appendingPathComponent("maxima") }

    private func maximaPath(_ path: String) -> String {
        var hash = Fingerprint()
        hash.add(Data(path.utf8))
        return (maximaFolder as NSString).appendingPathComponent(hash.hex + ".bin")
    }

    private func readMaxima(_ path: String, count: Int) -> [Maximum]? {
        guard let data = FileManager.default.contents(atPath: maximaPath(path)),
              data.count == count * MemoryLayout<Maximum>.stride else { return nil }
        return data.withUnsafeBytes { Array($0.bindMemory(to: Maximum.self)) }
    }

    private func writeMaxima(_ maxima: [Maximum], for path: String) throws {
        try Self.write(maxima.withUnsafeBytes { Data($0) }, to: maximaPath(path))
    }

    /// A cache file, whole or not at all.
    private static func write(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw DarknetError.file(path: path, problem: "cannot be written in the cache: \(error.localizedDescription)")
        }
    }

    private func absolute(_ path: String) -> String { (folder as NSString).appendingPathComponent(path) }

    /// The folder's JPEG and PNG files, in it and its folders, by path inside it.
    private func imagePaths() throws -> [String] {
        guard let walk = FileManager.default.enumerator(atPath: folder) else {
            throw DarknetError.usage("\(folder): cannot be listed")
        }
        var paths: [String] = []
        while let path = walk.nextObject() as? String {
            if TrainingData.imageExtensions.contains((path as NSString).pathExtension.lowercased()) { paths.append(path) }
        }
        return paths.sorted()
    }
}

/// FNV-1a, 64 bits: names cache entries (not a defence against anyone).
public struct Fingerprint {
    private var state: UInt64 = 0xCBF2_9CE4_8422_2325

    public init() {}

    public mutating func add(_ data: Data) {
        data.withUnsafeBytes { bytes in
            for byte in bytes { state = (state ^ UInt64(byte)) &* 0x100_0000_01B3 }
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        state = (state ^ 0xFF) &* 0x100_0000_01B3
    }

    /// The network's cfg file and its weights file (or, without one, the random weights every
    /// command draws: seed 1's), byte for byte.
    public mutating func add(network: Network, weights: String?) throws {
        add(try readRegularFile(network.cfgPath))
        add(try weights.map(readRegularFile) ?? Data("random weights, seed 1".utf8))
    }

    public var hex: String { String(state, radix: 16) }
}
