import Foundation

/// The header of a Darknet `.weights` file.
public struct WeightsHeader: Equatable, Sendable {
    public var major: Int32 = 0
    public var minor: Int32 = 2
    public var revision: Int32 = 0
    /// Images seen in training.
    public var seen: UInt64 = 0

    public init(major: Int32 = 0, minor: Int32 = 2, revision: Int32 = 0, seen: UInt64 = 0) {
        self.major = major
        self.minor = minor
        self.revision = revision
        self.seen = seen
    }

    /// Versions from 0.2 on store `seen` as 64 bits; older ones as 32.
    /// In 64 bits: a file that is not weights can hold any major version, and Darknet's own
    /// `int` sum would overflow.
    public var seenIs64Bit: Bool { Int(major) * 10 + Int(minor) >= 2 && major < 1000 && minor < 1000 }
    /// Files with a version part above 1000 hold connected weights transposed.
    public var transposed: Bool { major > 1000 || minor > 1000 }
    public var byteCount: Int { seenIs64Bit ? 20 : 16 }
}

/// A `.weights` file: its header and every float after it, in cfg order.
public struct WeightsFile: Sendable {
    public var path: String
    public var header: WeightsHeader
    public var values: [Float]

    public init(path: String, header: WeightsHeader, values: [Float]) {
        self.path = path
        self.header = header
        self.values = values
    }

    /// Reads a `.weights` file, its floats straight into memory.
    public init(path: String) throws {
        self.path = path
        (header, values) = try Self.open(path) { file, header in
            (header, try Self.floats((file.size - header.byteCount) / 4, of: file, at: header.byteCount))
        }
    }

    /// Reads a `.weights` file as one array per layer of `counts[i]` floats, each straight
    /// into the memory the layer keeps: no copy of the whole file is held beside them
    /// (AlexNet's: 244 MB). `layers` is nil when the file holds another number of floats
    /// than the counts add up to (`floats`).
    public static func read(path: String, layers counts: [Int]) throws -> (header: WeightsHeader, floats: Int, layers: [[Float]]?) {
        try open(path) { file, header in
            let floats = (file.size - header.byteCount) / 4
            guard floats == counts.reduce(0, +) else { return (header, floats, nil) }
            let starts = counts.reduce(into: [header.byteCount]) { $0.append($0.last! + 4 * $1) }
            var layers = [[Float]](repeating: [], count: counts.count)
            var failures = [Error?](repeating: nil, count: counts.count)
            layers.withUnsafeMutableBufferPointer { layers in
                failures.withUnsafeMutableBufferPointer { failures in
                    DispatchQueue.concurrentPerform(iterations: counts.count) { i in
                        do { layers[i] = try Self.floats(counts[i], of: file, at: starts[i]) } catch { failures[i] = error }
                    }
                }
            }
            if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
            return (header, floats, layers)
        }
    }

    /// Opens a `.weights` file and reads its header, then hands both to `body`.
    private static func open<T>(_ path: String, _ body: (RegularFile, WeightsHeader) throws -> T) throws -> T {
        try withRegularFile(path) { file in
            var start = Data(count: min(file.size, 20))
            guard try start.withUnsafeMutableBytes({ try file.read(into: $0, at: 0) }) == start.count else { throw changed(file) }
            return try body(file, try header(of: start, size: file.size, path: path))
        }
    }

    /// `count` floats of `file` from byte `offset`, in memory the kernel may back with huge pages.
    private static func floats(_ count: Int, of file: RegularFile, at offset: Int) throws -> [Float] {
        // Not even an empty one made in place: that writes the shared empty array's count,
        // a race between the threads of `read(path:layers:)` for layers without parameters.
        guard count > 0 else { return [] }
        var read: Result<Int, Error> = .success(0)
        let values = [Float].onHugePages(count: count) { buffer in
            read = Result { try file.read(into: UnsafeMutableRawBufferPointer(buffer), at: offset) }
        }
        guard try read.get() == 4 * count else { throw changed(file) }
        return values
    }

    private static func changed(_ file: RegularFile) -> DarknetError {
        .weights(file: file.path, problem: "changed while being read: \(file.size) bytes when opened")
    }

