import Darknet
import Foundation
import Render

/// A key the explorer understands, decoded from ncurses.
enum Key: Equatable {
    case character(Character)
    case up, down, left, right, pageUp, pageDown, home, end, tab, enter, backspace, escape, resize
    case click(row: Int, column: Int)
    case wheelUp, wheelDown
}

/// Which pane keys act on.
enum Pane: Equatable {
    case layers, maps
}

/// One image under the microscope and what the network made of it.
struct Subject {
    var path: String
    /// Bumped on every new result, so pictures made from an older one are redrawn.
    var generation = 0
    var input: Image?
    var result: ForwardResult?
    var predictions: [Prediction] = []
    var error: String?
}

/// Everything the screen shows. The explorer's one owner of mutable state; the
/// screen is drawn from it alone.
struct ExplorerState {
    var weightsPath: String?
    var network: Network {
        didSet { rows = LayerRow.rows(of: network) }
    }
    /// Bumped whenever the network is replaced, so pictures of its weights are redrawn.
    var networkGeneration = 0
    var labels: Labels
    /// The cfg `m` last asked for, while it loads or after it failed; the next `m` steps on from it.
    var networkCursor: String?
    /// The cfg being opened on the worker, shown in the title until it replaces the network.
    var loadingNetwork: String?
    /// The layer table, kept with the network it describes.
    private(set) var rows: [LayerRow]
    /// Images to step through with `[` and `]`.
    var imageList: [String]
    var subjects: [Subject]
    var compare: Bool
    var selectedLayer = 0
    var channel = 0
    var grid = true
    var normalization = Normalization.perChannel
    var colormap = Colormap.viridis
    var focus = Pane.layers
    var showHelp = false
    /// The maps pane shows the first convolutional layer's filters (`f`).
    var showFilters = false
    /// The networks view (`N`), while open.
    var networks: NetworksView?
    /// The path being typed after `o`, when the prompt is open.
    var prompt: String?
    var message: String?
    /// Cosine similarity of the two images' outputs, layer by layer, in compare mode.
    var similarities: [Float] = []

    init(network: Network, weightsPath: String?, labels: Labels, images: [String], imageList: [String]) {
        self.network = network
        self.weightsPath = weightsPath
        self.labels = labels
        rows = LayerRow.rows(of: network)
        self.imageList = imageList
        subjects = images.prefix(2).map { Subject(path: $0) }
        compare = images.count > 1
    }

    var cfgPath: String { network.cfgPath }
    var networkName: String { URL(fileURLWithPath: network.cfgPath).lastPathComponent }
    var layerCount: Int { rows.count }

    /// The first layer shown when `visible` table rows fit: the selection kept in the middle.
    func firstVisibleLayer(visible: Int) -> Int {
        min(max(0, selectedLayer - visible / 2), max(0, layerCount - visible))
    }

    /// Takes a finished forward pass for a slot, if it is still wanted.
    mutating func accept(_ response: InferenceWorker.Response) {
        guard subjects.indices.contains(response.slot), subjects[response.slot].path == response.path else { return }
        var subject = Subject(path: response.path, generation: subjects[response.slot].generation + 1)
        subject.input = response.input
        subject.result = response.result
        subject.error = response.error
        if let result = response.result { subject.predictions = labels.top(5, of: result.prediction()) }
        subjects[response.slot] = subject
        updateSimilarities()
    }

    private mutating func updateSimilarities() {
        guard compare, subjects.count == 2, let a = subjects[0].result, let b = subjects[1].result else {
            similarities = []
            return
        }
        similarities = zip(a.layerOutputs, b.layerOutputs).map { cosineSimilarity($0, $1) }
    }

    /// Replaces the network (after its cfg or weights changed on disk, or `m` switched it);
    /// the selected layer and channel stay where the new network has them, and the images
    /// wait for the new network's results.
    mutating func replace(_ network: Network, weightsPath: String?, labels: Labels) {
        self.network = network
        self.weightsPath = weightsPath
        self.labels = labels
        networkGeneration += 1
        selectLayer(selectedLayer)
        similarities = []
        subjects = subjects.map { Subject(path: $0.path, generation: $0.generation + 1) }
    }

