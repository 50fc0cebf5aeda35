import Foundation

/// What this process may still allocate, so that a network too large for the machine is
/// refused with its size: Swift stops the process when an allocation fails, and Linux kills
/// it when memory it granted runs out.
public enum Memory {
    /// The machine's RAM (a pass that needs swap would crawl), or what the address-space limit
    /// (`ulimit -v`) leaves of it, whichever is less.
    static var available: Int {
        var bytes = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        var limit = rlimit()
        // RLIM_INFINITY is all ones.
        if getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            bytes = min(bytes, Int(clamping: limit.rlim_cur) - mappedBytes)
        }
        return bytes
    }

    /// The address space this process has mapped (the first field of /proc/self/statm, in pages).
    private static var mappedBytes: Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = statm.split(separator: " ").first.flatMap({ Int($0) }) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Throws unless `bytes` more fit in what is `available`; `what` names what needs them.
    public static func require(_ bytes: Int, for what: @autoclosure () -> String) throws {
        let available = available
        guard bytes > available else { return }
        throw DarknetError.usage("\(what()) need \(gigabytes(bytes)) of memory; \(gigabytes(available)) is available (the machine's RAM, or what ulimit -v leaves)")
    }

    /// `count` values of `size` bytes, or `Int.max` (more than any machine has) where the
    /// product overflows: a size to `require`, from counts a user chose.
    public static func bytes(_ count: Int, of size: Int) -> Int {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: size)
        return overflow ? .max : bytes
    }

    private static func gigabytes(_ bytes: Int) -> String { String(format: "%.1f GB", Double(max(bytes, 0)) / 1e9) }
}
