import Darknet
import Foundation

/// Finds the files darkscope ships (`cfg/`, `assets/`) wherever it runs from.
///
/// Search order: `$DARKSCOPE_DATA`, the current folder, the executable's folder and
/// its ancestors (a build inside the source tree), `share/darkscope` beside the
/// executable's `bin/` (an install under any prefix), `/usr/local/share/darkscope`,
/// `/usr/share/darkscope`.
enum DataFiles {
    static var roots: [String] {
        var roots: [String] = []
        if let data = ProcessInfo.processInfo.environment["DARKSCOPE_DATA"] { roots.append(data) }
        roots.append(FileManager.default.currentDirectoryPath)
        // The running file itself: argv[0] is a bare name when the shell found it on PATH.
        let executableFolder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        var folder = executableFolder
        for _ in 0..<5 {
            roots.append(folder.path)
            folder.deleteLastPathComponent()
        }
        roots.append(executableFolder.deletingLastPathComponent().appendingPathComponent("share/darkscope").path)
        return roots + ["/usr/local/share/darkscope", "/usr/share/darkscope"]
    }

    static func find(_ relative: String) -> String? {
        roots.lazy.map { ($0 as NSString).appendingPathComponent(relative) }
            .first { FileManager.default.isReadableFile(atPath: $0) }
    }

    /// The folder of the shipped cfgs, found by its `tiny.cfg`.
    static var cfgFolder: String? {
        find("cfg/tiny.cfg").map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
    }

    /// Every `.cfg` of the shipped folder by name, then those of its `alexeyab/` (AlexeyAB's dialect).
    static func shippedCfgs() throws -> [String] {
        guard let folder = cfgFolder else {
            throw DarknetError.usage("no cfg given and the shipped cfg/ folder is not found (set DARKSCOPE_DATA to darkscope's folder)")
        }
        return try ["", "alexeyab"].flatMap { sub in
            let path = (folder as NSString).appendingPathComponent(sub)
            let names = sub.isEmpty || FileManager.default.fileExists(atPath: path) ? try FileManager.default.contentsOfDirectory(atPath: path) : []
            return names.filter { $0.hasSuffix(".cfg") }.sorted().map { (path as NSString).appendingPathComponent($0) }
        }
    }

    /// The labels for a network: the given file, else ImageNet's for 1000 outputs, else none.
    static func labels(path: String?, outputs: Int) throws -> Labels {
        if let path { return try Labels(path: path) }
        if outputs == 1000, let shipped = find("assets/imagenet1k.names") { return try Labels(path: shipped) }
        return Labels(names: [])
    }
}
