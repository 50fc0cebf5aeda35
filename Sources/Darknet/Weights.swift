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
    public var seenIs64Bit: Bool { major * 10 + minor >= 2 && major < 1000 && minor < 1000 }
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

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DarknetError.file(path: path, problem: readProblem(path))
        }
        try self.init(path: path, data: data)
    }

    /// Reads a `.weights` file's bytes; `path` names it in errors.
    public init(path: String, data: Data) throws {
        self.path = path
        guard data.count >= 12 else {
            throw DarknetError.weights(file: path, problem: "too short for a .weights header: \(data.count) bytes, a header needs 16 or 20")
        }
        let (header, values) = data.withUnsafeBytes { bytes -> (WeightsHeader, [Float]) in
            var header = WeightsHeader(
                major: bytes.loadUnaligned(fromByteOffset: 0, as: Int32.self),
                minor: bytes.loadUnaligned(fromByteOffset: 4, as: Int32.self),
                revision: bytes.loadUnaligned(fromByteOffset: 8, as: Int32.self))
            guard bytes.count >= header.byteCount else { return (header, []) }
            header.seen = header.seenIs64Bit
                ? bytes.loadUnaligned(fromByteOffset: 12, as: UInt64.self)
                : UInt64(bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
            let count = (bytes.count - header.byteCount) / 4
            let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                let floats = UnsafeRawBufferPointer(rebasing: bytes[header.byteCount..<(header.byteCount + 4 * count)])
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: floats)
                initialized = count
            }
            return (header, values)
        }
        guard data.count >= header.byteCount else {
            throw DarknetError.weights(file: path, problem: "too short for a version \(header.major).\(header.minor).\(header.revision) header: \(data.count) bytes, it needs \(header.byteCount)")
        }
        guard (data.count - header.byteCount) % 4 == 0 else {
            throw DarknetError.weights(file: path, problem: "\(data.count - header.byteCount) bytes after the header is not a whole number of floats; the file is truncated or not a .weights file")
        }
        self.header = header
        self.values = values
    }

    /// Writes the file; never over an existing one unless `overwrite`.
    public func write(overwrite: Bool = false) throws {
        var data = Data(capacity: header.byteCount + 4 * values.count)
        func append<T>(_ value: T) { withUnsafeBytes(of: value) { data.append(contentsOf: $0) } }
        append(header.major)
        append(header.minor)
        append(header.revision)
        if header.seenIs64Bit { append(header.seen) } else { append(UInt32(truncatingIfNeeded: header.seen)) }
        values.withUnsafeBytes { data.append(contentsOf: $0) }
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw DarknetError.file(path: path, problem: "already exists; darkscope does not overwrite files (remove it first)")
        }
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw DarknetError.file(path: path, problem: "cannot be written (does its folder exist and is it writable?)")
        }
    }

    /// Deterministic random parameters for the given blocks: He-scaled normal weights,
    /// small biases and means, scales near 1 and strictly positive variances.
    public static func randomValues(for layers: [[ParameterBlock]], seed: UInt64) -> [Float] {
        var random = SplitMix64(seed: seed)
        var values: [Float] = []
        for block in layers.joined() {
            for _ in 0..<block.count {
                switch block.kind {
                case .biases: values.append(random.uniform(-0.1, 0.1))
                case .scales: values.append(random.uniform(0.8, 1.2))
                case .rollingMean: values.append(random.uniform(-0.1, 0.1))
                case .rollingVariance: values.append(random.uniform(0.5, 1.5))
                case .weights(let fanIn): values.append(random.normal() * Float(sqrt(2 / Double(max(fanIn, 1)))))
                }
            }
        }
        return values
    }
}

/// A small, fast, portable generator, so a seed means the same weights everywhere.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
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
