import Foundation

/// A Darknet network: its layers as the cfg describes them, with their parameters.
///
/// A value: copying one is cheap and the copies never share mutable state.
/// Run it with a `Predictor`.
public struct Network: Sendable {
    public var cfgPath: String
    /// The image the network takes (`width`, `height`, `channels` of `[net]`).
    public let input: Shape
    public private(set) var layers: [any Layer]
    /// Options the cfg gave but no layer reads, as Darknet's "Unused field" warnings.
    public let warnings: [String]
    /// How `[net]` says to train it.
    public let training: TrainingSettings
    /// The `.weights` header, once weights are loaded.
    public private(set) var weightsHeader: WeightsHeader?

    /// Reads and checks a cfg file.
    public init(cfg path: String) throws {
        try self.init(cfg: CfgFile.load(path: path))
    }

    public init(cfg: CfgFile) throws {
        cfgPath = cfg.path
        guard var net = cfg.sections.first else {
            throw DarknetError.cfg(file: cfg.path, line: 1, problem: "the file has no sections; a network starts with [net]")
        }
        guard net.type == "net" || net.type == "network" else {
            throw net.error("the first section must be [net] or [network], not [\(excerpt(net.type))]")
        }
        let width = try net.int("width", default: 0)
        let height = try net.int("height", default: 0)
        let channels = try net.int("channels", default: 0)
        let image = Shape(width: width, height: height, channels: channels)
        let inputs = try net.int("inputs", default: image.count)
        training = try TrainingSettings(&net, width: width)
        net.ignore(Network.trainingKeys)
        if image.isImage {
            _ = try net.count(of: "the input", width, height, channels)
            input = image
        } else if inputs > 0 {
            input = .flat(inputs)
        } else {
            throw net.error("[net] must give width, height and channels (or inputs), all positive")
        }
        var warnings = Network.unusedWarnings(net)
        var layers: [any Layer] = []
        var shapes: [Shape] = []
        for var section in cfg.sections.dropFirst() {
            let previous = shapes.last ?? input
            let layer = try Network.makeLayer(&section, index: layers.count, input: previous, earlier: shapes)
            section.ignore(Network.commonLayerKeys)
            guard layer.output.count > 0, !layer.output.isImage || layer.output.width > 0 && layer.output.height > 0 else {
                throw section.error("[\(section.type)] layer \(layers.count) would have an empty output (\(layer.output.width) x \(layer.output.height) x \(layer.output.channels)) from its \(previous) input")
            }
            guard Int32(exactly: layer.output.count) != nil else {
                throw section.error("[\(section.type)] layer \(layers.count) would output more than \(Int32.max) values (\(layer.output.width) x \(layer.output.height) x \(layer.output.channels)) from its \(previous) input")
            }
            warnings += Network.unusedWarnings(section)
            layers.append(layer)
            shapes.append(layer.output)
        }
        guard !layers.isEmpty else { throw net.error("the network has no layers after [net]") }
        self.layers = layers
        self.warnings = warnings
    }

    private static func makeLayer(_ section: inout CfgSection, index: Int, input: Shape, earlier: [Shape]) throws -> any Layer {
        switch section.type {
        case "convolutional", "conv": try Antialiased.wrapping(&section) { try Convolutional(&$0, input: input) }
        case "maxpool", "max": try Antialiased.wrapping(&section) { try MaxPool(&$0, input: input) }
        case "avgpool", "avg": try AvgPool(&section, input: input)
        case "connected", "conn": try Connected(&section, input: input)
        case "softmax", "soft": try Softmax(&section, input: input)
        case "dropout": try Dropout(&section, input: input)
        case "route": try Route(&section, index: index, earlier: earlier)
        case "shortcut" where MultilayerShortcut.describes(&section):
            try MultilayerShortcut(&section, index: index, input: input, earlier: earlier)
        case "shortcut": try Shortcut(&section, index: index, input: input, earlier: earlier)
        case "crop": try Crop(&section, input: input)
        case "cost": try Cost(&section, input: input)
        case "scale_channels": try ScaleChannels(&section, index: index, input: input, earlier: earlier)
        case "sam": try SpatialAttention(&section, index: index, input: input, earlier: earlier)
        case "net", "network":
            throw section.error("[\(section.type)] may only be the first section")
        case let other where darknetOnlyTypes.contains(other):
            throw section.error("[\(other)] is a Darknet layer darkscope does not support; it runs classification networks (\(supportedTypes.joined(separator: ", ")))")
        case let other:
            throw section.error("unknown section [\(excerpt(other))]; expected \(supportedTypes.dropLast().joined(separator: ", ")) or \(supportedTypes.last!)")
        }
    }

