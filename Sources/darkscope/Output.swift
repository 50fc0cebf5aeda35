import Darknet
import Foundation

/// Standard output and error as the commands use them.
enum Output {
    static func line(_ text: String) {
        fputs(text + "\n", stdout)
    }

    /// A report for the person, not the output: on stderr, so that stdout stays the picture or data.
    static func note(_ text: String) {
        fputs(text + "\n", stderr)
    }

    static func warn(_ text: String) {
        fputs("darkscope: warning: \(text)\n", stderr)
    }

    /// Flushes stdout and reports a reader that went away (a closed pipe) as an error.
    static func finish() throws {
        if fflush(stdout) != 0 || ferror(stdout) != 0 {
            throw DarknetError.usage("cannot write to standard output: \(String(cString: strerror(errno)))")
        }
    }

    static func fail(_ message: String) -> Never {
        fputs("darkscope: \(message)\n", stderr)
        exit(1)
    }
}
