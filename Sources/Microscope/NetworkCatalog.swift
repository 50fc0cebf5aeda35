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
    package func cfg(after cfg: String, step: Int) -> String? {
        guard !cfgs.isEmpty else { return nil }
        let current = cfgs.firstIndex { NetworkCatalog.identity($0) == NetworkCatalog.identity(cfg) } ?? (step > 0 ? -1 : 0)
        return cfgs[((current + step) % cfgs.count + cfgs.count) % cfgs.count]
    }

    /// Opens a cfg: its weights when found, else random weights (seed 1).
    /// The files are stamped before they are read, so a file replaced while it is read
    /// leaves a stale key that the explorer's watcher notices.
    public func open(_ cfg: String) throws -> OpenNetwork {
        let cfgStamp = FileStamp.of(cfg)
        var network = try Network(cfg: cfg)
        network.use(convolution)
        let weightsPath = try findWeights(network)
        let weightsStamp = weightsPath.map(FileStamp.of)
        if let weightsPath { try network.loadWeights(path: weightsPath) } else { try network.randomize(seed: 1) }
        return OpenNetwork(network: network, weightsPath: weightsPath, labels: try labels(network),
                           key: NetworkKey(cfg: cfgStamp, weights: weightsStamp, convolution: convolution))
    }
}

/// A network ready to run.
public struct OpenNetwork: Sendable {
    public var network: Network
    /// nil when it runs on random weights.
    public var weightsPath: String?
    public var labels: Labels
    package var key: NetworkKey

    package init(network: Network, weightsPath: String?, labels: Labels, key: NetworkKey) {
        self.network = network
        self.weightsPath = weightsPath
        self.labels = labels
        self.key = key
    }
}

/// One network's answer for the image in the networks view.
package struct NetworkRun: Sendable, Equatable {
    package var cfgPath: String
    package var name: String
    /// On random weights: no weights file was found for it.
    package var untrained: Bool
    package var predictions: [Prediction] = []
    package var milliseconds: Double?
    package var error: String?
}

/// The networks view: the current image through every network that has weights.
package struct NetworksView: Equatable {
    /// The image as it was when the view opened; answers for another are dropped.
    package var image: FileStamp
    /// nil until the worker has found which networks have weights.
    package var runs: [NetworkRun]?
    /// No network had real weights, so all run on random ones.
    package var noneTrained = false

    package init(image: FileStamp) { self.image = image }
}