    private static let supportedTypes = [
        "convolutional", "maxpool", "avgpool", "connected", "softmax", "dropout", "route", "shortcut", "crop", "cost", "scale_channels", "sam",
    ]

    private static let darknetOnlyTypes: Set<String> = [
        "deconvolutional", "deconv", "local", "activation", "logistic", "l2norm", "rnn", "gru", "lstm", "crnn",
        "detection", "region", "yolo", "iseg", "normalization", "lrn", "batchnorm", "reorg", "upsample",
    ]

    /// `[net]` keys Darknet reads for training that `TrainingSettings` does not (Adam, recurrent
    /// networks, validation's centre crop), or reads only for some policies.
    static let trainingKeys = [
        "time_steps", "notruth", "random", "adam", "B1", "B2", "eps", "center", "clip", "step", "scale", "steps", "scales", "gamma",
    ]

    /// Keys Darknet reads on every layer; none changes inference.
    static let commonLayerKeys = [
        "truth", "onlyforward", "stopbackward", "dontsave", "dontload", "numload", "dontloadscales", "learning_rate", "smooth",
    ]

    private static func unusedWarnings(_ section: CfgSection) -> [String] {
        section.unusedOptions.map { "\(section.file):\($0.line): unused field '\(excerpt($0.key)) = \(excerpt($0.value))' in [\(section.type)]" }
    }

    /// The layer whose output is the network's prediction: the last one that is not `[cost]`.
    public var outputLayerIndex: Int {
        layers.lastIndex { !($0 is Cost) } ?? layers.count - 1
    }

    public var outputCount: Int { layers[outputLayerIndex].output.count }

