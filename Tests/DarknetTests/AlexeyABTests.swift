import Darknet
import DarknetKernels
import Foundation
import XCTest

/// AlexeyAB's dialect: its activations by hand, `[scale_channels]` by hand, and EfficientNet-B0
/// against OpenCV DNN (Debian's python3-opencv), which reads that dialect.
final class AlexeyABTests: XCTestCase {
    /// Values worked out with Python's math module from AlexeyAB's formulas.
    func testActivationsMatchHandValues() {
        let cases: [(Activation, [(Double, Double)])] = [
            (.swish, [(-3, -0.14227761953270035), (-1, -0.2689414213699951), (0.5, 0.3112296656009273), (2, 1.7615941559557646)]),
            (.mish, [(-3, -0.14564746127562428), (-1, -0.30340146137410895), (0.5, 0.3752452113048951), (2, 1.9439589595339946),
                     (30, 30), (-30, -30 * tanh(exp(-30)))]),
            (.gelu, [(-3, -0.0036374625774800995), (-1, -0.15880800109301235), (0.5, 0.3457140457929067), (2, 1.954597482284139)]),
            (.hardMish, [(-3, 0), (-2, 0), (-1, -0.5), (0.5, 0.5), (2, 2)]),
            (.relu6, [(-1, 0), (3, 3), (6, 6), (7.5, 6)]),
        ]
        for (activation, points) in cases {
            for (x, expected) in points {
                XCTAssertEqual(activation(x), expected, accuracy: 1e-12, "\(activation.rawValue)(\(x))")
                XCTAssertEqual(Double(activation(Float(x))), expected, accuracy: 1e-6 * max(1, abs(expected)), "\(activation.rawValue)(\(x)) in float")
            }
        }
        XCTAssertEqual(Activation.relu6.gradient(output: 3), 1)
        XCTAssertEqual(Activation.relu6.gradient(output: 6), 0)
        XCTAssertFalse(Activation.swish.gradientFromOutput)
        XCTAssertEqual(Activation(rawValue: "hard_mish"), .hardMish)
    }

    /// The kernels' float swish and mish (a polynomial exp) against the activations in
    /// double, from -100 to 100, on the instruction set chosen for this CPU.
    func testSmoothActivationKernelsAgreeWithDouble() {
        let points = stride(from: -100.0, through: 100.0, by: 0.0731).map { Float($0) }
        for (activation, kind) in [(Activation.swish, DS_SWISH), (.mish, DS_MISH)] {
            var values = points
            ds_activate_smooth(&values, values.count, kind)
            for (x, y) in zip(points, values) {
                let expected = activation(Double(x))
                XCTAssertEqual(Double(y), expected, accuracy: 1e-6 * max(1, abs(expected)), "\(activation.rawValue)(\(x))")
            }
        }
    }

    private func network(_ cfg: String, in directory: URL, name: String = "net") throws -> Network {
        let path = directory.appendingPathComponent("\(name).cfg").path
        try cfg.write(toFile: path, atomically: true, encoding: .utf8)
        var network = try Network(cfg: path)
        try network.randomize(seed: 5)
        return network
    }

