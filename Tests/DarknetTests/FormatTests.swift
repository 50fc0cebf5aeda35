import Darknet
import Foundation
import XCTest

/// The file formats a bug would hide in: the cfg dialect, `.weights` headers, the forward
/// semantics of each layer on networks small enough to compute by hand, and image decoding.
final class FormatTests: XCTestCase {
    // MARK: - Helpers

    private func network(_ text: String, file: String = "test.cfg") throws -> Network {
        try Network(cfg: CfgFile.parse(text, file: file))
    }

    /// A network with the given parameters, in `.weights` order.
    private func network(_ text: String, parameters: [Float]) throws -> Network {
        var network = try network(text)
        XCTAssertEqual(network.parameterCount, parameters.count, "parameters for the cfg")
        try network.load(WeightsFile(path: "inline.weights", header: WeightsHeader(), values: parameters))
        return network
    }

    private func forward(_ network: Network, _ input: [Float], batch: Int = 1) throws -> ForwardResult {
        try Predictor(network: network).forward(input, batch: batch)
    }

    private func assertClose(_ actual: some Collection<Float>, _ expected: [Double], accuracy: Double = 1e-6,
                             _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, "\(message): count", file: file, line: line)
        for (index, (a, e)) in zip(actual, expected).enumerated() where abs(Double(a) - e) > accuracy * max(1, abs(e)) {
            XCTFail("\(message)[\(index)]: \(a) is not \(e)", file: file, line: line)
        }
    }

    /// Checks that the cfg fails with a `.cfg` error at `expected` whose problem mentions `mention`.
    private func assertCfgError(_ text: String, at expected: Int, mentioning mention: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try network(text, file: "bad.cfg")
            XCTFail("no error for a cfg that should fail at line \(expected)", file: file, line: line)
        } catch let DarknetError.cfg(path, errorLine, problem) {
            XCTAssertEqual(path, "bad.cfg", file: file, line: line)
            XCTAssertEqual(errorLine, expected, problem, file: file, line: line)
            XCTAssertTrue(problem.contains(mention), "'\(problem)' does not mention '\(mention)'", file: file, line: line)
        } catch {
            XCTFail("expected a cfg error, got \(error)", file: file, line: line)
        }
    }

    private static let tinyNet = "[net]\nwidth=2\nheight=2\nchannels=1\n"

    // MARK: - cfg dialect

    /// Line numbers matter below: the warning names line 13.
    static let dialect = """
        # A cfg in every spelling Darknet accepts
        ; semicolon comments too

        [network]
        width = 4
        \theight=4\t
         channels=1
        batch=8
        learning_rate=0.1

        [conv]
        \tfilters=2 
        colour=blue
        size = 3
        pad=1

        [max]
        stride=2
        [avg]
        [soft]
        """

    func testDialectSpellingsAliasesAndDefaults() throws {
        let network = try network(Self.dialect, file: "dialect.cfg")
        XCTAssertEqual(network.input, Shape(width: 4, height: 4, channels: 1))
        XCTAssertEqual(network.layers.map(\.sectionName), ["convolutional", "maxpool", "avgpool", "softmax"])
        let conv = try XCTUnwrap(network.layers[0] as? Convolutional)
        XCTAssertEqual(conv.filters, 2)
        XCTAssertEqual(conv.size, 3)
        XCTAssertEqual(conv.padding, 1, "pad=1 means size/2")
        XCTAssertEqual(conv.activation, .logistic, "Darknet's default activation")
        XCTAssertEqual(conv.output, Shape(width: 4, height: 4, channels: 2))
        let pool = try XCTUnwrap(network.layers[1] as? MaxPool)
        XCTAssertEqual([pool.strideX, pool.strideY], [2, 2])
        XCTAssertEqual(pool.size, 2, "size defaults to stride")
        XCTAssertEqual(pool.padding, 1, "padding defaults to size - 1")
        XCTAssertEqual(pool.output, Shape(width: 2, height: 2, channels: 2))
        XCTAssertEqual(network.layers[2].output, Shape(width: 1, height: 1, channels: 2))
        XCTAssertEqual(network.layers[3].output.count, 2)
        // Training keys of [net] are not warned about; the unknown key is, with file and line.
        XCTAssertEqual(network.warnings.count, 1, "\(network.warnings)")
        let warning = try XCTUnwrap(network.warnings.first)
        XCTAssertTrue(warning.hasPrefix("dialect.cfg:13:"), warning)
        XCTAssertTrue(warning.contains("colour"), warning)
        XCTAssertTrue(warning.contains("blue"), warning)
    }

    func testCRLFAndLFParseAlike() throws {
        let lf = try CfgFile.parse(Self.dialect, file: "x.cfg")
        let crlf = try CfgFile.parse(Self.dialect.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n", file: "x.cfg")
        XCTAssertEqual(crlf.sections.map(\.type), lf.sections.map(\.type))
        XCTAssertEqual(crlf.sections.map(\.line), lf.sections.map(\.line))
        XCTAssertEqual(crlf.sections.map(\.options), lf.sections.map(\.options))
        XCTAssertEqual(lf.sections.map(\.type), ["network", "conv", "max", "avg", "soft"])
        XCTAssertEqual(lf.sections[1].options.map(\.key), ["filters", "colour", "size", "pad"])
        XCTAssertEqual(lf.sections[1].options.map(\.line), [12, 13, 14, 15])
        XCTAssertEqual(try network(Self.dialect).layerTable, try network(Self.dialect.replacingOccurrences(of: "\n", with: "\r\n")).layerTable)
        // Errors count CRLF lines as lines.
        assertCfgError("[net]\r\nwidth=2\r\nheight=2\r\nchannels=1\r\n\r\n[conv]\r\nsize=x\r\n", at: 7, mentioning: "size")
    }

    func testAllWhiteSpaceInsideALineIsDropped() throws {
        // Darknet's strip() removes every space and tab, even inside a key or a value.
        let network = try network("[net]\nwid th=2\nheight=\t2\nchannels = 1\n[convolutional]\nfil ters = 1 6\nactivation = lea ky\n")
        let conv = try XCTUnwrap(network.layers[0] as? Convolutional)
        XCTAssertEqual(conv.filters, 16)
        XCTAssertEqual(conv.activation, .leaky)
        XCTAssertEqual(network.input, Shape(width: 2, height: 2, channels: 1))
        XCTAssertEqual(network.warnings, [])
    }

    func testFirstOccurrenceOfAKeyWinsAndTheRestAreWarned() throws {
        // Darknet's option_find takes the first; the second is never read, so it is "unused".
        let network = try network(Self.tinyNet + "[convolutional]\nfilters=3\nfilters=5\n", file: "dup.cfg")
        XCTAssertEqual((network.layers[0] as? Convolutional)?.filters, 3)
        XCTAssertEqual(network.warnings.count, 1, "\(network.warnings)")
        XCTAssertTrue(network.warnings.first?.hasPrefix("dup.cfg:7:") == true, "\(network.warnings)")
        XCTAssertTrue(network.warnings.first?.contains("filters = 5") == true, "\(network.warnings)")
    }

    func testConvolutionalPaddingRules() throws {
        func conv(_ options: String) throws -> Convolutional {
            try XCTUnwrap(network("[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\n" + options).layers[0] as? Convolutional)
        }
        XCTAssertEqual(try conv("size=3").padding, 0, "no padding unless asked")
        XCTAssertEqual(try conv("size=3\npad=1").padding, 1)
        XCTAssertEqual(try conv("size=5\npad=1").padding, 2)
        XCTAssertEqual(try conv("size=3\npadding=2").padding, 2)
        XCTAssertEqual(try conv("size=3\npad=1\npadding=2").padding, 1, "pad=1 overrides padding, as in Darknet")
        XCTAssertEqual(try conv("size=3").output, Shape(width: 2, height: 2, channels: 1))
        XCTAssertEqual(try conv("size=3\npadding=2").output, Shape(width: 6, height: 6, channels: 1))
        XCTAssertEqual(try conv("size=1\nstride=2").output, Shape(width: 2, height: 2, channels: 1))
        XCTAssertEqual(try conv("size=2\nstride=3\npad=1").output, Shape(width: 2, height: 2, channels: 1))
    }

    func testMaxPoolDefaults() throws {
        func pool(_ options: String, width: Int) throws -> MaxPool {
            let net = "[net]\nwidth=\(width)\nheight=\(width)\nchannels=1\n[maxpool]\n" + options
            return try XCTUnwrap(network(net).layers[0] as? MaxPool)
        }
        let plain = try pool("", width: 3)
        XCTAssertEqual([plain.size, plain.strideX, plain.padding], [1, 1, 0])
        let two = try pool("stride=2", width: 5)
        XCTAssertEqual([two.size, two.strideX, two.padding], [2, 2, 1])
        XCTAssertEqual(two.output, Shape(width: 3, height: 3, channels: 1), "(5 + 1 - 2) / 2 + 1")
        let explicit = try pool("size=3\nstride=2\npadding=0", width: 5)
        XCTAssertEqual(explicit.output, Shape(width: 2, height: 2, channels: 1))
    }

    func testRouteTakesNegativeAndAbsoluteIndexes() throws {
        let network = try network(Self.tinyNet + """
            [convolutional]
            filters=1
            [convolutional]
            filters=2
            [route]
            layers=-1,0
            [route]
            layers = -3, 1
            """)
        XCTAssertEqual((network.layers[2] as? Route)?.sources, [1, 0])
        XCTAssertEqual((network.layers[3] as? Route)?.sources, [0, 1])
        XCTAssertEqual(network.layers[2].output, Shape(width: 2, height: 2, channels: 3))
        XCTAssertEqual(network.layers[3].output, Shape(width: 2, height: 2, channels: 3))
        XCTAssertEqual(network.warnings, [])
    }

    func testErrorsCarryTheirLine() {
        let net = Self.tinyNet  // lines 1-4
        assertCfgError("width=2\n[net]", at: 1, mentioning: "before any section")
        assertCfgError("# comment\n\n[convolutional]\nfilters=1\n", at: 3, mentioning: "[net]")
        assertCfgError(net + "\n[convolutional]\nfilters=2\nsize=abc\n", at: 8, mentioning: "size")
        assertCfgError(net + "[convolutional]\n\n; note\nstride=1.5\n", at: 8, mentioning: "stride")
        assertCfgError(net + "[convolutional\nfilters=1\n", at: 5, mentioning: "section header")
        assertCfgError(net + "[convolutional]\nfilters 16\n", at: 6, mentioning: "key=value")
        assertCfgError(net + "[convolutional]\n=16\n", at: 6, mentioning: "missing key")
        assertCfgError(net + "[convolutional]\n[bogus]\n", at: 6, mentioning: "unknown section [bogus]")
        assertCfgError(net + "[convolutional]\n[yolo]\n", at: 6, mentioning: "[yolo]")
        assertCfgError(net + "[convolutional]\n\n[net]\n", at: 7, mentioning: "first section")
        assertCfgError(net + "[convolutional]\nfilters=1\nactivation=swishy\n", at: 7, mentioning: "swishy")
        assertCfgError(net + "[convolutional]\nsize=3\n", at: 5, mentioning: "empty output")
        assertCfgError(net + "[convolutional]\nsize=5\n", at: 5, mentioning: "empty output")
        assertCfgError(net + "[maxpool]\nsize=5\npadding=0\n", at: 5, mentioning: "empty output")
        assertCfgError(net + "[convolutional]\n[route]\n\nlayers=-2\n", at: 8, mentioning: "layers=-2")
        assertCfgError(net + "[convolutional]\n[route]\nlayers=0,1\n", at: 7, mentioning: "layers=1")
        assertCfgError(net + "[convolutional]\n[route]\nlayers=0,x\n", at: 7, mentioning: "layers")
        assertCfgError(net + "[convolutional]\n[shortcut]\nactivation=linear\nfrom=-3\n", at: 8, mentioning: "from=-3")
        assertCfgError(net + "[convolutional]\n[softmax]\ngroups=3\n", at: 6, mentioning: "groups=3")
        assertCfgError("[net]\nwidth=2\n", at: 1, mentioning: "width, height and channels")
        assertCfgError(net, at: 1, mentioning: "no layers")
    }

    // MARK: - weights

    private static let connectedCfg = tinyNet + "[connected]\noutput=3\nactivation=linear\n"
    private static let connectedBiases: [Float] = [0.5, -1, 2]
    /// Output-major: row o holds the weights of output o over the 4 inputs.
    private static let connectedWeights: [[Float]] = [[1, 2, 3, 4], [-1, 0.5, 0, 2], [0.25, -0.25, 1, -1]]

    /// A `.weights` file written byte by byte, little-endian, as Darknet writes one.
    private func weightsData(_ major: Int32, _ minor: Int32, _ revision: Int32, seen: UInt64, seen64: Bool, values: [Float]) -> Data {
        var data = Data()
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        append(major)
        append(minor)
        append(revision)
        if seen64 { append(seen) } else { append(UInt32(seen)) }
        for value in values { append(value.bitPattern) }
        return data
    }

    func testWeightsHeadersOfEveryVersion() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plain = Self.connectedBiases + Self.connectedWeights.flatMap { $0 }
        let transposed = Self.connectedBiases + (0..<4).flatMap { i in Self.connectedWeights.map { $0[i] } }
        let input: [Float] = [1, -2, 0.5, 3]
        let expected = (0..<3).map { o in Double(Self.connectedBiases[o]) + (0..<4).reduce(0.0) { $0 + Double(Self.connectedWeights[o][$1] * input[$1]) } }
        let cases: [(name: String, major: Int32, minor: Int32, revision: Int32, seen: UInt64, seen64: Bool, transposed: Bool)] = [
            ("0.1.0", 0, 1, 0, 1_234_567, false, false),
            ("0.2.0", 0, 2, 0, 5_000_000_000, true, false),
            ("1.0.0", 1, 0, 0, 1 << 40 | 7, true, false),
            ("0.1001.0", 0, 1001, 0, 640_000, false, true),
            ("1001.0.3", 1001, 0, 3, 99, false, true),
        ]
        for c in cases {
            let path = directory.appendingPathComponent("\(c.name).weights").path
            let data = weightsData(c.major, c.minor, c.revision, seen: c.seen, seen64: c.seen64, values: c.transposed ? transposed : plain)
            XCTAssertEqual(data.count, (c.seen64 ? 20 : 16) + 4 * 15, c.name)
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: data))
            let file = try WeightsFile(path: path)
            XCTAssertEqual(file.header, WeightsHeader(major: c.major, minor: c.minor, revision: c.revision, seen: c.seen), c.name)
            XCTAssertEqual(file.header.seenIs64Bit, c.seen64, c.name)
            XCTAssertEqual(file.header.byteCount, c.seen64 ? 20 : 16, c.name)
            XCTAssertEqual(file.header.transposed, c.transposed, c.name)
            XCTAssertEqual(file.values, c.transposed ? transposed : plain, c.name)
            var network = try network(Self.connectedCfg)
            try network.loadWeights(path: path)
            XCTAssertEqual(network.weightsHeader, file.header, c.name)
            XCTAssertEqual(network.parameters, plain, "\(c.name): weights held output-major whatever the file")
            assertClose(try forward(network, input).prediction(), expected, c.name)
        }
    }

    func testWeightsFilesThatDoNotFitAreRefused() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func load(_ data: Data, _ name: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: data))
            var network = try network(Self.connectedCfg)
            do {
                try network.loadWeights(path: path)
            } catch let DarknetError.weights(file, problem) {
                XCTAssertEqual(file, path)
                return problem
            }
            XCTFail("\(name) loaded")
            return ""
        }
        let floats = [Float](repeating: 1, count: 15)
        let header = weightsData(0, 2, 0, seen: 0, seen64: true, values: [])
        XCTAssertTrue(try load(header.prefix(10), "short").contains("too short"))
        XCTAssertTrue(try load(weightsData(0, 2, 0, seen: 0, seen64: false, values: []), "short64").contains("needs 20"))
        XCTAssertTrue(try load(weightsData(0, 2, 0, seen: 0, seen64: true, values: floats) + Data([0, 0]), "ragged").contains("whole number"))
        XCTAssertTrue(try load(weightsData(0, 2, 0, seen: 0, seen64: true, values: Array(floats.prefix(14))), "few").contains("runs out in layer 0"))
        XCTAssertTrue(try load(weightsData(0, 2, 0, seen: 0, seen64: true, values: floats + [1]), "many").contains("1 floats left over"))
        // The right floats behind a 32-bit seen are one float short once the header is read as 0.2's.
        XCTAssertTrue(try load(weightsData(0, 2, 0, seen: 0, seen64: false, values: floats), "32-bit seen in 0.2").contains("runs out in layer 0"))
    }

    func testWeightsRoundTripBitForBit() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let values: [Float] = [0, -0.0, 1, -1.5, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .infinity, -.infinity,
                               Float(bitPattern: 0x7FC0_1234), 3.14159, 1e-30, -7e12]
        for header in [WeightsHeader(), WeightsHeader(major: 0, minor: 1, revision: 0, seen: 77),
                       WeightsHeader(major: 1, minor: 0, revision: 5, seen: UInt64.max - 1),
                       WeightsHeader(major: 0, minor: 1001, revision: 0, seen: 123)] {
            let path = directory.appendingPathComponent("rt-\(header.major)-\(header.minor).weights").path
            try WeightsFile(path: path, header: header, values: values).write()
            let back = try WeightsFile(path: path)
            let expectedSeen = header.seenIs64Bit ? header.seen : UInt64(UInt32(truncatingIfNeeded: header.seen))
            XCTAssertEqual(back.header, WeightsHeader(major: header.major, minor: header.minor, revision: header.revision, seen: expectedSeen))
            XCTAssertEqual(back.values.map(\.bitPattern), values.map(\.bitPattern))
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            XCTAssertEqual(size, header.byteCount + 4 * values.count)
            // Never over an existing file unless asked.
            XCTAssertThrowsError(try WeightsFile(path: path, header: header, values: []).write())
            XCTAssertEqual(try WeightsFile(path: path).values.count, values.count)
            try WeightsFile(path: path, header: header, values: [2]).write(overwrite: true)
            XCTAssertEqual(try WeightsFile(path: path).values, [2])
        }
    }

    func testRandomizeIsDeterministicWithPositiveVariances() throws {
        let cfg = "[net]\nwidth=5\nheight=5\nchannels=3\n[convolutional]\nfilters=4\nsize=3\npad=1\nbatch_normalize=1\nactivation=leaky\n"
            + "[connected]\noutput=6\nbatch_normalize=1\n[convolutional]\nfilters=2\n"
        let base = try network(cfg)
        var a = base, b = base, c = base
        try a.randomize(seed: 42)
        try b.randomize(seed: 42)
        try c.randomize(seed: 43)
        XCTAssertEqual(a.parameters.count, base.parameterCount)
        XCTAssertEqual(a.parameters.map(\.bitPattern), b.parameters.map(\.bitPattern), "same seed, same values")
        XCTAssertNotEqual(a.parameters, c.parameters, "another seed, other values")
        XCTAssertEqual(a.weightsHeader, WeightsHeader())
        XCTAssertTrue(a.parameters.allSatisfy(\.isFinite))
        XCTAssertGreaterThan(Set(a.parameters).count, a.parameters.count * 9 / 10, "values are not repeated")
        var variances = 0
        for layer in a.layers {
            var offset = 0
            for block in layer.parameterBlocks {
                if block.kind == .rollingVariance {
                    let slice = layer.parameters[offset..<(offset + block.count)]
                    XCTAssertTrue(slice.allSatisfy { $0 > 0 }, "\(layer.sectionName) variances \(Array(slice))")
                    variances += block.count
                }
                offset += block.count
            }
        }
        XCTAssertEqual(variances, 4 + 6)
        // The values survive a trip through a file.
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("random.weights").path
        try WeightsFile(path: path, header: WeightsHeader(), values: a.parameters).write()
        var loaded = base
        try loaded.loadWeights(path: path)
        XCTAssertEqual(loaded.parameters.map(\.bitPattern), a.parameters.map(\.bitPattern))
    }

    // MARK: - forward semantics

    func testOneByOneConvolution() throws {
        // 2x1 image, 2 channels (CHW): channel 0 = [1, 2], channel 1 = [3, 4].
        let cfg = "[net]\nwidth=2\nheight=1\nchannels=2\n[convolutional]\nfilters=3\nsize=1\nactivation=linear\n"
        let biases: [Float] = [0.5, -1, 0]
        let weights: [[Float]] = [[1, 0], [2, -1], [0.25, 0.5]]
        let network = try network(cfg, parameters: biases + weights.flatMap { $0 })
        let input: [Float] = [1, 2, 3, 4]
        let expected: [Double] = (0..<3).flatMap { (f: Int) -> [Double] in
            (0..<2).map { (p: Int) -> Double in
                let sum: Float = biases[f] + weights[f][0] * input[p] + weights[f][1] * input[2 + p]
                return Double(sum)
            }
        }
        assertClose(try forward(network, input).prediction(), expected)
        XCTAssertEqual(expected, [1.5, 2.5, -2, -1, 1.75, 2.5])
    }

    func testConvolutionDefaultsToLogisticAndBatchNormalizes() throws {
        let cfg = "[net]\nwidth=2\nheight=1\nchannels=1\n[convolutional]\nfilters=1\nsize=1\nbatch_normalize=1\n"
        // biases, scales, rolling mean, rolling variance, weights
        let network = try network(cfg, parameters: [0.25, 2, 1, 4, 3])
        let input: [Float] = [1, -2]
        let expected = input.map { x -> Double in
            let normalized = (3 * Double(x) - 1) / (sqrt(4) + 0.000001)
            return 1 / (1 + exp(-(normalized * 2 + 0.25)))
        }
        assertClose(try forward(network, input).prediction(), expected)
    }

    func testConnectedBatchNormalizesAfterTheProduct() throws {
        let cfg = "[net]\ninputs=2\n[connected]\noutput=2\nbatch_normalize=1\nactivation=leaky\n"
        // biases (2), weights (2 x 2, output-major), scales, rolling mean, rolling variance
        let network = try network(cfg, parameters: [0.5, -1, 1, 2, -3, 1, 2, 3, 1, 0, 4, 9])
        let input: [Float] = [1, -2]
        let products: [Double] = [-3, -5]  // 1·1 + 2·(-2), -3·1 + 1·(-2)
        let scales: [Double] = [2, 3], means: [Double] = [1, 0], variances: [Double] = [4, 9], biases: [Double] = [0.5, -1]
        let expected = (0..<2).map { o -> Double in
            let normalized: Double = (products[o] - means[o]) / (sqrt(variances[o]) + 0.000001)
            let y: Double = normalized * scales[o] + biases[o]
            return y > 0 ? y : 0.1 * y
        }
        assertClose(try forward(network, input).prediction(), expected)
        let two = try forward(network, input + input, batch: 2)
        assertClose(two.prediction(image: 1), expected)
    }

    func testThreeByThreeConvolutionPadsWithZeros() throws {
        let cfg = "[net]\nwidth=3\nheight=3\nchannels=1\n[convolutional]\nfilters=1\nsize=3\npad=1\nactivation=linear\n"
        let network = try network(cfg, parameters: [0] + [Float](repeating: 1, count: 9))
        let result = try forward(network, [Float](repeating: 1, count: 9))
        XCTAssertEqual(Array(result.prediction()), [4, 6, 4, 6, 9, 6, 4, 6, 4])
        // A kernel that picks one neighbour shows which way the window runs.
        var kernel = [Float](repeating: 0, count: 9)
        kernel[5] = 1  // row 1, column 2: the right-hand neighbour
        let shifted = try forward(self.network(cfg, parameters: [0] + kernel), (1...9).map(Float.init))
        XCTAssertEqual(Array(shifted.prediction()), [2, 3, 0, 5, 6, 0, 8, 9, 0])
    }

    func testMaxPoolPadsLikeDarknet() throws {
        // size=2 stride=1 on 3x3: padding defaults to 1, windows start at -padding/2 = 0,
        // so the output is 3x3 and the last row and column see only the image's edge.
        let cfg = "[net]\nwidth=3\nheight=3\nchannels=1\n[maxpool]\nsize=2\nstride=1\n"
        let network = try network(cfg)
        XCTAssertEqual(network.layers[0].output, Shape(width: 3, height: 3, channels: 1))
        XCTAssertEqual(Array(try forward(network, (1...9).map(Float.init)).prediction()), [5, 6, 6, 8, 9, 9, 8, 9, 9])
        // Cells outside the image never win, even over negative values.
        XCTAssertEqual(Array(try forward(network, (1...9).map { -Float($0) }).prediction()), (1...9).map { -Float($0) })
        // size=3 stride=2 on 4x4: padding 2, windows start at -1.
        let odd = try self.network("[net]\nwidth=4\nheight=4\nchannels=1\n[maxpool]\nsize=3\nstride=2\n")
        XCTAssertEqual(odd.layers[0].output, Shape(width: 2, height: 2, channels: 1))
        let input: [Float] = [1, 9, 2, 3,
                              4, 5, 6, 7,
                              8, 0, 1, 2,
                              3, 4, 5, 6]
        XCTAssertEqual(Array(try forward(odd, input).prediction()), [9, 9, 8, 7])
    }

    func testAveragePool() throws {
        let network = try network("[net]\nwidth=2\nheight=2\nchannels=2\n[avgpool]\n")
        assertClose(try forward(network, [1, 2, 3, 4, -1, 0.5, 8, 0]).prediction(), [2.5, 1.875])
    }

    func testSoftmaxGroupsAndTemperature() throws {
        let network = try network("[net]\ninputs=6\n[softmax]\ngroups=2\ntemperature=.5\n")
        XCTAssertEqual(network.input, .flat(6))
        let softmax = try XCTUnwrap(network.layers[0] as? Softmax)
        XCTAssertEqual(softmax.groups, 2)
        XCTAssertEqual(softmax.temperature, 0.5)
        let input: [Float] = [1, 2, 3, -4, 0, 4]
        func reference(_ values: ArraySlice<Float>) -> [Double] {
            let e = values.map { exp(Double($0) / 0.5) }
            return e.map { $0 / e.reduce(0, +) }
        }
        let output = try forward(network, input).prediction()
        assertClose(output, reference(input[0..<3]) + reference(input[3..<6]))
        XCTAssertEqual(Double(output.prefix(3).reduce(0, +)), 1, accuracy: 1e-6)
        XCTAssertEqual(Double(output.suffix(3).reduce(0, +)), 1, accuracy: 1e-6)
        // Without groups or temperature: one softmax over everything.
        let plain = try self.network("[net]\ninputs=6\n[softmax]\n")
        let e = input.map { exp(Double($0)) }
        assertClose(try forward(plain, input).prediction(), e.map { $0 / e.reduce(0, +) })
    }

    func testRouteConcatenatesChannels() throws {
        let cfg = Self.tinyNet + """
            [convolutional]
            filters=1
            activation=linear
            [convolutional]
            filters=2
            activation=linear
            [route]
            layers=-1,0
            [route]
            layers=0
            """
        // Layer 0: 2x + 0.5. Layer 1: channel 0 = layer 0, channel 1 = 1 - layer 0.
        let network = try network(cfg, parameters: [0.5, 2, 0, 1, 1, -1])
        let input: [Float] = [1, 2, 3, 4]
        let zero = input.map { 2 * $0 + 0.5 }
        let result = try forward(network, input)
        XCTAssertEqual(result.layerOutputs[0], zero)
        XCTAssertEqual(result.layerOutputs[1], zero + zero.map { 1 - $0 })
        XCTAssertEqual(result.layerOutputs[2], zero + zero.map { 1 - $0 } + zero)
        XCTAssertEqual(result.layerOutputs[3], zero)
        // Batches concatenate image by image.
        let two = try forward(network, input + input.map { -$0 }, batch: 2)
        let second = input.map { -2 * $0 + 0.5 }
        XCTAssertEqual(two.layerOutputs[2], zero + zero.map { 1 - $0 } + zero + second + second.map { 1 - $0 } + second)
    }

    func testShortcutAddsScaledAndSampled() throws {
        let cfg = Self.tinyNet + """
            [convolutional]
            filters=1
            activation=linear
            [convolutional]
            filters=1
            activation=linear
            [shortcut]
            from=-2
            alpha=0.5
            beta=2
            [shortcut]
            from=0
            activation=relu
            """
        // Layer 0: 3x + 1. Layer 1: -2 * layer 0.
        let network = try network(cfg, parameters: [1, 3, 0, -2])
        let input: [Float] = [1, -2, 0, 0.5]
        let zero = input.map { 3 * $0 + 1 }
        let one = zero.map { -2 * $0 }
        let two = zip(one, zero).map { 0.5 * $0 + 2 * $1 }
        let result = try forward(network, input)
        XCTAssertEqual(result.layerOutputs[2], two)
        XCTAssertEqual(result.layerOutputs[3], zip(two, zero).map { max($0 + $1, 0) })

        // From a 4x4x1 layer to a 2x2x2 one: every second pixel, into the first channel only.
        let sampled = try self.network("""
            [net]
            width=4
            height=4
            channels=1
            [maxpool]
            size=1
            [maxpool]
            stride=2
            [convolutional]
            filters=2
            activation=linear
            [shortcut]
            from=0
            """, parameters: [0, 0, 1, -1])
        let image = (0..<16).map(Float.init)
        let out = try forward(sampled, image)
        let pooled: [Float] = [5, 7, 13, 15]
        XCTAssertEqual(out.layerOutputs[2], pooled + pooled.map { -$0 })
        XCTAssertEqual(out.layerOutputs[3], zip(pooled, [0, 2, 8, 10]).map { $0 + $1 } + pooled.map { -$0 })
    }

    func testBatchOfTwoEqualsTwoBatchesOfOne() throws {
        var network = try Network(cfg: Repo.path("cfg/tiny.cfg"))
        try network.randomize(seed: 11)
        let size = network.input
        let first = try Image(contentsOf: Repo.path("assets/dog.jpg")).letterboxed(width: size.width, height: size.height).values
        let second = try Image(contentsOf: Repo.path("assets/eagle.jpg")).resized(width: size.width, height: size.height).values
        let predictor = Predictor(network: network)
        let both = try predictor.forward(first + second, batch: 2)
        let one = try predictor.forward(first)
        let other = try predictor.forward(second)
        for index in network.layers.indices {
            let count = network.layers[index].output.count
            let name = "layer \(index) (\(network.layers[index].sectionName))"
            XCTAssertLessThanOrEqual(relativeError(both.layerOutputs[index].prefix(count), one.layerOutputs[index]), 1e-6, name)
            XCTAssertLessThanOrEqual(relativeError(both.layerOutputs[index].suffix(count), other.layerOutputs[index]), 1e-6, name)
        }
        XCTAssertLessThanOrEqual(relativeError(both.prediction(image: 1), other.prediction()), 1e-6)
        XCTAssertNotEqual(Array(one.prediction()), Array(other.prediction()))
        // Reusing the predictor's buffers leaves nothing behind.
        let again = try predictor.forward(first + second, batch: 2)
        XCTAssertEqual(again.layerOutputs, both.layerOutputs)
        XCTAssertThrowsError(try predictor.forward(first, batch: 2))
    }

    /// Without the layer outputs kept, outputs share places in the predictor's memory once
    /// nothing reads them; the prediction must not change, for routes and shortcuts that read
    /// far back (SqueezeNet, ResNet-18 with its sampled shortcuts, DenseNet-201), on one
    /// predictor that switches between the two ways and back.
    func testSharedOutputsGiveTheSamePrediction() throws {
        for cfg in [Repo.path("cfg/squeezenet.cfg"), Repo.path("cfg/resnet18.cfg"), "\(Oracle.share)/cfg/densenet201.cfg"]
        where FileManager.default.fileExists(atPath: cfg) {
            var network = try Network(cfg: cfg)
            try network.randomize(seed: 3)
            let size = network.input
            let input = try Image(contentsOf: Repo.path("assets/dog.jpg")).letterboxed(width: size.width, height: size.height).values
            let predictor = Predictor(network: network)
            let kept = try predictor.forward(input)
            let shared = try predictor.forward(input, keepingLayerOutputs: false)
            XCTAssertEqual(Array(shared.prediction()), Array(kept.prediction()), cfg)
            XCTAssertEqual(try predictor.forward(input).layerOutputs, kept.layerOutputs, cfg)
        }
    }

    /// Without the layer outputs kept, a convolution does the next layer's work in its own
    /// pass where nothing else reads its output: a maxpool of size and stride 2 after a Winograd
    /// convolution (Tiny Darknet's three, Darknet Reference's five and Darknet-19's four, where the
    /// maxpool's output could take the place of the convolution's input; Extraction's three),
    /// and a residual shortcut in the epilogue (ResNet's, after direct and Winograd
    /// convolutions, each activation). Every shipped network's prediction is the same to the bit, for each image
    /// of a batch too, with either way of summing.
    func testLayersRunInsideConvolutionsGiveTheSamePrediction() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Its prediction is the last shortcut's output, so no softmax flattens a difference.
        let residual = directory.appendingPathComponent("residual.cfg").path
        try """
            [net]
            width=16
            height=16
            channels=3
            [convolutional]
            filters=16
            size=3
            pad=1
            activation=leaky
            [convolutional]
            batch_normalize=1
            filters=16
            size=3
            pad=1
            activation=linear
            [shortcut]
            from=-2
            activation=leaky
            [convolutional]
            filters=16
            size=1
            activation=relu
            [shortcut]
            from=-2
            activation=linear
            [convolutional]
            batch_normalize=1
            filters=16
            size=1
            activation=leaky
            [shortcut]
            from=-3
            activation=relu
            """.write(toFile: residual, atomically: true, encoding: .utf8)
        let fused: [String: (pools: Int, shortcuts: Int)] = [
            "tiny.cfg": (3, 0), "darknet.cfg": (5, 0), "darknet19.cfg": (4, 0), "extraction.cfg": (3, 0),
            // Not ResNet-18's three sampled shortcuts, nor this one's second: its convolution's
            // output is read by the last shortcut too.
            "resnet18.cfg": (0, 5), "residual.cfg": (0, 2),
        ]
        let shipped = try FileManager.default.contentsOfDirectory(atPath: Repo.path("cfg")).filter { $0.hasSuffix(".cfg") }
        XCTAssertTrue(Set(fused.keys).subtracting(["residual.cfg"]).isSubset(of: shipped))
        for path in shipped.sorted().map({ Repo.path("cfg/\($0)") }) + [residual] {
            let name = URL(fileURLWithPath: path).lastPathComponent
            for algorithm in ConvolutionAlgorithm.allCases {
                var network = try Network(cfg: path)
                try network.randomize(seed: 5)
                network.use(algorithm)
                let size = network.input
                let input = try Image(contentsOf: Repo.path("assets/dog.jpg")).letterboxed(width: size.width, height: size.height).values
                let predictor = Predictor(network: network)
                let kept = try predictor.forward(input)
                let shared = try predictor.forward(input, keepingLayerOutputs: false)
                // A layer run inside the one before takes no time of its own.
                func skipped(_ kind: any Layer.Type) -> Int {
                    shared.layerSeconds.indices.filter { type(of: network.layers[$0]) == kind && shared.layerSeconds[$0] == 0 }.count
                }
                let expected = fused[name] ?? (0, 0)
                XCTAssertEqual(skipped(MaxPool.self), algorithm == .winograd ? expected.pools : 0, "\(name) \(algorithm): maxpools inside convolutions")
                XCTAssertEqual(skipped(Shortcut.self), expected.shortcuts, "\(name) \(algorithm): shortcuts inside convolutions")
                XCTAssertEqual(shared.prediction().map(\.bitPattern), kept.prediction().map(\.bitPattern), "\(name) \(algorithm)")
                guard expected != (0, 0) else { continue }
                // Each image of a batch goes to its own place.
                let batch = try predictor.forward(input + input, batch: 2, keepingLayerOutputs: false)
                XCTAssertEqual(batch.prediction(image: 1).map(\.bitPattern), kept.prediction().map(\.bitPattern), "\(name) \(algorithm)")
            }
        }
    }

    /// However many threads split the loops, and however each convolution computes its sums,
    /// every layer's output is the same to the bit: the threads split work, never a sum.
    func testThreadCountsGiveTheSameOutputs() throws {
        for cfg in [Repo.path("cfg/tiny.cfg"), Repo.path("cfg/resnet18.cfg")] {
            for convolution in ConvolutionAlgorithm.allCases {
                var network = try Network(cfg: cfg)
                network.use(convolution)
                try network.randomize(seed: 5)
                let size = network.input
                let input = try Image(contentsOf: Repo.path("assets/dog.jpg")).letterboxed(width: size.width, height: size.height).values
                let one = try Predictor(network: network, threads: 1).forward(input)
                for threads in [2, 3] {
                    let many = try Predictor(network: network, threads: threads).forward(input)
                    let differing = zip(many.layerOutputs, one.layerOutputs).enumerated().filter { $1.0 != $1.1 }.map(\.offset)
                    XCTAssertEqual(differing, [], "\(cfg), \(convolution), \(threads) threads: layers that differ")
                }
            }
        }
    }

    // MARK: - images

    private static let convert = "/usr/bin/convert"

    private func imageDirectory() throws -> URL {
        try Oracle.requireDarknet()
        guard FileManager.default.isExecutableFile(atPath: Self.convert) else {
            if Repo.isCI { throw DarknetError.usage("ImageMagick's convert is missing; CI must install imagemagick") }
            throw XCTSkip("ImageMagick's convert is not installed")
        }
        return try Repo.temporaryDirectory()
    }

    /// Runs ImageMagick; a last argument such as `PNG24:` names the output's encoding.
    private func convert(_ arguments: [String], to output: URL) throws {
        var arguments = arguments
        let format = arguments.last?.hasSuffix(":") == true ? arguments.removeLast() : ""
        let result = try runProcess(Self.convert, arguments + [format + output.path])
        guard result.status == 0 else { throw DarknetError.usage("convert \(arguments) failed: \(result.stderr)") }
    }

    private func assertSame(_ ours: Image, _ theirs: Image, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual([ours.width, ours.height, ours.channels], [theirs.width, theirs.height, theirs.channels], "\(name): size", file: file, line: line)
        guard ours.values.count == theirs.values.count else { return }
        let differing = zip(ours.values, theirs.values).filter { $0 != $1 }.count
        XCTAssertEqual(differing, 0, "\(name): \(differing) of \(ours.values.count) values differ from Darknet's", file: file, line: line)
    }

    /// PNG and JPEG variants of a photo, each decoded as Darknet's `load_image_color` decodes it.
    func testImageEncodingsDecodeAsDarknetDoes() throws {
        let directory = try imageDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dog = Repo.path("assets/dog.jpg")
        let small = [dog, "-resize", "37x29!"]
        // What each file must be, as `encoding(of:)` describes it, so that a change in
        // ImageMagick cannot quietly drop an encoding from the test.
        let variants: [(name: String, arguments: [String], encoding: String)] = [
            ("rgb8.png", small + ["PNG24:"], "PNG 8-bit RGB"),
            ("gray8.png", small + ["-colorspace", "Gray", "-depth", "8"], "PNG 8-bit gray"),
            ("graya.png", small + ["-colorspace", "Gray", "-alpha", "set", "-channel", "A", "-fx", "i/w", "+channel"], "PNG 8-bit gray+alpha"),
            ("rgba.png", small + ["-alpha", "set", "-channel", "A", "-fx", "j/h", "+channel", "PNG32:"], "PNG 8-bit RGBA"),
            ("palette.png", small + ["PNG8:"], "PNG 8-bit palette"),
            ("palette4.png", small + ["-colors", "12", "-define", "png:bit-depth=4", "-define", "png:color-type=3"], "PNG 4-bit palette"),
            ("palette-trns.png", small + ["-fuzz", "10%", "-transparent", "rgb(128,128,128)", "PNG8:"], "PNG 8-bit palette tRNS"),
            ("rgb-trns.png", small + ["-fuzz", "10%", "-transparent", "rgb(128,128,128)", "PNG24:"], "PNG 8-bit RGB tRNS"),
            ("gray-trns.png", small + ["-colorspace", "Gray", "-depth", "8", "-fuzz", "10%", "-transparent", "gray(50%)",
                                       "-define", "png:color-type=0"], "PNG 8-bit gray tRNS"),
            ("gray4.png", small + ["-colorspace", "Gray", "-depth", "4"], "PNG 4-bit gray"),
            ("rgb16.png", small + ["-depth", "16", "PNG48:"], "PNG 16-bit RGB"),
            ("gray16.png", small + ["-colorspace", "Gray", "-depth", "16"], "PNG 16-bit gray"),
            ("rgba16.png", small + ["-alpha", "set", "-channel", "A", "-fx", "i/w", "+channel", "-depth", "16", "PNG64:"], "PNG 16-bit RGBA"),
            ("gray1.png", small + ["-monochrome"], "PNG 1-bit gray"),
            ("interlaced.png", small + ["-interlace", "PNG", "PNG24:"], "PNG 8-bit RGB interlaced"),
            ("gray.jpg", small + ["-colorspace", "Gray"], "JPEG SOF0 1 component"),
            ("rgb.jpg", small + ["-sampling-factor", "2x2", "-quality", "70"], "JPEG SOF0 3 components"),
            ("progressive.jpg", small + ["-interlace", "JPEG"], "JPEG SOF2 3 components"),
        ]
        for variant in variants {
            let url = directory.appendingPathComponent(variant.name)
            try convert(variant.arguments, to: url)
            XCTAssertEqual(encoding(of: try Data(contentsOf: url)), variant.encoding, variant.name)
            assertSame(try Image(contentsOf: url.path), try Oracle.image(url.path, in: directory), variant.name)
        }
    }

    /// A PNG's bit depth, colour type and interlacing, or a JPEG's frame type and components.
    private func encoding(of data: Data) -> String {
        let bytes = [UInt8](data)
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), bytes.count > 28 {
            let types = [0: "gray", 2: "RGB", 3: "palette", 4: "gray+alpha", 6: "RGBA"]
            var chunks: [String] = []
            var offset = 8
            while offset + 8 <= bytes.count {
                chunks.append(String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self))
                offset += 12 + bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            }
            return "PNG \(bytes[24])-bit \(types[Int(bytes[25])] ?? "type \(bytes[25])")" + (bytes[28] == 1 ? " interlaced" : "")
                + (chunks.contains("tRNS") ? " tRNS" : "")
        }
        var offset = 2
        while offset + 9 < bytes.count, bytes[offset] == 0xFF {
            let marker = bytes[offset + 1]
            if (0xC0...0xCF).contains(marker), ![0xC4, 0xC8, 0xCC].contains(marker) {
                let components = bytes[offset + 9]
                return "JPEG SOF\(marker - 0xC0) \(components) component" + (components == 1 ? "" : "s")
            }
            offset += 2 + Int(bytes[offset + 2]) << 8 + Int(bytes[offset + 3])
        }
        return "unknown"
    }

    /// OpenCV's imread turns and flips an image as its Exif orientation says, for JPEG and PNG.
    func testExifOrientationIsAppliedAsDarknetDoes() throws {
        let directory = try imageDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let orientations = ["TopLeft", "TopRight", "BottomRight", "BottomLeft", "LeftTop", "RightTop", "RightBottom", "LeftBottom"]
        for (index, orientation) in orientations.enumerated() {
            for format in ["jpg", "png"] {
                let url = directory.appendingPathComponent("orient\(index + 1).\(format)")
                try convert([Repo.path("assets/dog.jpg"), "-resize", "13x7!", "-orient", orientation], to: url)
                let theirs = try Oracle.image(url.path, in: directory)
                XCTAssertEqual(theirs.width, index < 4 ? 13 : 7, "\(url.lastPathComponent): the oracle turned it")
                assertSame(try Image(contentsOf: url.path), theirs, url.lastPathComponent)
            }
        }
    }

    func testResizedAndLetterboxedMatchDarknet() throws {
        let directory = try imageDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let wide = directory.appendingPathComponent("wide.png")
        let tall = directory.appendingPathComponent("tall.jpg")
        try convert([Repo.path("assets/dog.jpg"), "-resize", "61x23!", "PNG24:"], to: wide)
        try convert([Repo.path("assets/horses.jpg"), "-resize", "19x53!"], to: tall)
        for path in [wide.path, tall.path, Repo.path("assets/dog.jpg")] {
            let image = try Image(contentsOf: path)
            for (width, height) in [(224, 224), (32, 32), (40, 17), (17, 40), (image.width, image.height), (1, 5)] {
                let name = "\(URL(fileURLWithPath: path).lastPathComponent) in \(width)x\(height)"
                assertSame(image.letterboxed(width: width, height: height), try Oracle.image(path, width: width, height: height, in: directory), name)
            }
        }
        // resize_image by hand: corners kept, same size is the identity, halfway is the mean.
        let image = try Image(contentsOf: wide.path)
        XCTAssertEqual(image.resized(width: image.width, height: image.height), image)
        let big = image.resized(width: 150, height: 90)
        for c in 0..<3 {
            XCTAssertEqual(big[0, 0, c], image[0, 0, c])
            XCTAssertEqual(big[149, 0, c], image[60, 0, c])
            XCTAssertEqual(big[0, 89, c], image[0, 22, c], accuracy: 1e-5)
            XCTAssertEqual(big[149, 89, c], image[60, 22, c], accuracy: 1e-5)
        }
        let line = Image(width: 3, height: 1, channels: 1, values: [0, 1, 4])
        XCTAssertEqual(line.resized(width: 5, height: 1).values, [0, 0.5, 1, 2.5, 4])
        XCTAssertEqual(line.resized(width: 1, height: 1).values, [4], "Darknet keeps the last column")
        XCTAssertEqual(Image(width: 1, height: 3, channels: 1, values: [0, 1, 4]).resized(width: 2, height: 5).values,
                       [0, 0, 0.5, 0.5, 1, 1, 2.5, 2.5, 4, 4])
    }
}
