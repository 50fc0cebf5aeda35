import Darknet
import Foundation
import XCTest

/// Paths and processes the tests share.
enum Repo {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// The darkscope binary built beside this test bundle.
    static var binary: String {
        let products = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        return products.appendingPathComponent("darkscope").path
    }

    /// The real Tiny Darknet weights: `DARKSCOPE_WEIGHTS`, else the shared copy beside the project.
    static var tinyWeights: String {
        ProcessInfo.processInfo.environment["DARKSCOPE_WEIGHTS"] ?? root.deletingLastPathComponent().appendingPathComponent("shared/weights/tiny.weights").path
    }

    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// The real weights' path; a skip on a developer's machine without them, a failure in CI.
    static func requireTinyWeights() throws -> String {
        guard FileManager.default.fileExists(atPath: tinyWeights) else {
            if isCI { throw DarknetError.usage("no Tiny Darknet weights at \(tinyWeights); CI has them in ../shared/weights") }
            throw XCTSkip("no Tiny Darknet weights at \(tinyWeights); set DARKSCOPE_WEIGHTS")
        }
        return tinyWeights
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("darkscope-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

struct ProcessResult {
    var status: Int32
    var signalled: Bool
    var stdout: String
    var stderr: String
}

/// Runs a program to completion, with a time limit so a hang fails instead of blocking.
/// Spawned and reaped directly, output through files: a child that daemonizes (tmux)
/// must not keep the caller waiting on pipes it inherited.
func runProcess(_ executable: String, _ arguments: [String], currentDirectory: String? = nil, timeout: TimeInterval = 300) throws -> ProcessResult {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("darkscope-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let outPath = directory.appendingPathComponent("stdout").path, errPath = directory.appendingPathComponent("stderr").path
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    // Glibc's addchdir is not exposed to Swift; a shell changes folder, then becomes the program.
    let command = currentDirectory.map { ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0, executable] + arguments } ?? [executable] + arguments
    let argv = command.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, command[0], &actions, nil, argv, environ)
    guard spawned == 0 else { throw DarknetError.usage("cannot run \(executable): \(String(cString: strerror(spawned)))") }
    let deadline = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    while waitpid(pid, &status, WNOHANG) == 0 {
        guard Date() < deadline else {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            throw DarknetError.usage("\(executable) \(arguments.joined(separator: " ")) did not finish within \(Int(timeout)) s")
        }
        usleep(5_000)
    }
    let signalled = status & 0x7F != 0
    return ProcessResult(status: signalled ? status & 0x7F : (status >> 8) & 0xFF, signalled: signalled,
                         stdout: String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self),
                         stderr: String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self))
}

func darkscope(_ arguments: String..., in directory: String? = nil) throws -> ProcessResult {
    try runProcess(Repo.binary, arguments, currentDirectory: directory)
}

/// Debian's libdarknet, driven through a small C program built on first use.
/// Missing Darknet skips the oracle tests on a developer's machine and fails them in CI.
enum Oracle {
    static let library = "/usr/lib/darknet/libdarknet.so"
    static let darknet = "/usr/bin/darknet"
    static let share = "/usr/share/darknet"

    /// OpenCV DNN, the oracle of AlexeyAB's dialect: Debian's python3-opencv.
    static func requireOpenCV() throws {
        let probe = try runProcess("/usr/bin/python3", ["-c", "import cv2"])
        guard probe.status == 0 else {
            if Repo.isCI { throw DarknetError.usage("Debian's python3-opencv is not installed; CI must install it (scripts/setup-debian)") }
            throw XCTSkip("Debian's python3-opencv is not installed (apt-get install python3-opencv)")
        }
    }

    static func requireDarknet() throws {
        guard FileManager.default.fileExists(atPath: library), FileManager.default.fileExists(atPath: darknet) else {
            if Repo.isCI { throw DarknetError.usage("Debian's darknet is not installed; CI must install it (apt-get install darknet)") }
            throw XCTSkip("Debian's darknet is not installed (apt-get install darknet)")
        }
    }

    private static let built = Result<String, Error> {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("darknet_oracle-\(getpid())").path
        let result = try runProcess("/usr/bin/cc", ["-O2", Repo.path("Tests/Oracle/darknet_oracle.c"), "-I/usr/lib/darknet/include",
                                             "-L/usr/lib/darknet", "-ldarknet", "-lm", "-Wl,-rpath,/usr/lib/darknet", "-o", output])
        guard result.status == 0 else { throw DarknetError.usage("building the oracle failed: \(result.stderr)") }
        return output
    }

    static func helper() throws -> String {
        try requireDarknet()
        return try built.get()
    }