    /// Each channel (or, with scale_wh, each position) of `from` times its scale, by hand from
    /// the layers' own outputs; the gradient against central differences; bad uses refused.
    func testScaleChannelsScalesEachChannelOrPosition() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let head = "[net]\nwidth=6\nheight=5\nchannels=3\n\n[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n\n"
        let channels = head + "[avgpool]\n\n[convolutional]\nfilters=4\nsize=1\nactivation=logistic\n\n[scale_channels]\nfrom=-3\n\n[avgpool]"
        let positions = head + "[convolutional]\nfilters=1\nsize=1\nactivation=logistic\n\n[scale_channels]\nfrom=-2\nscale_wh=1\n\n[avgpool]"
        let input = (0..<90).map { Float(sin(Double($0))) }
        for (cfg, scaleLayer, byPosition) in [(channels, 3, false), (positions, 2, true)] {
            let network = try self.network(cfg, in: directory)
            let layer = try XCTUnwrap(network.layers[scaleLayer] as? ScaleChannels)
            XCTAssertEqual(layer.output, Shape(width: 6, height: 5, channels: 4))
            let outputs = try Predictor(network: network, threads: 1).forward(input).layerOutputs
            let from = outputs[0], scales = outputs[scaleLayer - 1], scaled = outputs[scaleLayer]
            for i in 0..<from.count {
                XCTAssertEqual(scaled[i], from[i] * scales[byPosition ? i % 30 : i / 30], accuracy: 1e-6)
            }
            // The input gradient of the pooled sum of channel 2, against central differences in double.
            let backpropagator = Backpropagator(network: network, threads: 1)
            let gradient = try backpropagator.backward(.channelMean(layer: scaleLayer + 1, channel: 2), input: input,
                                                       forward: try backpropagator.forward(input), keepingLayerGradients: false).input
            let predictor = Predictor(network: network, threads: 1)
            for i in [0, 17, 44, 89] {
                var up = input, down = input
                up[i] += 1e-2
                down[i] -= 1e-2
                let difference = (try predictor.forward(up).prediction()[2] - (try predictor.forward(down).prediction()[2])) / 2e-2
                XCTAssertEqual(gradient[i], difference, accuracy: 2e-3 * max(1, abs(difference)), "input \(i)")
            }
        }
        let bad: [(String, String)] = [
            (head + "[convolutional]\nfilters=3\nsize=1\n\n[avgpool]\n\n[scale_channels]\nfrom=-3", "bad1.cfg:19: [scale_channels] scales layer 0's 6x5x4 channel by channel: its input must be 1x1x4, not 1x1x3"),
            (head + "[avgpool]\n\n[scale_channels]\nfrom=-3", "[scale_channels] from=-3 points at layer -1"),
            (head + "[scale_channels]\nscale_wh=1", "[scale_channels] needs from="),
        ]
        for (n, (cfg, message)) in bad.enumerated() {
            let path = directory.appendingPathComponent("bad\(n + 1).cfg").path
            try cfg.write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Network(cfg: path)) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
    }

    /// Depthwise convolutions (groups = channels = filters), summed by `ds_depthwise` rather
    /// than the GEMM: against libdarknet, whose groups they are, on a 37 × 29 image (rows of
    /// several vectors and ragged ones), strides 1 and 2, 3×3, 5×5 and 7×7, with and without
    /// batch norm: bit for bit with Darknet's sums, and by default within Darknet's bounds.
    func testDepthwiseConvolutionsAreDarknetsSums() throws {
        try Oracle.requireDarknet()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func depthwise(_ size: Int, _ stride: Int, _ batchNormalize: Bool, _ activation: String) -> String {
            "[convolutional]\ngroups=8\nfilters=8\nsize=\(size)\nstride=\(stride)\npad=1\nbatch_normalize=\(batchNormalize ? 1 : 0)\nactivation=\(activation)\n"
        }
        let cfg = ["[net]\nwidth=37\nheight=29\nchannels=3\n", "[convolutional]\nfilters=8\nsize=3\npad=1\nactivation=leaky\n",
                   depthwise(3, 1, true, "leaky"), depthwise(5, 2, false, "linear"), depthwise(3, 2, true, "relu"),
                   depthwise(7, 1, true, "leaky"), "[avgpool]\n", "[softmax]\n"].joined(separator: "\n")
        let path = directory.appendingPathComponent("depthwise.cfg").path
        try cfg.write(toFile: path, atomically: true, encoding: .utf8)
        var network = try Network(cfg: path)
        XCTAssertEqual((1...4).map { (network.layers[$0] as? Convolutional)?.isDepthwise }, [true, true, true, true])
        let weights = directory.appendingPathComponent("depthwise.weights").path
        try network.randomize(seed: 3)
        try WeightsFile(path: weights, header: WeightsHeader(), values: network.parameters).write()
        let input = (0..<(37 * 29 * 3)).map { Float(sin(Double($0) * 0.37)) * 0.5 + 0.5 }
        let theirs = try Oracle.layers(cfg: path, weights: weights, input: input, in: directory).outputs
        for algorithm in [ConvolutionAlgorithm.darknet, .winograd] {
            network.use(algorithm)
            try network.loadWeights(path: weights)
            let ours = try Predictor(network: network).forward(input).layerOutputs
            for index in 1...4 {
                let scale = theirs[index].map(abs).max() ?? 0
                let error = zip(ours[index], theirs[index]).map { abs($0 - $1) }.max() ?? .infinity
                if algorithm == .darknet {
                    XCTAssertEqual(ours[index], theirs[index], "layer \(index): Darknet's sums, bit for bit")
                } else {
                    XCTAssertLessThanOrEqual(error, 1e-4 * scale, "layer \(index), \(algorithm)")
                }
            }
        }
    }

    /// Gradients through swish, mish, GELU and hard mish, in convolutions (with and without
    /// batch norm), a shortcut, a scale_channels and a connected layer: the pass keeps their
    /// inputs, and the input gradient agrees with central differences.
    func testGradientsThroughActivationsThatNeedTheirInput() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cfg = """
            [net]
            width=8
            height=7
            channels=3

            [convolutional]
            filters=4
            size=3
            pad=1
            batch_normalize=1
            activation=swish

            [convolutional]
            filters=4
            size=3
            pad=1
            activation=mish

            [convolutional]
            filters=4
            size=1
            activation=gelu

            [shortcut]
            from=0
            activation=hard_mish

            [avgpool]

            [convolutional]
            filters=4
            size=1
            activation=swish

            [scale_channels]
            from=3
            activation=gelu

            [avgpool]
            """
        let network = try self.network(cfg, in: directory)
        let input = (0..<168).map { Float(sin(Double($0) * 1.3)) }
        let backpropagator = Backpropagator(network: network, threads: 1)
        let forward = try backpropagator.forward(input)
        XCTAssertEqual(forward.activationInputs.map(\.isEmpty), [false, false, false, false, true, false, false, true])
        let gradient = try backpropagator.backward(.channelMean(layer: 7, channel: 1), input: input, forward: forward,
                                                   keepingLayerGradients: false).input
        let predictor = Predictor(network: network, threads: 1)
        for i in [0, 9, 57, 100, 167] {
            var up = input, down = input
            up[i] += 1e-2
            down[i] -= 1e-2
            let difference = (try predictor.forward(up).prediction()[1] - (try predictor.forward(down).prediction()[1])) / 2e-2
            XCTAssertEqual(gradient[i], difference, accuracy: 2e-3 * max(1, abs(difference)), "input \(i)")
        }
        let connected = try self.network("[net]\ninputs=4\n\n[connected]\noutput=3\nactivation=mish\n", in: directory, name: "connected")
        let values: [Float] = [0.3, -1.2, 2, 0.7]
        let other = Backpropagator(network: connected, threads: 1)
        let flat = try other.backward(.channelMean(layer: 0, channel: 2), input: values, forward: try other.forward(values)).input
        let plain = Predictor(network: connected, threads: 1)
        for i in 0..<4 {
            var up = values, down = values
            up[i] += 1e-2
            down[i] -= 1e-2
            let difference = (try plain.forward(up).prediction()[2] - (try plain.forward(down).prediction()[2])) / 2e-2
            XCTAssertEqual(flat[i], difference, accuracy: 2e-3 * max(1, abs(difference)), "connected input \(i)")
        }
    }

    /// AlexeyAB's route `groups` and `group_id`: part `group_id` of each source, by hand and
    /// against OpenCV (yolov4-tiny's split), its gradient against central differences; bad
    /// uses named by file and line.
    func testRouteGroupsTakeOnePartOfEachSource() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cfg = """
            [net]
            width=6
            height=5
            channels=3

            [convolutional]
            filters=4
            size=3
            pad=1
            activation=leaky

            [convolutional]
            filters=6
            size=1
            activation=mish

            [route]
            layers=-1
            groups=2
            group_id=1

            [convolutional]
            filters=2
            size=3
            pad=1
            activation=leaky

            [route]
            layers=-1,-2
            """
        let network = try self.network(cfg, in: directory)
        XCTAssertEqual(network.layers[2].output, Shape(width: 6, height: 5, channels: 3))
        XCTAssertEqual(network.layers[4].output, Shape(width: 6, height: 5, channels: 5))
        let input = (0..<90).map { Float(cos(Double($0) * 0.7)) }
        let outputs = try Predictor(network: network, threads: 1).forward(input).layerOutputs
        XCTAssertEqual(outputs[2], Array(outputs[1][90..<180]), "the second half of layer 1's six channels")
        XCTAssertEqual(outputs[4], outputs[3] + outputs[2])
        let weights = directory.appendingPathComponent("net.weights").path
        try WeightsFile(path: weights, header: WeightsHeader(), values: network.parameters).write()
        let theirs = try opencvLayers(cfg: directory.appendingPathComponent("net.cfg").path, weights: weights, input: input, in: directory)
        for (index, reference) in theirs {
            let error = zip(reference, outputs[index]).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(error, 1e-4 * max(reference.map(abs).max() ?? 0, 1e-6), "layer \(index) against OpenCV")
        }
        XCTAssertTrue(theirs.contains { $0.0 == 4 }, "OpenCV exposed \(theirs.map(\.0))")
        let backpropagator = Backpropagator(network: network, threads: 1)
        let gradient = try backpropagator.backward(.channelMean(layer: 4, channel: 3), input: input,
                                                   forward: try backpropagator.forward(input), keepingLayerGradients: false).input
        let predictor = Predictor(network: network, threads: 1)
        func mean(_ x: [Float]) throws -> Float { try predictor.forward(x).layerOutputs[4][90..<120].reduce(0, +) / 30 }
        for i in [0, 31, 89] {
            var up = input, down = input
            up[i] += 1e-2
            down[i] -= 1e-2
            let difference = (try mean(up) - (try mean(down))) / 2e-2
            XCTAssertEqual(gradient[i], difference, accuracy: 2e-3 * max(1, abs(difference)), "input \(i)")
        }
        let head = "[net]\nwidth=6\nheight=5\nchannels=3\n\n[convolutional]\nfilters=4\nsize=1\n\n[route]\nlayers=-1\n"
        for (extra, message) in [("groups=2\ngroup_id=2", "route.cfg:13: [route] group_id=2 must be one of the 2 groups, 0...1"),
                                 ("groups=3", "route.cfg:12: [route] cannot split layer 0's 4 channels into 3 groups"),
                                 ("groups=0", "route.cfg:12: [route] groups=0 must be at least 1")] {
            let path = directory.appendingPathComponent("route.cfg").path
            try (head + extra + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Network(cfg: path)) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
        }
    }

    /// AlexeyAB's keys darkscope does not compute yet are refused where they would change the
    /// network (a default would silently compute another), with file and line; their neutral
    /// values pass.
    func testKeysNotYetComputedAreRefusedInOneLine() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let head = "[net]\nwidth=8\nheight=8\nchannels=3\n\n"
        let cases: [(String, String?)] = [
            ("[convolutional]\nfilters=2\nsize=3\ndilation=0\n", "bad.cfg:9: [convolutional] dilation=0 must be at least 1"),
            ("[convolutional]\nfilters=2\nsize=3\ndilation=2\n", "bad.cfg:9: [convolutional] a 3x3 window with dilation=2 and padding 0 does not fit the 8x8 input as AlexeyAB's darknet sizes it (use pad=1)"),
            ("[convolutional]\nfilters=2\nsize=3\nstride_x=0\nstride_y=2\n", "bad.cfg:6: [convolutional] filters, size and stride must be positive"),
            ("[convolutional]\nfilters=2\nsize=5\npad=1\ndilation=1000000000\n",
             "bad.cfg:10: [convolutional] dilation=1000000000 spreads a 5x5 window over more pixels than an image has"),
            ("[convolutional]\nfilters=2\nsize=3\nantialiasing=3\n", "bad.cfg:9: [convolutional] antialiasing=3: expected 0, 1 (a 3x3 blur) or 2 (2x2)"),
            ("[maxpool]\nmaxpool_depth=1\nout_channels=1\nantialiasing=1\n", "bad.cfg:9: [maxpool] antialiasing with maxpool_depth=1"),
            ("[convolutional]\nfilters=2\nsize=3\nstride=2\nantialiasing=1\n", nil),
            ("[maxpool]\nmaxpool_depth=1\nout_channels=4\n", "bad.cfg:8: [maxpool] maxpool_depth=1 pools the 3 input channels into out_channels=4: it must be from 1 to 3"),
            ("[convolutional]\nfilters=3\nsize=1\n\n[convolutional]\nfilters=3\nsize=1\n\n[shortcut]\nfrom=-2\nweights_type=per_pixel\n",
             "bad.cfg:16: [shortcut] weights_type=per_pixel: expected none, per_feature or per_channel"),
            ("[convolutional]\nfilters=3\nsize=1\n\n[convolutional]\nfilters=3\nsize=1\n\n[shortcut]\nfrom=-2\nweights_type=per_feature\nweights_normalization=l2\n",
             "bad.cfg:17: [shortcut] weights_normalization=l2: expected none, relu or softmax"),
            ("[convolutional]\nfilters=3\nsize=3\nstride=2\npad=1\n\n[convolutional]\nfilters=3\nsize=1\n\n[shortcut]\nfrom=0,-1\n", nil),
            ("[convolutional]\nfilters=3\nsize=1\n\n[convolutional]\nfilters=3\nsize=3\nstride=2\npad=1\n\n[shortcut]\nfrom=0,-1\n",
             "bad.cfg:17: [shortcut] of several layers or with weights adds layer 0's 8x8x3 to 4x4x3: AlexeyAB's needs the same width and height"),
            ("[connected]\noutput=3\nactivation=normalize_channels\n",
             "bad.cfg:8: [connected] activation=normalize_channels normalizes across channels, which AlexeyAB's darknet computes only in [convolutional]"),
            ("[convolutional]\nfilters=3\nsize=1\n\n[convolutional]\nfilters=2\nsize=1\n\n[sam]\nfrom=0\n",
             "bad.cfg:15: [sam] multiplies the 8x8x2 input by layer 0's 8x8x3: they must be the same shape"),
            ("[convolutional]\nfilters=2\nsize=3\ndilation=1\nstride=1\nstride_x=1\n", nil),
            // A comment after a value, as Darknet's atoi reads it.
            ("[convolutional]\nfilters=2#4\nsize=3\n", nil),
            ("[convolutional]\nfilters=3\nsize=1\n\n[convolutional]\nfilters=3\nsize=1\n\n[shortcut]\nfrom=-2\nweights_type=none\n", nil),
        ]
        for (body, message) in cases {
            let path = directory.appendingPathComponent("bad.cfg").path
            try (head + body).write(toFile: path, atomically: true, encoding: .utf8)
            if let message {
                XCTAssertThrowsError(try Network(cfg: path)) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
            } else {
                XCTAssertNoThrow(try Network(cfg: path), body)
            }
        }
    }

    /// Darknet layer index, and its values, for every layer OpenCV exposes.
    private func opencvLayers(cfg: String, weights: String, input: [Float], in directory: URL) throws -> [(Int, [Float])] {
        try Oracle.requireOpenCV()
        let inputPath = directory.appendingPathComponent("input.f32").path, outPath = directory.appendingPathComponent("opencv.bin").path
        FileManager.default.createFile(atPath: inputPath, contents: input.withUnsafeBytes { Data($0) })
        let run = try runProcess("/usr/bin/python3", [Repo.path("Tests/Oracle/opencv_layers.py"), cfg, weights, inputPath, outPath])
        XCTAssertEqual(run.status, 0, run.stderr)
        let data = try Data(contentsOf: URL(fileURLWithPath: outPath))
        var layers: [(Int, [Float])] = [], at = 0
        func int() -> Int {
            defer { at += 4 }
            return Int(data[at..<(at + 4)].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) })
        }
        while at < data.count {
            let index = int(), count = int()
            layers.append((index, data[at..<(at + 4 * count)].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }))
            at += 4 * count
        }
        return layers
    }

    /// A shipped AlexeyAB cfg on random weights (the classifier's scaled so that the largest
    /// logit is 4: probabilities neither flat nor one-hot): every layer OpenCV exposes within 1e-4 of
    /// OpenCV's, relative to the layer's largest value, and the probabilities within 1e-5.
    /// Returns the weights written.
    @discardableResult
    private func assertMatchesOpenCV(_ cfg: String, layers: Int, parameters: Int, in directory: URL,
                                     file: StaticString = #filePath, line: UInt = #line) throws -> String {
        var network = try Network(cfg: Repo.path(cfg))
        XCTAssertEqual(network.layers.count, layers, file: file, line: line)
        XCTAssertEqual(network.parameterCount, parameters, "AlexeyAB's cfg's parameters, so its weights fit", file: file, line: line)
        try network.randomize(seed: 1)
        let input = try network.letterboxedInput(from: Repo.path("assets/dog.jpg")).values
        let classifier = network.layers.count - 2, offset = network.layers.prefix(classifier).reduce(0) { $0 + $1.parameterCount }
        let logits = try Predictor(network: network).forward(input).layerOutputs[classifier]
        let factor = 4 / max(logits.map(abs).max() ?? 1, 1e-6)
        var values = network.parameters
        for i in offset..<(offset + network.layers[classifier].parameterCount) { values[i] *= factor }
        let weights = directory.appendingPathComponent(URL(fileURLWithPath: cfg).deletingPathExtension().lastPathComponent + ".weights").path
        try WeightsFile(path: weights, header: WeightsHeader(), values: values).write()
        try network.loadWeights(path: weights)
        let ours = try Predictor(network: network).forward(input).layerOutputs
        let theirs = try opencvLayers(cfg: Repo.path(cfg), weights: weights, input: input, in: directory)
        XCTAssertGreaterThan(theirs.count, layers * 3 / 4, "OpenCV exposed only \(theirs.map(\.0))", file: file, line: line)
        for (index, reference) in theirs {
            XCTAssertEqual(reference.count, ours[index].count, "layer \(index)", file: file, line: line)
            guard reference.count == ours[index].count else { continue }
            let scale = reference.map(abs).max() ?? 0
            let error = zip(reference, ours[index]).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(error, 1e-4 * max(scale, 1e-6), "layer \(index) (\(network.layers[index].sectionName)): \(error) of \(scale)",
                                     file: file, line: line)
        }
        let probabilities = try XCTUnwrap(theirs.last { $0.0 == network.layers.count - 1 }?.1, file: file, line: line)
        XCTAssertEqual(zip(probabilities, ours.last!).map { abs($0 - $1) }.max() ?? 1, 0, accuracy: 1e-5, file: file, line: line)
        let top = probabilities.max() ?? 0
        XCTAssertTrue(top > 0.01 && top < 0.9, "the probabilities are flat or saturated: top \(top)", file: file, line: line)
        return weights
    }

    /// darkscope's EfficientNet-B0 against OpenCV; and explained.
    func testEfficientNetB0MatchesOpenCV() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = try assertMatchesOpenCV("cfg/alexeyab/efficientnet_b0.cfg", layers: 136, parameters: 4_890_040, in: directory)
        // Explained as pjreddie's networks are: the gradients pass through its swish layers.
        let explained = try darkscope("explain", Repo.path("cfg/alexeyab/efficientnet_b0.cfg"), weights, Repo.path("assets/dog.jpg"),
                                      "--method", "gradient", "--json")
        XCTAssertEqual(explained.status, 0, explained.stderr)
        XCTAssertTrue(explained.stdout.hasPrefix("{"), explained.stdout)
    }

    /// darkscope's CSPDarknet-53 (mish, cross-stage routes) against OpenCV.
    func testCSPDarknet53MatchesOpenCV() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try assertMatchesOpenCV("cfg/alexeyab/cspdarknet53.cfg", layers: 108, parameters: 27_677_512, in: directory)
    }
}