    /// Takes the network `m` asked for, if it is still the one wanted.
    mutating func accept(loaded cfgPath: String, network opened: OpenNetwork?, error: String?) {
        loadingNetwork = nil
        let name = URL(fileURLWithPath: cfgPath).lastPathComponent
        guard let opened else {
            message = "cannot open \(name): \(error ?? "unknown error")"
            return
        }
        networkCursor = nil
        replace(opened.network, weightsPath: opened.weightsPath, labels: opened.labels)
        message = opened.weightsPath == nil ? "\(name): no weights found, on random weights" : "\(name) with \(URL(fileURLWithPath: opened.weightsPath!).lastPathComponent)"
    }

    /// Takes an answer of the networks view, if it is still open for it.
    mutating func accept(_ update: InferenceWorker.Update) {
        switch update {
        case let .networksPlanned(version, runs, noneTrained):
            guard networks?.version == version else { return }
            networks?.runs = runs
            networks?.noneTrained = noneTrained
        case let .networkRan(version, index, run):
            guard networks?.version == version, networks?.runs?.indices.contains(index) == true else { return }
            networks?.runs?[index] = run
        case .inference, .loaded:
            break
        }
    }
    var selectedShape: Shape { network.layers[selectedLayer].output }
    var channelCount: Int { selectedShape.isImage ? selectedShape.channels : 1 }

    /// What a key press asks of the explorer beyond changing state.
    enum Effect: Equatable {
        case none, quit, infer, openPrompt
        /// Open the next (1) or previous (-1) network of the catalog.
        case switchNetwork(step: Int)
        /// Open the networks view on the last image shown.
        case compareNetworks
        /// Close the networks view.
        case closeNetworks
    }

    /// The image the networks view runs: the last one shown (the one `[`, `]` and `o` change).
    var networksImage: String? { subjects.last?.path }

    mutating func handle(_ key: Key, pageSize: Int) -> Effect {
        if showHelp {
            showHelp = false
            return key == .character("q") ? .quit : .none
        }
        if prompt != nil { return handlePrompt(key) }
        message = nil
        if networks != nil { return handleNetworksView(key) }
        switch key {
        case .character("q"): return .quit
        case .character("?"): showHelp = true
        case .character("j"), .down: moveDown()
        case .character("k"), .up: moveUp()
        case .pageDown: selectLayer(selectedLayer + pageSize)
        case .pageUp: selectLayer(selectedLayer - pageSize)
        case .character("g"), .home: selectLayer(0)
        case .character("G"), .end: selectLayer(layerCount - 1)
        case .tab: focus = focus == .layers ? .maps : .layers
        case .character("h"), .left: selectChannel(channel - 1)
        case .character("l"), .right: selectChannel(channel + 1)
        case .character("a"): grid.toggle()
        case .character("n"): normalization = normalization == .perChannel ? .perLayer : .perChannel
        case .character("c"): colormap = colormap.next
        case .character("v"): return toggleCompare()
        case .character("o"):
            prompt = subjects.first.map { URL(fileURLWithPath: $0.path).deletingLastPathComponent().path + "/" } ?? ""
            return .openPrompt
        case .character("]"): return stepImage(by: 1)
        case .character("["): return stepImage(by: -1)
        case .character("m"): return .switchNetwork(step: 1)
        case .character("M"): return .switchNetwork(step: -1)
        case .character("N"): return .compareNetworks
        case .character("f"): showFilters.toggle()
        case .wheelDown: moveDown()
        case .wheelUp: moveUp()
        default: break
        }
        return .none
    }

    /// The networks view covers the screen: `N` or `Esc` closes it, `[` `]` run another
    /// image through the networks, `q` quits, `?` lists the keys; other keys do nothing.
    private mutating func handleNetworksView(_ key: Key) -> Effect {
        switch key {
        case .character("q"): return .quit
        case .character("?"): showHelp = true
        case .character("N"), .escape: return .closeNetworks
        case .character("]"): return stepImage(by: 1) == .infer ? .compareNetworks : .none
        case .character("["): return stepImage(by: -1) == .infer ? .compareNetworks : .none
        default: break
        }
        return .none
    }

