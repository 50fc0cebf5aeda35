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
        /// A plain file, not a folder, a device or a pipe.
        package var isRegularFile: Bool
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
                                                      inode: UInt64(info.st_ino), isRegularFile: info.st_mode & S_IFMT == S_IFREG))
    }

    /// Each file as it is now, by path (the explorer's watcher).
    package static func of(_ paths: [String]) -> [String: FileStamp] {
        Dictionary(paths.map { ($0, FileStamp.of($0)) }, uniquingKeysWith: { first, _ in first })
    }

    package var exists: Bool { version != nil }
}
