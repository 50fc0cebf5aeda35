import Darknet
import Foundation

/// Which network a result belongs to: its cfg and weights files as they were read, and how
/// it convolves. Random weights (no file) are seed 1's, always the same.
package struct NetworkKey: Hashable, Sendable {
    package var cfg: FileStamp
    /// nil: random weights.
    package var weights: FileStamp?
    package var convolution: ConvolutionAlgorithm

    package init(cfg: FileStamp, weights: FileStamp?, convolution: ConvolutionAlgorithm) {
        self.cfg = cfg
        self.weights = weights
        self.convolution = convolution
    }

    /// Whether the files on disk are still the ones this network was read from.
    package func isCurrent(cfg now: FileStamp, weights nowWeights: FileStamp?) -> Bool {
        cfg == now && weights == nowWeights
    }
}

/// The one identity of everything computed for an image: the network and the image file as
/// they were. Every result and every picture carries the key it was made for, and is shown
/// only while that key is the current one.
package struct SubjectKey: Hashable, Sendable {
    package var network: NetworkKey
    package var image: FileStamp

    package init(network: NetworkKey, image: FileStamp) {
        self.network = network
        self.image = image
    }
}
