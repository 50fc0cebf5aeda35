import Darknet
import Foundation

/// The parsers darkscope reads users' files with, each fed arbitrary bytes: cfg text (into
/// a network, and its training augmentation drawn once), a weights file (into a small network, then a forward pass) and image bytes
/// (JPEG or PNG, then letterboxed). Each must return, or throw a `DarknetError`; a trap, a
/// sanitizer's report, or libFuzzer's time or memory limit is a finding.
///
/// Built with `-sanitize=fuzzer -DFUZZING` (`scripts/fuzz`), this is a libFuzzer target,
/// the parser named by `--parser=NAME` (libFuzzer passes flags starting with `--` by).
/// Built without, it replays files and folders of inputs through the parser, to reproduce
/// a finding or check a corpus.
enum Parser: String, CaseIterable {
    case cfg, weights, image

    /// Whether the parser took the input (false: it refused it with a `DarknetError`).
    @discardableResult
    func feed(_ data: Data) -> Bool {
        do {
            switch self {
            case .cfg:
                let network = try Network(cfg: CfgFile.parse(data, file: "fuzz.cfg"))
                _ = network.layerTable
                // Training's augmentation draws from [net]'s keys: one draw, onto a small crop.
                var random = SplitMix64(seed: 1)
                _ = network.training.augmentation.apply(to: Parser.picture, size: 8, using: &random)
            case .weights:
                var network = Parser.weightsNetwork
                try network.load(WeightsFile(path: "fuzz.weights", data: data))
                _ = try Predictor(network: network, threads: 1).forward(Parser.weightsInput, keepingLayerOutputs: false)
            case .image:
                // At most a megapixel: the refusal of larger ones is what is tested, not their
                // decoding, which would take libFuzzer's whole memory and time budget.
                _ = try Image(decoding: data, file: "fuzz.image", maximumPixels: 1 << 20).letterboxed(width: 32, height: 24)
            }
            return true
        } catch is DarknetError {
            return false
        } catch {
            fatalError("the \(self) parser threw an error that is not a DarknetError: \(error)")
        }
    }

    /// The network weights inputs are loaded into: `Tests/Fuzz/weights.cfg`, which the
    /// seeds were made for.
    static let weightsNetwork: Network = {
        let cfg = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Tests/Fuzz/weights.cfg").path
        do { return try Network(cfg: cfg) } catch { fatalError("\(error)") }
    }()

    static let weightsInput = (0..<weightsNetwork.input.count).map { Float($0 % 7) / 7 }

    /// The picture a cfg's augmentation is drawn on.
    static let picture = Image(width: 12, height: 9, channels: 3, values: (0..<324).map { Float($0 % 11) / 10 })

    /// The parser `--parser=NAME` among the process's arguments names.
    static func named(in arguments: [String]) -> Parser? {
        arguments.lazy.compactMap { $0.hasPrefix("--parser=") ? Parser(rawValue: String($0.dropFirst(9))) : nil }.first
    }

    static var usage: String {
        "usage: darkscope-fuzz --parser=\(allCases.map(\.rawValue).joined(separator: "|")) [libFuzzer options] [CORPUS...]"
    }
}

#if FUZZING
private let parser: Parser = {
    guard let parser = Parser.named(in: CommandLine.arguments) else {
        FileHandle.standardError.write(Data("\(Parser.usage)\n".utf8))
        exit(2)
    }
    return parser
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    parser.feed(bytes.map { Data(bytes: $0, count: count) } ?? Data())
    return 0
}
#else
@main
enum Replay {
    /// Feeds every file named, and every file in every folder named, to the parser.
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        let paths = arguments.filter { !$0.hasPrefix("-") }
        guard let parser = Parser.named(in: Array(arguments)), !paths.isEmpty else {
            FileHandle.standardError.write(Data("\(Parser.usage)\n".utf8))
            exit(2)
        }
        var fed = 0, accepted = 0
        for path in paths {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted().map { "\(path)/\($0)" } ?? [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("darkscope-fuzz: cannot read \(file)\n".utf8))
                    exit(1)
                }
                accepted += parser.feed(data) ? 1 : 0
                fed += 1
            }
        }
        print("\(parser.rawValue): \(fed) inputs, \(accepted) accepted, \(fed - accepted) refused, none crashed")
    }
}
#endif
