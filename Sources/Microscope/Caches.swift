import Foundation

/// Where darkscope keeps what it can compute again: `$XDG_CACHE_HOME/darkscope/NAME`, else
/// `~/.cache/darkscope/NAME`.
package enum Caches {
    package static func folder(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) as NSString).appendingPathComponent(".cache")
        return ((base as NSString).appendingPathComponent("darkscope") as NSString).appendingPathComponent(name)
    }
}
