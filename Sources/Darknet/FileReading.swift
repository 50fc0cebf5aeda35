import Foundation

/// The bytes of a regular file. Anything else is refused before it is read: a FIFO would
/// block the open forever, a device such as /dev/zero never ends, a directory has no bytes.
/// Opened without blocking and checked on the open descriptor, so nothing can be swapped
/// in between the check and the read.
public func readRegularFile(_ path: String) throws -> Data {
    try withRegularFile(path) { file in
        var data = Data(count: file.size)
        let done = try data.withUnsafeMutableBytes { try file.read(into: $0) }
        return done == file.size ? data : data.prefix(done)
    }
}

/// An open regular file (see `readRegularFile`): its size when opened, and reads from where
/// the last one stopped.
struct RegularFile {
    let path: String
    let descriptor: Int32
    let size: Int

    /// Fills `buffer` from the file, or as much of it as the file still holds (it may have
    /// shrunk since it was opened): the bytes read. From where the last read stopped, or
    /// from byte `offset` (then threads may read at once).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int? = nil) throws -> Int {
        var done = 0
        while done < buffer.count {
            let read = offset.map { pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t($0 + done)) }
                ?? Foundation.read(descriptor, buffer.baseAddress! + done, buffer.count - done)
            if read < 0 && errno == EINTR { continue }
            guard read > 0 else {
                if read == 0 { break }
                throw DarknetError.file(path: path, problem: "cannot be read: \(String(cString: strerror(errno)))")
            }
            done += read
        }
        return done
    }
}

/// Opens `path` as `readRegularFile` does and hands it to `body`, then closes it.
func withRegularFile<T>(_ path: String, _ body: (RegularFile) throws -> T) throws -> T {
    let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard descriptor >= 0 else { throw DarknetError.file(path: path, problem: openProblem(errno)) }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw DarknetError.file(path: path, problem: openProblem(errno)) }
    if let kind = nonRegularKind(status.st_mode) {
        throw DarknetError.file(path: path, problem: kind == "a directory" ? "is a directory, not a file" : "not a regular file (\(kind))")
    }
    return try body(RegularFile(path: path, descriptor: descriptor, size: Int(status.st_size)))
}

/// What a file that is not a regular file is, in words; nil for a regular file.
private func nonRegularKind(_ mode: mode_t) -> String? {
    switch mode & S_IFMT {
    case S_IFREG: nil
    case S_IFDIR: "a directory"
    case S_IFIFO: "a FIFO"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFSOCK: "a socket"
    default: "not a file"
    }
}

/// Why `open` failed, in words a user can act on.
private func openProblem(_ code: Int32) -> String {
    switch code {
    case ENOENT, ENOTDIR: "no such file"
    case EACCES, EPERM: "cannot be read: permission denied"
    default: "cannot be read: \(String(cString: strerror(code)))"
    }
}
