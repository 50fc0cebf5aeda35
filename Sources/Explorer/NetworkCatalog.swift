import Darknet
import Foundation

/// The networks the explorer switches between (`m`) and runs side by side (`N`), and how
/// each finds its weights and labels. The command line fills it: the explorer knows no
/// search paths of its own.
public struct NetworkCatalog: Sendable {
    /// Every cfg, in the order `m` steps through them; duplicates (same file) dropped.
    public var cfgs: [String]
    /// A network's weights file, or nil for none (then it runs on random weights).
    public var findWeights: @Sendable (Network) throws -> String?
    /// The class names for a network.
    public var labels: @Sendable (Network) throws -> Labels
    /// How every network opened computes its convolutions.
    public var convolution: ConvolutionAlgorithm

    public init(cfgs: [String], findWeights: @escaping @Sendable (Network) throws -> String?,
                labels: @escaping @Sendable (Network) throws -> Labels, convolution: ConvolutionAlgorithm = .darknet) {
        var seen = Set<String>()
        self.cfgs = cfgs.filter { seen.insert(NetworkCatalog.identity($0)).inserted }
        self.findWeights = findWeights
        self.labels = labels
        self.convolution = convolution
    }

    /// A path's absolute, standardised form, to tell whether two name one file.
    public static func identity(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    /// The cfg `step` places after (or before) `cfg` in the list, wrapping around.
    func cfg(after cfg: String, step: Int) -> String? {
        guard !cfgs.isEmpty else { return nil }
        let current = cfgs.firstIndex { NetworkCatalog.identity($0) == NetworkCatalog.identity(cfg) } ?? (step > 0 ? -1 : 0)
        return cfgs[((current + step) % cfgs.count + cfgs.count) % cfgs.count]
    }

    /// Opens a cfg: its weights when found, else random weights (seed 1).
    public func open(_ cfg: String) throws -> OpenNetwork {
        var network = try Network(cfg: cfg)
        network.use(convolution)
        let weightsPath = try findWeights(network)
        if let weightsPath { try network.loadWeights(path: weightsPath) } else { try network.randomize(seed: 1) }
        return OpenNetwork(network: network, weightsPath: weightsPath, labels: try labels(network))
    }
}

/// A network ready to run.
public struct OpenNetwork: Sendable {
    public var network: Network
    /// nil when it runs on random weights.
    public var weightsPath: String?
    public var labels: Labels
}

/// One network's answer for the image in the networks view.
struct NetworkRun: Sendable {
    var cfgPath: String
    var name: String
    /// On random weights: no weights file was found for it.
    var untrained: Bool
    var predictions: [Prediction] = []
    var milliseconds: Double?
    var error: String?
}

/// The networks view: the current image through every network that has weights.
struct NetworksView {
    var version: Int
    var imagePath: String
    /// nil until the worker has found which networks have weights.
    var runs: [NetworkRun]?
    /// No network had real weights, so all run on random ones.
    var noneTrained = false
    var error: String?
}
