import Darknet
import Foundation

/// A file as it was when last looked at: its path and, unless it is missing, the size,
/// modification time and inode that change whenever its contents are replaced.
package struct FileStamp: Hashable, Sendable {
    package var path: String
    /// nil when the file is missing or cannot be looked at.
    package var version: Version?

    package struct Version: Hashable, Sendable {
        package var size: Int64
        package var modifiedNanoseconds: Int64
        package var inode: UInt64

        package init(size: Int64, modifiedNanoseconds: Int64, inode: UInt64) {
            self.size = size
            self.modifiedNanoseconds = modifiedNanoseconds
            self.inode = inode
        }
    }

    package init(path: String, version: Version?) {
        self.path = path
        self.version = version
    }

    /// The file as it is now on disk.
    package static func of(_ path: String) -> FileStamp {
        var info = stat()
        guard stat(path, &info) == 0 else { return FileStamp(path: path, version: nil) }
        let modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        return FileStamp(path: path, version: Version(size: Int64(info.st_size), modifiedNanoseconds: modified,
                                                      inode: UInt64(info.st_ino)))
    }

    /// Each file as it is now, by path (the explorer's watcher).
    package static func of(_ paths: [String]) -> [String: FileStamp] {
        Dictionary(paths.map { ($0, FileStamp.of($0)) }, uniquingKeysWith: { first, _ in first })
    }

    package var exists: Bool { version != nil }
}

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