    /// Floats a `.weights` file holds after its header.
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }

    /// Floating-point operations of one forward pass, connected layers included.
    public var operations: Int { layers.reduce(0) { $0 + $1.operations } }

    /// Takes parameters from a `.weights` file, checking its size exactly.
    public mutating func loadWeights(path: String) throws {
        try requireMemoryForWeights()
        let read = try WeightsFile.read(path: path, layers: layers.map(\.parameterCount))
        guard let values = read.layers else {
            throw DarknetError.weights(file: path, problem: mismatch(expected: parameterCount, actual: read.floats))
        }
        try load(layers: values, header: read.header, path: path)
    }

    public mutating func load(_ file: WeightsFile) throws {
        let expected = parameterCount
        guard file.values.count == expected else {
            throw DarknetError.weights(file: file.path, problem: mismatch(expected: expected, actual: file.values.count))
        }
        try requireMemoryForWeights(copies: 3)
        var start = 0
        let values = layers.map { layer in
            defer { start += layer.parameterCount }
            return [Float].onHugePages(file.values[start..<(start + layer.parameterCount)])
        }
        try load(layers: values, header: file.header, path: file.path)
    }

    /// Each layer takes its array of `values`, once every one is finite.
    private mutating func load(layers values: [[Float]], header: WeightsHeader, path: String) throws {
        try checkFinite(values, path: path)
        load(layers: values, transposed: header.transposed)
        weightsHeader = header
    }

    /// Refuses a network whose parameters would not fit before they are allocated. Loading
    /// holds them `copies` times at once: read or drawn into the layers, then packed for the
    /// kernels (and once more from a `WeightsFile` in memory).
    public func requireMemoryForWeights(copies: Int = 2) throws {
        try Memory.require(copies * parameterBytes,
                           for: "\(cfgPath): its \(parameterCount) parameters, held \(copies) times while loading,")
    }

    /// Refuses weights that are not all finite, naming the first layer and block holding
    /// such values: a NaN or an infinity there makes every prediction NaN.
    private func checkFinite(_ values: [[Float]], path: String) throws {
        var offset = 0
        for (index, (layer, layerValues)) in zip(layers, values).enumerated() {
            defer { offset += layerValues.count }
            guard !layerValues.allSatisfy(\.isFinite) else { continue }
            var start = 0
            for block in layer.parameterBlocks {
                let values = layerValues[start..<(start + block.count)]
                start += block.count
                guard let first = values.firstIndex(where: { !$0.isFinite }) else { continue }
                let count = values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
                throw DarknetError.weights(file: path, problem: "layer \(index) (\(layer.sectionName)) has \(count) of its \(block.count) \(block.kind.name) not finite (\(layerValues[first]) at float \(offset + first) after the header); the file is damaged or its training diverged")
            }
        }
    }

    /// Says how a file of `actual` floats fails a network that needs `expected`, and
    /// for a short file, the layer where it runs out.
    private func mismatch(expected: Int, actual: Int) -> String {
        let counts = "the network needs \(expected) floats (\(4 * expected) bytes) after the header but the file has \(actual)"
        if actual > expected {
            return counts + ": \(actual - expected) floats left over; the weights are for a different network"
        }
        var offset = 0
        for (index, layer) in layers.enumerated() where layer.parameterCount > 0 {
            if offset + layer.parameterCount > actual {
                return counts + ": it runs out in layer \(index) (\(layer.sectionName)), which needs floats \(offset)..<\(offset + layer.parameterCount)"
            }
            offset += layer.parameterCount
        }
        return counts
    }

    /// Fills every parameter with deterministic random values (see `WeightsFile.random`).
    public mutating func randomize(seed: UInt64) throws {
        try requireMemoryForWeights()
        load(layers: WeightsFile.randomValues(for: layers.map(\.parameterBlocks), seed: seed), transposed: false)
        weightsHeader = WeightsHeader()
    }

    /// Each layer takes its array of `values`, the layers on every processor at once and the
    /// largest first: their transposes and packing (Winograd's transform) are independent,
    /// and they are most of the time `classify` takes before its one pass.
    private mutating func load(layers values: [[Float]], transposed: Bool) {
        let order = layers.indices.filter { layers[$0].parameterCount > 0 }.sorted { layers[$0].parameterCount > layers[$1].parameterCount }
        layers.withUnsafeMutableBufferPointer { layers in
            DispatchQueue.concurrentPerform(iterations: order.count) { n in
                layers[order[n]].load(values[order[n]], transposed: transposed)
            }
        }
    }

    /// How the convolutions compute their sums (see `use(_:)`).
    public private(set) var convolution = ConvolutionAlgorithm.default

    /// Has every convolution compute its sums with `algorithm` where it applies
    /// (see `Convolutional.use(_:)`), before or after the weights are loaded.
    public mutating func use(_ algorithm: ConvolutionAlgorithm) {
        convolution = algorithm
        for i in layers.indices {
            if var antialiased = layers[i] as? Antialiased {
                antialiased.use(algorithm)
                layers[i] = antialiased
            }
            guard var convolutional = layers[i] as? Convolutional else { continue }
            convolutional.use(algorithm)
            layers[i] = convolutional
        }
    }

    /// The network's first layers, through `index`, with their parameters: what a pass that
    /// reads only layer `index` needs to run.
    public func truncated(through index: Int) -> Network {
        var copy = self
        copy.layers = Array(layers[...index])
        return copy
    }

    /// The layers through `index` with this network's parameters, read again from the cfg
    /// for an input of `width` × `height` (Darknet's `resize_network`, for the layers a pass
    /// to `index` runs). Refused where a layer's parameters depend on the size (a connected
    /// layer's inputs).
    public func resized(width: Int, height: Int, through index: Int) throws -> Network {
        var cfg = try CfgFile.load(path: cfgPath)
        guard cfg.sections.count > index + 1 else {
            throw DarknetError.usage("\(cfgPath) changed since it was read: it no longer has layer \(index)")
        }
        cfg.sections.removeLast(cfg.sections.count - index - 2)
        for (key, value) in [("width", width), ("height", height)] {
            let option = CfgOption(key: key, value: String(value), line: cfg.sections[0].line)
            if let at = cfg.sections[0].options.firstIndex(where: { $0.key == key }) {
                cfg.sections[0].options[at].value = option.value
            } else {
                cfg.sections[0].options.append(option)
            }
        }
        var resized = try Network(cfg: cfg)
        let kept = truncated(through: index)
        guard resized.layers.map(\.parameterCount) == kept.layers.map(\.parameterCount) else {
            let layer = kept.layers.indices.first { resized.layers[$0].parameterCount != kept.layers[$0].parameterCount } ?? index
            throw DarknetError.usage("layer \(layer) (\(kept.layers[layer].sectionName)) has parameters that depend on the input's size; the network cannot run at \(width)x\(height) through layer \(index)")
        }
        resized.load(layers: kept.layers.map(\.parameters), transposed: false)
        resized.weightsHeader = weightsHeader
        resized.use(convolution)
        return resized
    }

    /// Gives layer `index` new parameters, laid out as its `parameters` (for training's updates).
    mutating func replaceParameters(ofLayer index: Int, with values: [Float]) {
        layers[index].load(values, transposed: false)
    }

    /// Records `seen` images trained on, for the weights file's header.
    mutating func recordSeen(_ seen: UInt64) {
        var header = weightsHeader ?? WeightsHeader()
        header.seen = seen
        weightsHeader = header
    }

    /// Every parameter in `.weights` order, as written by `WeightsFile.write`.
    public var parameters: [Float] { layers.flatMap(\.parameters) }
}
