import Darknet
import Foundation
import Render

/// What the explorer opens.
public struct ExplorerOptions {
    public var network: Network
    /// nil when the network runs on random weights.
    public var weightsPath: String?
    public var images: [String]
    public var labels: Labels
    public var pixelMode: PixelMode?
    public var colors: ColorDepth?
    /// Where to write each navigation key's time to redrawn screen, in ms (for the benchmark).
    public var redrawLog: String?
    /// The networks `m` switches between and `N` runs side by side; without one, only this network.
    public var catalog: NetworkCatalog

    public init(network: Network, weightsPath: String?, images: [String], labels: Labels, catalog: NetworkCatalog? = nil,
                pixelMode: PixelMode? = nil, colors: ColorDepth? = nil, redrawLog: String? = nil) {
        self.network = network
        self.weightsPath = weightsPath
        self.images = images
        self.labels = labels
        self.catalog = catalog ?? NetworkCatalog(cfgs: [network.cfgPath], findWeights: { _ in weightsPath }, labels: { _ in labels })
        self.pixelMode = pixelMode
        self.colors = colors
        self.redrawLog = redrawLog
    }
}

/// The full-screen microscope: composes the core (a worker thread running the network)
/// and the renderer (pictures of its activations) under ncurses.
public enum Explorer {
    public static func run(_ options: ExplorerOptions) throws {
        let environment = ProcessInfo.processInfo.environment
        try Terminal.checkUsable(environment: environment)
        let terminal = try Terminal(environment: environment, forcedMode: options.pixelMode, forcedColors: options.colors)
        defer { terminal.restore() }
        var session = Session(options: options, terminal: terminal)
        try session.loop()
    }
}

/// One run of the explorer: the state, the worker, the screen, and the files watched.
private struct Session {
    let options: ExplorerOptions
    let terminal: Terminal
    let screen: Screen
    let worker = InferenceWorker()
    var state: ExplorerState
    var networkVersion = 0
    /// Counts `m`'s requests, so only the newest switch is taken.
    var loadVersion = 0
    /// Counts the networks view's openings, so only the newest one's answers are taken.
    var networksVersion = 0
    var watched: [String: Date] = [:]
    var lastWatch = Date()
    var redrawMilliseconds: [Double] = []

    init(options: ExplorerOptions, terminal: Terminal) {
        self.options = options
        self.terminal = terminal
        screen = Screen(terminal: terminal)
        let list = Session.imageList(for: options.images)
        state = ExplorerState(network: options.network, weightsPath: options.weightsPath, labels: options.labels,
                              images: options.images, imageList: list)
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
        defer { worker.stop() }
        submitAll()
        watched = modificationDates()
        screen.draw(state)
        while !Terminal.stopRequested.load(ordering: .relaxed) {
            if let key = terminal.readKey() {
                let start = DispatchTime.now().uptimeNanoseconds
                if !handle(key) { break }
                screen.draw(state)
                if [.up, .down, .character("j"), .character("k")].contains(key) {
                    redrawMilliseconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                }
                continue
            }
            var dirty = false
            for update in worker.takeUpdates() {
                dirty = take(update) || dirty
            }
            if Date().timeIntervalSince(lastWatch) > 1 { dirty = reloadChangedFiles() || dirty }
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
            return true
        case let .click(row, column):
            let visible = layout.tableRows - 1
            let first = layout.tableTop + 1
            if (first..<(first + visible)).contains(row) {
                state.selectLayer(state.firstVisibleLayer(visible: visible) + row - first)
                state.focus = .layers
            } else if let channel = screen.channel(atRow: row, column: column) {
                state.selectChannel(channel)
                state.focus = .maps
            }
            return true
        default:
            switch state.handle(key, pageSize: max(1, layout.tableRows - 1)) {
            case .quit: return false
            case .infer: submitAll()
            case .none, .openPrompt: break
            case let .switchNetwork(step): switchNetwork(step: step)
            case .compareNetworks:
                submitAll()
                openNetworksView()
            case .closeNetworks:
                state.networks = nil
                worker.compare(nil)
            }
            return true
        }
    }

    /// Takes one answer of the worker; true when the screen changed.
    private mutating func take(_ update: InferenceWorker.Update) -> Bool {
        switch update {
        case let .inference(response):
            guard response.networkVersion == networkVersion else { return false }
            state.accept(response)
        case let .loaded(version, cfgPath, network, error):
            guard version == loadVersion else { return false }
            state.accept(loaded: cfgPath, network: network, error: error)
            if network != nil {
                networkVersion += 1
                submitAll()
                watched = modificationDates()
            }
        case .networksPlanned, .networkRan:
            state.accept(update)
        }
        return true
    }

    /// Asks the worker for the next or previous network of the catalog; the current one
    /// stays on screen until the new one is ready.
    private mutating func switchNetwork(step: Int) {
        let current = NetworkCatalog.identity(state.cfgPath)
        guard options.catalog.cfgs.contains(where: { NetworkCatalog.identity($0) != current }),
              let next = options.catalog.cfg(after: state.networkCursor ?? state.cfgPath, step: step) else {
            state.message = "no other network: put cfgs in darkscope's cfg/ folder or give one on the command line"
            return
        }
        state.networkCursor = next
        open(next)
    }

    /// Opens a cfg on the worker; the current network stays on screen until it is ready.
    private mutating func open(_ cfg: String) {
        loadVersion += 1
        state.loadingNetwork = URL(fileURLWithPath: cfg).lastPathComponent
        worker.load(.init(cfgPath: cfg, version: loadVersion, catalog: options.catalog))
    }

    /// Opens the networks view on the last image shown and starts its runs on the worker.
    private mutating func openNetworksView() {
        guard let image = state.networksImage else { return }
        networksVersion += 1
        state.networks = NetworksView(version: networksVersion, imagePath: image)
        worker.compare(.init(version: networksVersion, imagePath: image, catalog: options.catalog))
    }

    private func submitAll() {
        for (slot, subject) in state.subjects.enumerated() where subject.result == nil || subject.generation == 0 {
            worker.submit(.init(slot: slot, path: subject.path, network: state.network, networkVersion: networkVersion))
        }
    }

    private func modificationDates() -> [String: Date] {
        var paths = [state.cfgPath] + state.subjects.map(\.path)
        if let weights = state.weightsPath { paths.append(weights) }
        var dates: [String: Date] = [:]
        for path in paths {
            dates[path] = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate]) as? Date
        }
        return dates
    }

    /// Reloads the network or images whose files changed on disk; true when anything did.
    private mutating func reloadChangedFiles() -> Bool {
        lastWatch = Date()
        let now = modificationDates()
        defer { watched = now }
        let changed = Set(now.keys.filter { now[$0] != watched[$0] && watched[$0] != nil })
        guard !changed.isEmpty else { return false }
        if changed.contains(state.cfgPath) || state.weightsPath.map(changed.contains) == true {
            // Reopened on the worker, as `m` opens a network, so a big one never freezes the screen.
            open(state.cfgPath)
        }
        for slot in state.subjects.indices where changed.contains(state.subjects[slot].path) {
            state.subjects[slot].generation = 0
        }
        submitAll()
        return true
    }
}
