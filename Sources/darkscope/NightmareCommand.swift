import ArgumentParser
import Darknet
import Foundation
import Microscope
import Render

struct NightmareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nightmare",
        abstract: "Darknet's nightmare: strengthen in an image what a layer sees in it (deep dream).",
        discussion: """
            As `darknet nightmare CFG WEIGHTS IMAGE LAYER`, with its options and defaults: each of \
            --iters iterations per round shifts the image up to 8 pixels, scales it by one of \
            --octaves octaves and maybe mirrors it, runs the network to the layer (or one of \
            --range layers around it) and strengthens the outputs more than --thresh standard \
            deviations above their mean. After each round the image is written as \
            IMAGE_CFG_LAYER_ROUND.png (in --prefix, else the current folder; never over an existing \
            file), then turned by --rotate radians and zoomed by --zoom. The one departure from \
            Darknet: its gradient through batch norm is training's, ours the network's own \
            (see the man page). Darknet's -reconstruct (with -smooth, -momentum and -lambda, which \
            only it reads) is not supported.
            """)

    @Argument(help: "The network's .cfg file.")
    var cfg: String

    @Argument(help: "The network's .weights file.")
    var weights: String

    @Argument(help: "The image (JPEG or PNG), dreamt on at its own size.")
    var image: String

    @Argument(help: "The layer whose outputs to strengthen.")
    var layer: Int

    @Option(help: "Iterations read a layer drawn from this many around LAYER.")
    var range = NightmareSettings().range

    @Option(help: "1: normalize each change to deviation 1; 0: not.")
    var norm = 1

    @Option(help: "Rounds, each written as a PNG.")
    var rounds = NightmareSettings().rounds

    @Option(help: "Iterations per round.")
    var iters = NightmareSettings().iterations

    @Option(help: "Scales: iterations run at 1/1.33333333^k of the image, k drawn below this.")
    var octaves = NightmareSettings().octaves

    @Option(help: "After each round, scale the centre's --zoom of each side back up (1: none).")
    var zoom = NightmareSettings().zoom

    @Option(help: "Each iteration's step.")
    var rate = NightmareSettings().rate

    @Option(help: "Strengthen outputs this many standard deviations above the mean.")
    var thresh = NightmareSettings().threshold

    @Option(help: "After each round, turn the image by this many radians.")
    var rotate = NightmareSettings().rotate

    @Option(help: "Seeds C's rand(), as Darknet's srand(0) does.")
    var seed = NightmareSettings().seed

    @Option(help: "The folder to write the rounds' PNGs in (default: the current folder).")
    var prefix: String?

    func validate() throws {
        guard norm == 0 || norm == 1 else { throw ValidationError("--norm is 0 or 1") }
        guard zoom > 0, zoom <= 1 else { throw ValidationError("--zoom must be in (0, 1]") }
        guard rate.isFinite, thresh.isFinite, rotate.isFinite else { throw ValidationError("--rate, --thresh and --rotate must be numbers") }
    }

    func run() throws {
        var settings = NightmareSettings()
        settings.range = range
        settings.normalize = norm == 1
        settings.rounds = rounds
        settings.iterations = iters
        settings.octaves = octaves
        settings.zoom = zoom
        settings.rate = rate
        settings.threshold = thresh
        settings.rotate = rotate
        settings.seed = seed
        // Darknet's basecfg: the file's name without folder or extension.
        func base(_ path: String) -> String { ((path as NSString).lastPathComponent as NSString).deletingPathExtension }
        let names = (0..<rounds).map { round in
            let name = "\(base(image))_\(base(cfg))_\(layer)_\(String(format: "%06d", round)).png"
            return prefix.map { ($0 as NSString).appendingPathComponent(name) } ?? name
        }
        try names.forEach(Raster.refuseExisting)
        var network = try Network(cfg: cfg)
        network.warnings.forEach(Output.warn)
        try network.loadWeights(path: weights)
        let picture = try Image(contentsOf: image)
        let nightmare = try Nightmare(network: network, layer: layer, settings: settings)
        try nightmare.dream(picture) { round, dreamt in
            try Raster(dreamt).writePNG(to: names[round])
            Output.line("\(round) \(names[round])")
            try Output.finish()
        }
    }
}