    /// Reads a `.weights` file's bytes; `path` names it in errors.
    public init(path: String, data: Data) throws {
        self.path = path
        header = try Self.header(of: data.prefix(20), size: data.count, path: path)
        let start = header.byteCount, count = (data.count - start) / 4
        values = data.withUnsafeBytes { bytes in
            [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + 4 * count)]))
                initialized = count
            }
        }
    }

    /// The header a file of `size` bytes starting with `start` (its first 20 bytes, or all
    /// of a shorter file) has, or why it is no weights file.
    static func header(of start: Data, size: Int, path: String) throws -> WeightsHeader {
        if let found = notWeights(start) {
            throw DarknetError.weights(file: path, problem: "not a Darknet weights file: it starts like \(found)")
        }
        guard size >= 12 else {
            throw DarknetError.weights(file: path, problem: "too short for a .weights header: \(size) bytes, a header needs 16 or 20")
        }
        var header = start.withUnsafeBytes { bytes in
            WeightsHeader(major: bytes.loadUnaligned(fromByteOffset: 0, as: Int32.self),
                          minor: bytes.loadUnaligned(fromByteOffset: 4, as: Int32.self),
                          revision: bytes.loadUnaligned(fromByteOffset: 8, as: Int32.self))
        }
        guard size >= header.byteCount else {
            throw DarknetError.weights(file: path, problem: "too short for a version \(header.major).\(header.minor).\(header.revision) header: \(size) bytes, it needs \(header.byteCount)")
        }
        guard (size - header.byteCount) % 4 == 0 else {
            throw DarknetError.weights(file: path, problem: "\(size - header.byteCount) bytes after the header is not a whole number of floats; the file is truncated or not a .weights file")
        }
        header.seen = start.withUnsafeBytes { bytes in
            header.seenIs64Bit ? bytes.loadUnaligned(fromByteOffset: 12, as: UInt64.self)
                : UInt64(bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        }
        return header
    }

    /// Writes the file; never over an existing one unless `overwrite`.
    public func write(overwrite: Bool = false) throws {
        try Self.write(path: path, header: header, overwrite: overwrite) { put in
            try values.withUnsafeBytes { try put($0) }
        }
    }

    /// Writes a weights file of `header` and the floats `body` hands to `put`, in order,
    /// through a hidden temporary file in the same folder that takes the name only once
    /// complete, so that no one ever sees half a file under it. The temporary file is
    /// removed on failure, and on SIGINT, SIGTERM or SIGHUP (see `PendingFile`).
    public static func write(path: String, header: WeightsHeader, overwrite: Bool = false,
                             _ body: (_ put: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        if !overwrite && FileManager.default.fileExists(atPath: path) { throw alreadyExists(path) }
        let pending = try PendingFile(beside: path)
        do {
            func append<T>(_ value: T) throws { try withUnsafeBytes(of: value) { try pending.write($0) } }
            try append(header.major)
            try append(header.minor)
            try append(header.revision)
            if header.seenIs64Bit { try append(header.seen) } else { try append(UInt32(truncatingIfNeeded: header.seen)) }
            try body(pending.write)
            try pending.commit(overwrite: overwrite)
        } catch let error as DarknetError {
            pending.discard()
            throw error
        }
    }

    static func alreadyExists(_ path: String) -> DarknetError {
        .file(path: path, problem: "already exists; darkscope does not overwrite files (remove it first)")
    }

    /// Deterministic random parameters for each layer's blocks, one array per layer:
    /// He-scaled normal weights, small biases and means, scales near 1 and strictly
    /// positive variances.
    public static func randomValues(for layers: [[ParameterBlock]], seed: UInt64) -> [[Float]] {
        var random = SplitMix64(seed: seed)
        return layers.map { blocks in
            [Float].onHugePages(count: blocks.reduce(0) { $0 + $1.count }) { buffer in
                var index = 0
                for block in blocks {
                    for _ in 0..<block.count {
                        buffer[index] = draw(block.kind, &random)
                        index += 1
                    }
                }
            }
        }
    }

    /// The same values, handed to `body` a chunk at a time, so that a file of them is
    /// written without holding them all.
    public static func randomValues(for layers: [[ParameterBlock]], seed: UInt64,
                                    _ body: ([Float]) throws -> Void) rethrows {
        var random = SplitMix64(seed: seed)
        var chunk: [Float] = []
        let size = 1 << 18
        chunk.reserveCapacity(size)
        for block in layers.joined() {
            for _ in 0..<block.count {
                chunk.append(draw(block.kind, &random))
                if chunk.count == size {
                    try body(chunk)
                    chunk.removeAll(keepingCapacity: true)
                }
            }
        }
        if !chunk.isEmpty { try body(chunk) }
    }

    /// The next random parameter of a block of `kind`.
    private static func draw(_ kind: ParameterKind, _ random: inout SplitMix64) -> Float {
        switch kind {
        case .biases: random.uniform(-0.1, 0.1)
        case .scales: random.uniform(0.8, 1.2)
        case .rollingMean: random.uniform(-0.1, 0.1)
        case .rollingVariance: random.uniform(0.5, 1.5)
        case .weights(let fanIn): random.normal() * Float(sqrt(2 / Double(max(fanIn, 1))))
        }
    }
}

/// What a file holds instead of weights, where its first bytes say so: an image, or text
/// (a header of version numbers and `seen` is never all printable characters).
func notWeights(_ data: Data) -> String? {
    let start = [UInt8](data.prefix(16))
    if let format = imageFormat(start) { return "\(format) image" }
    let printable = { (byte: UInt8) in (0x20...0x7E).contains(byte) || (0x09...0x0D).contains(byte) }
    guard start.count == 16, start.allSatisfy(printable) else { return nil }
    let text = String(decoding: start, as: UTF8.self).split(whereSeparator: \.isNewline).first ?? ""
    return "text ('\(text)…')"
}

/// A small, fast, portable generator, so a seed means the same weights everywhere.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [low, high), from the top 24 bits so every platform agrees.
    mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(next() >> 40) / Float(1 << 24)
    }

    /// Standard normal by Box–Muller, in double so results do not depend on float libm.
    mutating func normal() -> Float {
        let u1 = (Double(next() >> 11) + 0.5) / Double(1 << 53)
        let u2 = Double(next() >> 11) / Double(1 << 53)
        return Float(sqrt(-2 * log(u1)) * cos(2 * Double.pi * u2))
    }
}
