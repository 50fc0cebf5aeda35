import Darknet
import Foundation
import XCTest

/// The backward pass against Darknet's own backward functions (through the oracle's
/// `gradient` mode, which records where it departs from `backward_network`, and why) and
/// against central finite differences in double precision.
final class GradientTests: XCTestCase {
    /// Every layer type Darknet's backward defines as ours, in small networks: convolutions
    /// with groups, batch norm (folded by the oracle), 1×1 and 5×5, strides, maxpools,
    /// avgpool, connected with batch norm, route, shortcuts of equal and unequal shapes,
    /// dropout and cost. Each layer's gradient and the input's within 1e-4 relative.
    func testEveryLayerTypeMatchesDarknet() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, cfg) in [("convolutions", Self.convolutions), ("activations", Self.activations),
                            ("routes", Self.routes), ("connected", Self.connected)] {
            let network = try Self.network(cfg, named: name, in: directory)
            try compareWithDarknet(network, input: Self.randomValues(network.input.count, seed: 3), top: Self.logits(network),
                                   name: name, in: directory)
        }
    }

    /// Tiny Darknet with its real weights on the dog, from malamute's logit, and every shipped
    /// cfg with random weights at 64 × 64 (which keeps Darknet's half of the test quick; every
    /// layer still runs), from a random gradient at the softmax's input.
    func testShippedCfgsMatchDarknet() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let photo = try Image(contentsOf: Repo.path("assets/dog.jpg"))
        let weights = try Repo.requireTinyWeights()
        var tiny = try Network(cfg: Repo.path("cfg/tiny.cfg"))
        try tiny.loadWeights(path: weights)
        let malamute = try XCTUnwrap(try String(contentsOfFile: Repo.path("assets/imagenet1k.names"), encoding: .utf8)
            .split(separator: "\n").firstIndex(of: "malamute"))
        var seed = [Float](repeating: 0, count: 1000)
        seed[malamute] = 1
        let image = photo.letterboxed(width: 224, height: 224).values
        // By default a network sums by Winograd's: `Backpropagator.forward` still runs Darknet's.
        XCTAssertEqual(tiny.convolution, .winograd)
        try compareWithDarknet(tiny, weights: weights, input: image, top: Self.logits(tiny), seed: seed,
                               name: "tiny.cfg, real weights, Winograd forward", in: directory)
        tiny.use(.darknet)
        try compareWithDarknet(tiny, weights: weights, input: image, top: Self.logits(tiny), seed: seed,
                               name: "tiny.cfg, real weights", in: directory)
        let cfgs = try FileManager.default.contentsOfDirectory(atPath: Repo.path("cfg")).filter { $0.hasSuffix(".cfg") }.sorted()
        XCTAssertGreaterThanOrEqual(cfgs.count, 7)
        for name in cfgs {
            let text = try String(contentsOfFile: Repo.path("cfg/\(name)"), encoding: .utf8)
            let side = 64
            let network = try Self.network(Self.resized(text, to: side), named: name, in: directory)
            let input = photo.letterboxed(width: side, height: side).values
            try compareWithDarknet(network, input: input, top: Self.logits(network), name: name, in: directory)
        }
    }

    /// Every stock classification cfg of the parity tests that darkscope does not ship (the
    /// shipped ones are checked at 64 × 64 above), at 32 × 32: among them ResNet-50's
    /// bottlenecks (a 1×1 convolution reading a shortcut's output), ResNeXt's grouped
    /// convolutions, DenseNet-201's routes, VGG-16's crop. Darknet's crop has no backward, so
    /// below VGG-16's crop only ours is defined (checked in
    /// `testEveryLayerTypeMatchesFiniteDifferences`).
    func testStockCfgsMatchDarknet() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let photo = try Image(contentsOf: Repo.path("assets/dog.jpg"))
        let shipped = Set(try FileManager.default.contentsOfDirectory(atPath: Repo.path("cfg")))
        let stock = OracleTests.parityCfgs.filter { $0.hasPrefix(Oracle.share) && !shipped.contains(URL(fileURLWithPath: $0).lastPathComponent) }
        XCTAssertEqual(stock.count, 10)
        for cfg in stock {
            let name = URL(fileURLWithPath: cfg).lastPathComponent
            let network = try Self.network(Self.resized(try String(contentsOfFile: cfg, encoding: .utf8), to: 32), named: name, in: directory)
            try compareWithDarknet(network, input: photo.letterboxed(width: 32, height: 32).values, top: Self.logits(network),
                                   name: name, in: directory)
            try FileManager.default.removeItem(atPath: Self.weightsPath(network.cfgPath))
        }
    }

    /// Every layer type, crop, softmax (with groups and a temperature) and shortcuts that
    /// scale by alpha included, against central differences of a double-precision forward pass:
    /// a sample of each layer's gradient, and the input's.
    func testEveryLayerTypeMatchesFiniteDifferences() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, cfg) in [("convolutions", Self.convolutions), ("activations", Self.activations),
                            ("routes", Self.routes), ("connected", Self.connected), ("crop", Self.cropped),
                            ("alexeyab", Self.alexeyab)] {
            let network = try Self.network(cfg, named: name, in: directory)
            let input = Self.randomValues(network.input.count, seed: 5)
            let top = network.layers.count - 1
            let seed = Self.randomValues(network.layers[top].output.count, seed: 11, range: -1...1)
            let backpropagator = Backpropagator(network: network, threads: 2)
            let forward = try backpropagator.forward(input)
            let ours = try backpropagator.backward(seeding: top, with: seed, input: input, forward: forward)
            let reference = ReferenceForward(network: network)
            let doubleInput = input.map(Double.init)
            var outputs: [[Double]] = []
            reference.run(doubleInput, outputs: &outputs)
            // The forward pass itself: every layer within float rounding of the reference's.
            for (layer, values) in forward.layerOutputs.enumerated() {
                let scale = max(outputs[layer].map(abs).max() ?? 0, 1e-6)
                let error = zip(values, outputs[layer]).map { abs(Double($0) - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(error / scale, 1e-5, "\(name): layer \(layer) (\(network.layers[layer].sectionName)) forward")
            }
            let objective = { (outputs: [[Double]]) in zip(outputs[top], seed).reduce(0.0) { $0 + $1.0 * Double($1.1) } }
            for layer in -1..<top {
                let gradient = layer < 0 ? ours.input : ours.layers[layer]
                let values = layer < 0 ? doubleInput : outputs[layer]
                let scale = max(gradient.map(abs).max() ?? 0, 1e-6)
                var worst: Double = 0
                // A spread of each layer's values.
                for i in Swift.stride(from: 0, to: values.count, by: max(1, values.count / 48)) {
                    let step = 1e-5
                    let difference = [step, -step].map { delta -> Double in
                        var perturbed = outputs, image = doubleInput
                        if layer < 0 { image[i] += delta } else { perturbed[layer][i] += delta }
                        reference.run(image, from: layer + 1, outputs: &perturbed, through: top)
                        return objective(perturbed)
                    }
                    let estimate = (difference[0] - difference[1]) / (2 * step)
                    worst = max(worst, abs(estimate - Double(gradient[i])) / Double(scale))
                }
                XCTAssertLessThanOrEqual(worst, 1e-4, "\(name): layer \(layer) (\(layer < 0 ? "input" : network.layers[layer].sectionName))")
            }
        }
    }

    /// Each objective's input gradient against central differences of that scalar, and a
    /// batch's gradients each those of its image alone.
    func testObjectivesMatchFiniteDifferences() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let network = try Self.network(Self.connected, named: "objectives", in: directory)
        let input = Self.randomValues(network.input.count, seed: 17)
        let backpropagator = Backpropagator(network: network, threads: 2)
        let forward = try backpropagator.forward(input)
        let reference = ReferenceForward(network: network)
        let last = network.layers.count - 1
        XCTAssertTrue(network.layers[last] is Softmax)
        let objectives: [(Objective, ([[Double]]) -> Double)] = [
            (.logit(class: 3), { $0[last - 1][3] }),
            (.probability(class: 3), { $0[last][3] }),
            (.channelMean(layer: 0, channel: 2), { outputs in
                let spatial = network.layers[0].output.spatial
                return outputs[0][(2 * spatial)..<(3 * spatial)].reduce(0, +) / Double(spatial)
            }),
            (.channelMean(layer: last - 1, channel: 4), { $0[last - 1][4] }),
        ]
        for (objective, value) in objectives {
            let ours = try backpropagator.backward(objective, input: input, forward: forward)
            XCTAssertGreaterThan(ours.input.map(abs).max() ?? 0, 0, "\(objective)")
            let scale = Double(ours.input.map(abs).max() ?? 1)
            var worst: Double = 0
            for i in 0..<input.count {
                let step = 1e-5
                let estimate = [step, -step].map { delta -> Double in
                    var image = input.map(Double.init), outputs: [[Double]] = []
                    image[i] += delta
                    reference.run(image, outputs: &outputs)
                    return value(outputs)
                }
                worst = max(worst, abs((estimate[0] - estimate[1]) / (2 * step) - Double(ours.input[i])) / scale)
            }
            XCTAssertLessThanOrEqual(worst, 1e-4, "\(objective)")
            // A batch of two: the second image's gradient is its own (to rounding: a batch's
            // connected layers multiply matrices where one image's multiply a vector).
            let other = Self.randomValues(network.input.count, seed: 19)
            let pair = try backpropagator.backward(objective, input: other + input,
                                                   forward: try backpropagator.forward(other + input, batch: 2))
            XCTAssertLessThanOrEqual(relativeError(pair.input(image: 1), ours.input), 1e-5, "\(objective), batch of two")
            XCTAssertGreaterThan(relativeError(pair.input(image: 0), ours.input), 1e-2, "\(objective), batch of two")
            for (both, one) in zip(pair.layers, ours.layers) {
                XCTAssertLessThanOrEqual(relativeError(both[(both.count / 2)...], one), 1e-5, "\(objective), batch of two")
            }
        }
        // Above the layer an objective reads, the gradients are zero, whatever the pass before left.
        _ = try backpropagator.backward(.probability(class: 1), input: input, forward: forward)
        let first = try backpropagator.backward(.channelMean(layer: 0, channel: 1), input: input, forward: forward)
        XCTAssertTrue(first.layers.dropFirst().allSatisfy { $0.allSatisfy { $0 == 0 } })
        XCTAssertEqual(first.layers[0].filter { $0 != 0 }.count, network.layers[0].output.spatial)
        XCTAssertThrowsError(try backpropagator.backward(.logit(class: 10), input: input, forward: forward))
        XCTAssertThrowsError(try backpropagator.backward(.channelMean(layer: 1, channel: 99), input: input, forward: forward))
        XCTAssertThrowsError(try backpropagator.backward(seeding: 1, with: [1], input: input, forward: forward))
        let unkept = try Predictor(network: network).forward(input, keepingLayerOutputs: false)
        XCTAssertThrowsError(try backpropagator.backward(.logit(class: 1), input: input, forward: unkept))
    }

    /// Ours from `seed` (random unless given) at layer `top`, against Darknet's.
    private func compareWithDarknet(_ network: Network, weights: String? = nil, input: [Float], top: Int, seed given: [Float]? = nil,
                                    name: String, in directory: URL) throws {
        let seed = given ?? Self.randomValues(network.layers[top].output.count, seed: 13, range: -1...1)
        let backpropagator = Backpropagator(network: network)
        let ours = try backpropagator.backward(seeding: top, with: seed, input: input, forward: try backpropagator.forward(input))
        let theirs = try Oracle.gradients(cfg: network.cfgPath, weights: weights ?? Self.weightsPath(network.cfgPath),
                                          input: input, layer: top, seed: seed, in: directory)
        XCTAssertEqual(theirs.layers.count, network.layers.count, name)
        // Darknet's gradient stops at a crop, whose backward it leaves empty.
        let crop = network.layers.lastIndex { $0 is Crop }
        if crop == nil {
            XCTAssertGreaterThan(theirs.input.map(abs).max() ?? 0, 0, "\(name): Darknet's input gradient is zero")
            XCTAssertLessThanOrEqual(relativeError(ours.input, theirs.input), 1e-4, "\(name): input")
        }
        for (index, (mine, reference)) in zip(ours.layers, theirs.layers).enumerated().prefix(top + 1) where index >= crop ?? 0 {
            XCTAssertEqual(mine.count, reference.count, "\(name) layer \(index)")
            XCTAssertLessThanOrEqual(relativeError(mine, reference), 1e-4, "\(name) layer \(index) (\(network.layers[index].sectionName))")
        }
    }

    // MARK: Networks

    /// The layer whose output is the last softmax's input, or the last layer without one:
    /// Darknet's softmax passes its gradient through unchanged (see `Softmax.backward`).
    static func logits(_ network: Network) -> Int {
        network.layers.lastIndex { $0 is Softmax }.map { $0 - 1 } ?? network.layers.count - 1
    }

    /// `cfg` written as `name` in `directory`, with random weights from `darkscope weights init` loaded.
    static func network(_ cfg: String, named name: String, in directory: URL) throws -> Network {
        let path = directory.appendingPathComponent(name.hasSuffix(".cfg") ? name : "\(name).cfg").path
        try cfg.write(toFile: path, atomically: true, encoding: .utf8)
        let made = try darkscope("weights", "init", path, weightsPath(path), "--seed", "7")
        guard made.status == 0 else { throw DarknetError.usage("weights init \(name): \(made.stderr)") }
        var network = try Network(cfg: path)
        try network.loadWeights(path: weightsPath(path))
        return network
    }

    private static func weightsPath(_ cfg: String) -> String { cfg + ".weights" }

    /// `cfg` with its input `side` × `side` (a crop's seven eighths of it), and a training
    /// batch of 1, which Darknet would otherwise allocate.
    static func resized(_ cfg: String, to side: Int) -> String {
        let replacements = ["width": side, "height": side, "crop_width": side * 7 / 8, "crop_height": side * 7 / 8, "batch": 1]
        return cfg.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            let key = line.split(separator: "=").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            return replacements[key].map { "\(key)=\($0)" } ?? String(line)
        }.joined(separator: "\n")
    }

    /// Deterministic values spread over `range`.
    static func randomValues(_ count: Int, seed: UInt64, range: ClosedRange<Float> = 0...1) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return range.lowerBound + (range.upperBound - range.lowerBound) * Float(state >> 40) / Float(1 << 24)
        }
    }

    private static func cfg(_ width: Int, _ height: Int, _ sections: String...) -> String { cfg(width, height, sections) }

    private static func cfg(_ width: Int, _ height: Int, _ sections: [String]) -> String {
        "[net]\nwidth=\(width)\nheight=\(height)\nchannels=3\n\n" + sections.joined(separator: "\n\n") + "\n"
    }

    private static func convolutional(_ filters: Int, size: Int, stride: Int = 1, pad: Int = 1, groups: Int = 1,
                                      batchNormalize: Bool = false, activation: Activation = .leaky) -> String {
        "[convolutional]\nfilters=\(filters)\nsize=\(size)\nstride=\(stride)\npad=\(pad)\ngroups=\(groups)\n"
            + "batch_normalize=\(batchNormalize ? 1 : 0)\nactivation=\(activation.rawValue)"
    }

    static let convolutions = cfg(
        16, 16,
        convolutional(8, size: 3, batchNormalize: true),
        convolutional(8, size: 3, stride: 2, groups: 2, activation: .linear),
        convolutional(6, size: 1, activation: .relu),
        // Darknet reads a 1×1 convolution of stride 2 as a matrix of the first values.
        convolutional(4, size: 1, stride: 2, pad: 0, activation: .logistic),
        convolutional(6, size: 5, batchNormalize: true, activation: .elu),
        "[maxpool]\nsize=3\nstride=1",
        convolutional(6, size: 3, pad: 0, activation: .tanh),
        "[maxpool]\nsize=2\nstride=2",
        "[avgpool]")

    /// Each activation on its own branch from a common convolution, concatenated.
    static let activations = cfg(
        8, 8,
        [convolutional(4, size: 3, batchNormalize: true, activation: .linear)]
            + Activation.pjreddie.enumerated().flatMap { index, activation in
                ["[route]\nlayers=0", convolutional(2, size: 3, batchNormalize: index % 2 == 0, activation: activation)]
            }
            + ["[route]\nlayers=" + Activation.pjreddie.indices.map { "\(2 + 2 * $0)" }.joined(separator: ","), "[avgpool]"]
        )

    static let routes = cfg(
        12, 12,
        convolutional(8, size: 3),
        convolutional(8, size: 3),
        "[shortcut]\nfrom=-2\nactivation=leaky\nalpha=0.5\nbeta=2",
        convolutional(16, size: 3, stride: 2),
        // From the larger 12×12×8: every second pixel, the first 8 channels.
        "[shortcut]\nfrom=1\nactivation=linear",
        "[route]\nlayers=-1,-2",
        convolutional(8, size: 1),
        "[route]\nlayers=2",
        convolutional(16, size: 3),
        // From the smaller 6×6×16 onto every second pixel of 12×12×16.
        "[shortcut]\nfrom=6\nactivation=leaky",
        "[maxpool]\nsize=2\nstride=2",
        "[dropout]\nprobability=.5",
        "[avgpool]",
        "[cost]")

    static let connected = cfg(
        6, 6,
        convolutional(4, size: 3, stride: 2),
        "[connected]\noutput=12\nbatch_normalize=1\nactivation=leaky",
        "[dropout]\nprobability=.3",
        "[connected]\noutput=10\nactivation=linear",
        "[softmax]\ngroups=1")

    /// AlexeyAB's keys and layers: a dilated convolution, strides unlike across and down
    /// (3×3, 1×1 and a maxpool), a maxpool across channels, `[sam]`, shortcuts of several
    /// layers, with weights per channel (softmax-normalized) and per input (ReLU-normalized),
    /// the three activations across channels, and antialiasing (a 3×3 blur after a
    /// convolution, a 2×2 after a maxpool).
    static let alexeyab = cfg(
        14, 11,
        convolutional(6, size: 3, batchNormalize: true) + "\ndilation=2",
        "[convolutional]\nfilters=5\nsize=3\nstride_x=2\nstride_y=1\npad=1\nactivation=leaky",
        "[convolutional]\nfilters=4\nsize=1\nstride_x=1\nstride_y=2\nactivation=logistic",
        "[maxpool]\nsize=2\nstride_x=1\nstride_y=2",
        convolutional(6, size: 3, activation: .linear),
        "[maxpool]\nmaxpool_depth=1\nout_channels=3",
        convolutional(3, size: 1, activation: .logistic),
        "[sam]\nfrom=-2",
        // From a layer of 3 channels and one of 6, whose first 3 are added.
        "[shortcut]\nfrom=-3, -4\nweights_type=per_channel\nweights_normalization=softmax\nactivation=leaky",
        "[shortcut]\nfrom=4,6\nactivation=linear",
        "[shortcut]\nfrom=-2\nweights_type=per_feature\nweights_normalization=relu\nactivation=swish",
        "[convolutional]\nfilters=4\nsize=3\npad=1\nbatch_normalize=1\nactivation=normalize_channels",
        "[route]\nlayers=-2",
        "[convolutional]\nfilters=4\nsize=1\nactivation=normalize_channels_softmax",
        "[route]\nlayers=-4",
        "[convolutional]\nfilters=5\nsize=3\npad=1\nactivation=normalize_channels_softmax_maxval",
        "[route]\nlayers=-1,-3,-5",
        "[convolutional]\nfilters=4\nsize=3\nstride=2\npad=1\nantialiasing=1\nactivation=mish",
        "[maxpool]\nsize=2\nstride=2\nantialiasing=2",
        "[avgpool]")

    static let cropped = cfg(
        10, 10,
        "[crop]\ncrop_width=6\ncrop_height=6",
        convolutional(4, size: 3, batchNormalize: true),
        "[crop]\ncrop_width=4\ncrop_height=4\nnoadjust=1",
        // From the larger 6×6×3 onto 4×4×4: the fourth channel passes unscaled.
        "[shortcut]\nfrom=0\nalpha=0.5\nbeta=1.5\nactivation=logistic",
        "[connected]\noutput=8\nactivation=linear",
        "[softmax]\ngroups=2\ntemperature=2")
}

extension Oracle {
    /// Darknet's gradient with respect to the input and to every layer's output, from `seed`
    /// as layer `layer`'s delta (see the oracle's `gradient` mode).
    static func gradients(cfg: String, weights: String, input: [Float], layer: Int, seed: [Float],
                          in directory: URL) throws -> (input: [Float], layers: [[Float]]) {
        let inputPath = directory.appendingPathComponent("input.f32").path
        let seedPath = directory.appendingPathComponent("seed.f32").path
        let outputPath = directory.appendingPathComponent("gradients.bin").path
        _ = FileManager.default.createFile(atPath: inputPath, contents: input.withUnsafeBytes { Data($0) })
        _ = FileManager.default.createFile(atPath: seedPath, contents: seed.withUnsafeBytes { Data($0) })
        let result = try runProcess(helper(), ["gradient", cfg, weights, inputPath, "\(layer)", seedPath, outputPath])
        guard result.status == 0 else { throw DarknetError.usage("oracle failed on \(cfg): \(result.stderr)") }
        let records = try records(outputPath)
        return (records[0], Array(records.dropFirst()))
    }
}
