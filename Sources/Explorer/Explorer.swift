import Darknet
import Foundation
import Microscope
import Render

/// What the explorer opens.
public struct ExplorerOptions {
    public var network: OpenNetwork
    public var images: [String]
    public var pixelMode: PixelMode?
    public var colors: ColorDepth?
    /// Where to write each navigation key's time to redrawn screen, in ms (for the benchmark).
    public var redrawLog: String?
    /// The networks `m` switches between and `N` runs side by side.
    public var catalog: NetworkCatalog

    public init(network: OpenNetwork, images: [String], catalog: NetworkCatalog,
                pixelMode: PixelMode? = nil, colors: ColorDepth? = nil, redrawLog: String? = nil) {
        self.network = network
        self.images = images
        self.catalog = catalog
        self.pixelMode = pixelMode
        self.colors = colors
        self.redrawLog = redrawLog
    }
}

/// The full-screen microscope: a thin ncurses shell over `ExplorerState` and the worker.
public enum Explorer {
    /// Runs until `q` or a signal; after SIGINT, SIGTERM or SIGHUP the process dies of that
    /// signal once the terminal is restored, so a caller sees how it ended.
    public static func run(_ options: ExplorerOptions) throws {
        let environment = ProcessInfo.processInfo.environment
        try Terminal.checkUsable(environment: environment)
        let terminal = try Terminal(environment: environment, forcedMode: options.pixelMode, forcedColors: options.colors)
        var session = Session(options: options, terminal: terminal)
        let outcome = Result { try session.loop() }
        // A pass under way is abandoned, not waited for: quitting is instant.
        let workerStopped = session.worker.stop(waitingAtMost: 0.2)
        terminal.restore()
        let signal = Terminal.stopRequested.load(ordering: .relaxed)
        if signal != 0 {
            fflush(nil)
            Foundation.signal(signal, SIG_DFL)
            raise(signal)
        }
        if !workerStopped {
            // Exit-time clean-up would wait on OpenBLAS, busy on the worker's thread.
            if case let .failure(error) = outcome { fputs("darkscope: \(error)\n", stderr) }
            fflush(nil)
            _exit(outcome.isSuccess ? 0 : 1)
        }
        try outcome.get()
    }
}

extension Result {
    fileprivate var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}

/// One run of the explorer: the state, the worker, the screen, and the files watched.
private struct Session {
    let options: ExplorerOptions
    let terminal: Terminal
    let screen: Screen
    let worker: InferenceWorker
    var state: ExplorerState
    /// What has been asked of the worker for each slot, so a request is made once.
    var requested: [Int: SubjectKey] = [:]
    var lastWatch = Date()
    var redrawMilliseconds: [Double] = []

    init(options: ExplorerOptions, terminal: Terminal) {
        self.options = options
        self.terminal = terminal
        screen = Screen(terminal: terminal)
        worker = InferenceWorker()
        state = ExplorerState(network: options.network, images: options.images,
                              imageList: Session.imageList(for: options.images))
    }