    /// In the layer pane `j`/`k` move through layers; in the map pane, through channels.
    private mutating func moveDown() {
        if focus == .maps { selectChannel(channel + 1) } else { selectLayer(selectedLayer + 1) }
    }

    private mutating func moveUp() {
        if focus == .maps { selectChannel(channel - 1) } else { selectLayer(selectedLayer - 1) }
    }

    mutating func selectLayer(_ index: Int) {
        selectedLayer = min(max(index, 0), layerCount - 1)
        channel = min(channel, channelCount - 1)
    }

    mutating func selectChannel(_ index: Int) {
        channel = min(max(index, 0), channelCount - 1)
    }

    private mutating func toggleCompare() -> Effect {
        if compare {
            compare = false
            subjects = Array(subjects.prefix(1))
            return .none
        }
        guard let first = subjects.first else { return .none }
        let others = imageList.filter { $0 != first.path }
        guard let second = others.first else {
            message = "compare needs a second image: give two on the command line or open one with o"
            return .none
        }
        compare = true
        subjects = [first, Subject(path: second)]
        return .infer
    }

    /// `[`/`]` step the last subject (the right one in compare mode) through the image list.
    private mutating func stepImage(by step: Int) -> Effect {
        guard !imageList.isEmpty, let last = subjects.indices.last else { return .none }
        let current = imageList.firstIndex(of: subjects[last].path) ?? -step
        let next = ((current + step) % imageList.count + imageList.count) % imageList.count
        subjects[last] = Subject(path: imageList[next])
        return .infer
    }

    private mutating func handlePrompt(_ key: Key) -> Effect {
        guard var text = prompt else { return .none }
        switch key {
        case .escape: prompt = nil; return .none
        case .enter:
            prompt = nil
            let path = (text as NSString).expandingTildeInPath
            guard FileManager.default.isReadableFile(atPath: path) else {
                message = "cannot open \(path): no such readable file"
                return .none
            }
            if !imageList.contains(path) { imageList.append(path) }
            if let last = subjects.indices.last { subjects[last] = Subject(path: path) } else { subjects = [Subject(path: path)] }
            return .infer
        case .backspace: text = String(text.dropLast())
        case .tab: text = completePath(text)
        case .character(let c): text.append(c)
        default: break
        }
        prompt = text
        return .none
    }

    /// The rows of the layer table, with each layer's share of the time.
    var layerSeconds: [Double] { subjects.first?.result?.layerSeconds ?? [] }
}

/// The cosine of the angle between two activations: 1 where two images look alike to a layer.
func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Float {
    var dot: Double = 0, normA: Double = 0, normB: Double = 0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        normA += Double(x) * Double(x)
        normB += Double(y) * Double(y)
    }
    guard normA > 0, normB > 0 else { return normA == normB ? 1 : 0 }
    return Float(dot / (normA.squareRoot() * normB.squareRoot()))
}

/// Completes a path as far as its matches agree (Tab in the `o` prompt).
func completePath(_ text: String) -> String {
    let expanded = (text as NSString).expandingTildeInPath
    let folder = expanded.hasSuffix("/") ? expanded : (expanded as NSString).deletingLastPathComponent
    let prefix = expanded.hasSuffix("/") ? "" : (expanded as NSString).lastPathComponent
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else { return text }
    let matches = names.filter { $0.hasPrefix(prefix) && !$0.hasPrefix(".") }.sorted()
    guard var common = matches.first else { return text }
    for name in matches.dropFirst() {
        while !name.hasPrefix(common) { common.removeLast() }
    }
    var completed = (folder as NSString).appendingPathComponent(common)
    var isDirectory: ObjCBool = false
    if matches.count == 1, FileManager.default.fileExists(atPath: completed, isDirectory: &isDirectory), isDirectory.boolValue {
        completed += "/"
    }
    return completed
}
