import ArgumentParser
import Darknet
import Explorer
import Microscope
import Foundation
import Render

struct Explore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open the full-screen explorer (the default command).",
        discussion: """
            Files are told apart by their ending: a .cfg is the network, a .weights its weights, \
            anything else an image; two images open side by side. Without a cfg, the shipped \
            cfg/tiny.cfg; without an image, assets/dog.jpg; without weights, the first found \
            (--weights, $DARKSCOPE_WEIGHTS, NAME.weights beside the cfg, in the current folder, \
            ~/.local/share/darkscope/weights, /usr/share/darkscope/weights), else random weights. \
            The m key switches between the cfg and those of the shipped cfg/ folder (then its alexeyab/), each with \
            the weights found for it the same way (--weights or a WEIGHTS file for the given cfg only).
            """)

    @Argument(help: "[CFG [WEIGHTS]] [IMAGE...]")
    var files: [String] = []

    @Option(help: "The weights file (before DARKSCOPE_WEIGHTS and the search path).")
    var weights: String?

    @Option(help: "A class-name list, one per line (default: ImageNet's for 1000-class networks).")
    var labels: String?

    @OptionGroup var screen: ScreenOptions

    @OptionGroup var convolutionOptions: ConvolutionOptions

    @Option(help: .hidden)
    var redrawLog: String?

    func run() throws {
        let cfgs = files.filter { $0.hasSuffix(".cfg") }
        let weightFiles = files.filter { $0.hasSuffix(".weights") }
        var images = files.filter { !$0.hasSuffix(".cfg") && !$0.hasSuffix(".weights") }
        guard cfgs.count <= 1, weightFiles.count <= 1 else { throw ValidationError("give at most one .cfg and one .weights") }
        guard weightFiles.isEmpty || weights == nil else {
            throw ValidationError("weights given twice (\(weightFiles[0]) and --weights \(weights!)): give one")
        }
        guard let cfg = cfgs.first ?? DataFiles.find("cfg/tiny.cfg") else {
            throw DarknetError.usage("no cfg given and the shipped cfg/tiny.cfg is not found (set DARKSCOPE_DATA to darkscope's folder)")
        }
        if images.isEmpty {
            guard let dog = DataFiles.find("assets/dog.jpg") else {
                throw DarknetError.usage("no image given and the shipped assets/dog.jpg is not found (set DARKSCOPE_DATA to darkscope's folder)")
            }
            images = [dog]
        }
        for image in images where !FileManager.default.isReadableFile(atPath: image) {
            throw DarknetError.file(path: image, problem: "no such readable image")
        }
        let explicit = weightFiles.first ?? weights
        let given = NetworkCatalog.identity(cfg)
        let labelsPath = labels
        let catalog = NetworkCatalog(
            cfgs: ((try? DataFiles.shippedCfgs()) ?? []) + [cfg],
            findWeights: { network in
                let isGiven = NetworkCatalog.identity(network.cfgPath) == given
                return try WeightsSearch.find(explicit: isGiven ? explicit : nil, for: network)
            },
            labels: { network in try DataFiles.labels(path: labelsPath, outputs: network.outputCount) },
            convolution: convolutionOptions.convolution)
        let opened = try catalog.open(cfg)
        try Explorer.run(ExplorerOptions(network: opened, images: images, catalog: catalog,
                                         pixelMode: screen.format, colors: screen.colors, redrawLog: redrawLog))
    }
}

/// Where darkscope looks for a network's weights when none is given.
enum WeightsSearch {
    /// The given file; else `DARKSCOPE_WEIGHTS` when it fits the network; else `NAME.weights`
    /// for `NAME.cfg` in the cfg's folder, the current folder, `~/.local/share/darkscope/weights`
    /// and `/usr/share/darkscope/weights`. nil when there is none.
    static func find(explicit: String?, for network: Network) throws -> String? {
        if let explicit { return explicit }
        let fits = { (path: String) -> Bool in
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int ?? -1
            return size == 16 + 4 * network.parameterCount || size == 20 + 4 * network.parameterCount
        }
        if let variable = ProcessInfo.processInfo.environment["DARKSCOPE_WEIGHTS"], !variable.isEmpty, fits(variable) {
            return variable
        }
        let cfg = URL(fileURLWithPath: network.cfgPath)
        let name = cfg.deletingPathExtension().lastPathComponent + ".weights"
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        let folders = [cfg.deletingLastPathComponent().path, FileManager.default.currentDirectoryPath,
                       "\(home)/.local/share/darkscope/weights", "/usr/share/darkscope/weights"]
        return folders.map { ($0 as NSString).appendingPathComponent(name) }.first { FileManager.default.isReadableFile(atPath: $0) }
    }
}