    /// Darknet's layer table as it prints it while parsing, and every layer's output for `input`.
    static func layers(cfg: String, weights: String, input: [Float], in directory: URL) throws -> (table: [String], outputs: [[Float]]) {
        let inputPath = directory.appendingPathComponent("input.f32").path
        let outputPath = directory.appendingPathComponent("layers.bin").path
        _ = FileManager.default.createFile(atPath: inputPath, contents: input.withUnsafeBytes { Data($0) })
        let result = try runProcess(helper(), ["layers", cfg, weights, inputPath, outputPath])
        guard result.status == 0 else { throw DarknetError.usage("oracle failed on \(cfg): \(result.stderr)") }
        // Darknet interleaves notes such as "shift: Using default '0.000000'" with its table.
        let table = result.stderr.split(separator: "\n").map(String.init).prefix { !$0.hasPrefix("Loading weights") }
            .filter { $0.hasPrefix("layer ") || $0.prefix(6).allSatisfy { $0 == " " || $0.isNumber } }
        return (table, try records(outputPath))
    }

    /// Darknet's `load_image_color`, letterboxed to `width × height` unless they are 0.
    static func image(_ path: String, width: Int = 0, height: Int = 0, in directory: URL) throws -> Image {
        try image(["image", path, "\(width)", "\(height)"], in: directory)
    }

    /// Darknet's `load_image_color`, then `rotate_image`.
    static func rotated(_ path: String, radians: Float, in directory: URL) throws -> Image {
        try image(["rotate", path, "\(radians)"], in: directory)
    }

    /// Darknet's `load_image_color`, then `rotate_crop_image` to `size × size`.
    static func rotatedCrop(_ path: String, radians: Float, scale: Float, size: Int, dx: Float, dy: Float, aspect: Float,
                            in directory: URL) throws -> Image {
        try image(["rotatecrop", path, "\(radians)", "\(scale)", "\(size)", "\(dx)", "\(dy)", "\(aspect)"], in: directory)
    }

    /// The picture the oracle's `mode` (its arguments before OUT) writes.
    private static func image(_ mode: [String], in directory: URL) throws -> Image {
        let outputPath = directory.appendingPathComponent("image.bin").path
        let result = try runProcess(helper(), mode + [outputPath])
        guard result.status == 0 else { throw DarknetError.usage("oracle failed on \(mode): \(result.stderr)") }
        let data = try Data(contentsOf: URL(fileURLWithPath: outputPath))
        let header = data.withUnsafeBytes { bytes in (0..<3).map { Int(bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) } }
        let values = floats(data, from: 12, count: header[0] * header[1] * header[2])
        return Image(width: header[0], height: header[1], channels: header[2], values: values)
    }

    static func records(_ path: String) throws -> [[Float]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var offset = 0
        var records: [[Float]] = []
        while offset < data.count {
            let count = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int32.self) })
            records.append(floats(data, from: offset + 4, count: count))
            offset += 4 + 4 * count
        }
        return records
    }

    private static func floats(_ data: Data, from offset: Int, count: Int) -> [Float] {
        data.withUnsafeBytes { bytes in (0..<count).map { bytes.loadUnaligned(fromByteOffset: offset + 4 * $0, as: Float.self) } }
    }
}

/// The largest difference between two tensors, relative to the reference's largest magnitude.
func relativeError(_ actual: some Collection<Float>, _ expected: some Collection<Float>) -> Float {
    let scale = max(expected.map(abs).max() ?? 0, Float.leastNormalMagnitude)
    return zip(actual, expected).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
}

/// What `darkscope benchmark CFG WEIGHTS --layers --json` measured, in milliseconds: the
/// steady-state numbers the explorer's `ms` column must agree with.
struct LayerBenchmark: Decodable {
    struct Times: Decodable {
        var median, lowerQuartile, upperQuartile, min, max: Double
    }

    struct Layer: Decodable {
        var index: Int
        var type: String
        var ms: Times
        var coldMs: Double
    }

    /// Timed passes, the cold one not among them.
    var passes: Int
    var layers: [Layer]
    var totalMs: Times
    var coldTotalMs: Double

    /// Runs the benchmark (on one thread per processor unless `threads`); throws with its stderr when it fails.
    static func run(cfg: String, weights: String, runs: Int = 30, warmup: Int = 3, threads: Int? = nil) throws -> LayerBenchmark {
        var arguments = ["benchmark", cfg, weights, "--layers", "--json", "--runs", "\(runs)", "--warmup", "\(warmup)"]
        if let threads { arguments += ["--threads", "\(threads)"] }
        let result = try runProcess(Repo.binary, arguments)
        guard result.status == 0 else { throw DarknetError.usage("darkscope \(arguments.joined(separator: " ")) failed: \(result.stderr)") }
        struct Report: Decodable { var layers: LayerBenchmark }
        return try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8)).layers
    }
}