    /// The images given, or when only one, every image in its folder.
    static func imageList(for images: [String]) -> [String] {
        guard images.count == 1, let only = images.first else { return images }
        let folder = URL(fileURLWithPath: only).deletingLastPathComponent()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let pictures = names.filter { ["jpg", "jpeg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        let paths = pictures.map { folder.appendingPathComponent($0).path }
        let standardized = URL(fileURLWithPath: only).standardized.path
        return paths.contains(standardized) ? paths.map { $0 == standardized ? only : $0 } : [only] + paths
    }

    mutating func loop() throws {
        submitMissing()
        screen.draw(state)
        while Terminal.stopRequested.load(ordering: .relaxed) == 0 {
            if let key = terminal.readKey() {
                let start = DispatchTime.now().uptimeNanoseconds
                worker.userActed()
                // Keys typed faster than the screen redraws are all taken before the next
                // redraw, so a held key or a paste never leaves the screen behind.
                var keys = [key]
                while let more = terminal.readKey(wait: false) { keys.append(more) }
                guard keys.allSatisfy({ handle($0) }) else { break }
                // A new layer or channel may want pictures or examples the views show.
                submitMissing()
                screen.draw(state)
                if keys.count == 1, [.up, .down, .character("j"), .character("k")].contains(key) {
                    redrawMilliseconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                }
                continue
            }
            var dirty = false
            for update in worker.takeUpdates() {
                take(update)
                dirty = true
            }
            if Date().timeIntervalSince(lastWatch) > 1 {
                lastWatch = Date()
                let before = state.keys
                apply(state.observe(FileStamp.of(state.watchedPaths)))
                dirty = dirty || state.keys != before || state.loadingNetwork != nil
            }
            if dirty { screen.draw(state) }
        }
        if let log = options.redrawLog {
            let text = redrawMilliseconds.map { String(format: "%.3f", $0) }.joined(separator: "\n") + "\n"
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: log))
            } catch {
                throw DarknetError.file(path: log, problem: "cannot write the redraw log: \(error.localizedDescription)")
            }
        }
    }

    /// Applies a key; false to quit.
    private mutating func handle(_ key: Key) -> Bool {
        let layout = screen.layout()
        switch key {
        case .resize:
            screen.invalidate()
        case let .click(row, column):
            let table = layout.table
            if (table.row + 1..<table.row + 1 + layout.tableEntries).contains(row) {
                state.selectLayer(state.firstVisibleLayer(visible: layout.tableEntries) + row - table.row - 1)
                state.focus(.layers)
            } else if let channel = screen.channel(atRow: row, column: column) {
                state.selectChannel(channel)
                state.focus(.maps)
            }
        default:
            let effect = state.handle(key, pageSize: max(1, layout.tableEntries), catalog: options.catalog)
            if effect == .quit { return false }
            apply(effect)
        }
        return true
    }

    private mutating func apply(_ effect: ExplorerState.Effect) {
        switch effect {
        case .none, .quit: break
        case .infer, .explain, .channels: submitMissing()
        case let .openNetwork(cfg): worker.load(cfg, catalog: options.catalog)
        case .compareNetworks:
            submitMissing()
            worker.compare(image: state.networks?.image, catalog: options.catalog, onScreen: state.loaded.opened)
        case .closeNetworks: worker.compare(image: nil, catalog: options.catalog, onScreen: nil)
        }
    }

    /// Takes one answer of the worker.
    private mutating func take(_ update: InferenceWorker.Update) {
        switch update {
        case let .analysis(analysis):
            state.accept(analysis)
            submitMissing()
        case let .explanation(explanation): state.accept(explanation)
        case let .feature(key, image, error): state.accept(feature: key, image: image, error: error)
        case let .featureStep(key, step): state.accept(featureStep: key, step: step)
        case let .examples(examples): state.accept(examples)
        case let .timing(key, timing): state.accept(timing: timing, for: key)
        case let .loaded(cfgPath, network, error):
            state.accept(loaded: cfgPath, network: network, error: error)
            submitMissing()
        case let .networksPlanned(image, runs, noneTrained): state.accept(planned: runs, noneTrained: noneTrained, image: image)
        case let .networkRan(image, index, run): state.accept(run: run, index: index, image: image)
        }
    }

    /// Asks the worker for every current analysis and explanation not yet computed nor asked for.
    private mutating func submitMissing() {
        for slot in state.missing where requested[slot] != state.key(slot: slot) {
            requested[slot] = state.key(slot: slot)
            worker.submit(.init(slot: slot, key: state.key(slot: slot), network: state.network))
        }
        for slot in state.missingExplanations {
            let key = state.explanationKey(slot: slot)
            state.requested(key)
            worker.explain(.init(slot: slot, key: key, network: state.network))
        }
        let features = state.missingFeatures
        if !features.isEmpty {
            state.requested(features: features)
            worker.visualize(.init(keys: features, network: state.network, weightsPath: state.loaded.weightsPath))
        }
        if let examples = state.missingExamples {
            state.requested(examples: examples)
            worker.examples(.init(key: examples, network: state.network, weightsPath: state.loaded.weightsPath))
        }
    }
}
