import Foundation

/// A hidden temporary file beside the file it will become (`.NAME.XXXXXX`), written in full,
/// then given its name. A SIGINT, SIGTERM or SIGHUP that would kill the process while it is
/// being written removes it first, so an interrupted `weights init` leaves nothing.
/// One at a time per process.
final class PendingFile {
    private let path: String
    private let descriptor: Int32
    private var isOpen = true
    private var previousHandlers: [(Int32, sighandler_t?)]

    init(beside path: String) throws {
        self.path = path
        let folder = (path as NSString).deletingLastPathComponent
        let template = (folder.isEmpty ? "" : folder + "/") + "." + (path as NSString).lastPathComponent + ".XXXXXX"
        guard template.utf8.count < pendingCapacity else {
            throw DarknetError.file(path: path, problem: "the path is too long")
        }
        // The name is made in the handler's buffer with the signals held back, so that the
        // handler never sees a file without its name nor a name that is not yet ours.
        pendingPath[0] = 0  // initialised before the handler can read it
        let handlers = interruptions.compactMap { number -> (Int32, sighandler_t?)? in
            // Only signals that would kill the process: one it ignores (SIGHUP under nohup) or
            // handles itself (the full-screen views' stop request) goes on as before, and the
            // file is its caller's to finish or discard. Asked first, so that no such signal
            // meets our handler in between.
            var current = sigaction()
            sigaction(number, nil, &current)
            guard current.__sigaction_handler.sa_handler == nil else { return nil }
            return (number, signal(number, removePendingAndDie))
        }
        previousHandlers = handlers
        let descriptor = Self.holdingInterruptions { () -> Int32 in
            _ = template.withCString { strcpy(pendingPath, $0) }
            let descriptor = mkstemp(pendingPath)
            if descriptor < 0 { pendingPath[0] = 0 }
            return descriptor
        }
        guard descriptor >= 0 else {
            let problem = String(cString: strerror(errno))
            for (number, handler) in handlers { signal(number, handler) }
            throw DarknetError.file(path: path, problem: "cannot be written (does its folder exist and is it writable?): \(problem)")
        }
        self.descriptor = descriptor
        // mkstemp makes it private (0600); give it the mode a new file gets.
        let mask = umask(0)
        umask(mask)
        fchmod(descriptor, 0o666 & ~mask)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let written = Foundation.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw DarknetError.file(path: path, problem: "could not be written completely: \(String(cString: strerror(errno)))")
            }
            done += written
        }
    }

    /// Gives the finished file its name: never over an existing file unless `overwrite`.
    func commit(overwrite: Bool) throws {
        isOpen = false
        guard close(descriptor) == 0 else {
            throw DarknetError.file(path: path, problem: "could not be written completely: \(String(cString: strerror(errno)))")
        }
        let failure = Self.holdingInterruptions { () -> Int32? in
            // link fails if the name exists: the check and the naming are one step.
            let named = overwrite ? rename(pendingPath, path) : link(pendingPath, path)
            let code = errno
            if named == 0 && !overwrite { unlink(pendingPath) }
            if named == 0 { pendingPath[0] = 0 }
            return named == 0 ? nil : code
        }
        if let failure {
            throw failure == EEXIST ? WeightsFile.alreadyExists(path)
                : DarknetError.file(path: path, problem: "cannot be written: \(String(cString: strerror(failure)))")
        }
        restoreHandlers()
    }

    /// Removes the temporary file, after a failure.
    func discard() {
        if isOpen { close(descriptor) }
        isOpen = false
        Self.holdingInterruptions {
            if pendingPath[0] != 0 { unlink(pendingPath) }
            pendingPath[0] = 0
        }
        restoreHandlers()
    }

    private func restoreHandlers() {
        for (number, handler) in previousHandlers { signal(number, handler) }
        previousHandlers = []
    }

    private static func holdingInterruptions<T>(_ body: () -> T) -> T {
        var held = sigset_t(), previous = sigset_t()
        sigemptyset(&held)
        for number in interruptions { sigaddset(&held, number) }
        sigprocmask(SIG_BLOCK, &held, &previous)
        defer { sigprocmask(SIG_SETMASK, &previous, nil) }
        return body()
    }
}

private let interruptions = [SIGINT, SIGTERM, SIGHUP]
private let pendingCapacity = Int(PATH_MAX)

/// The temporary file's path for the signal handler: fixed memory, allocated before the
/// handler is installed, so the handler only reads it and calls unlink (async-signal-safe).
/// Empty when no file is pending.
private let pendingPath: UnsafeMutablePointer<CChar> = {
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: pendingCapacity)
    buffer[0] = 0
    return buffer
}()

private func removePendingAndDie(_ number: Int32) {
    if pendingPath[0] != 0 { unlink(pendingPath) }
    // Then die of the signal, as the process would have without this handler.
    signal(number, SIG_DFL)
    raise(number)
}
