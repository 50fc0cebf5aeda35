import Darknet
import Foundation
import Render

/// Which pane keys act on.
package enum Pane: Equatable, Sendable {
    case layers, maps
}

/// What the network made of one image: the answer to one `SubjectKey`.
package struct Analysis: Sendable {
    package var key: SubjectKey
    package var input: Image?
    package var result: ForwardResult?
    package var error: String?
    /// Medians of warm passes, refined in the background; nil until the first warm pass.
    package var timing: LayerTiming?

    package init(key: SubjectKey, input: Image? = nil, result: ForwardResult? = nil, error: String? = nil) {
        self.key = key
        self.input = input
        self.result = result
        self.error = error
    }

    /// Bytes the kept outputs and input take, for the cache's budget.
    package var bytes: Int {
        let outputs = result?.layerOutputs.reduce(0) { $0 + $1.count } ?? 0
        return (outputs + (input?.values.count ?? 0)) * MemoryLayout<Float>.size
    }
}

/// What an explanation is made for: an image's analysis key and the attribution asked.
package struct ExplanationKey: Hashable, Sendable {
    package var subject: SubjectKey
    package var request: AttributionRequest

    package init(subject: SubjectKey, request: AttributionRequest) {
        self.subject = subject
        self.request = request
    }
}

/// Why the network chose a class for one image: an attribution map and the image it covers,
/// or how far its computation is.
package struct Explanation: Sendable {
    package var key: ExplanationKey
    package var map: AttributionMap?
    /// The original image the map covers.
    package var image: Image?
    package var error: String?
    /// How far the computation is, once the worker has said.
    package var progress: AttributionProgress?

    package init(key: ExplanationKey, map: AttributionMap? = nil, image: Image? = nil, error: String? = nil,
                 progress: AttributionProgress? = nil) {
        self.key = key
        self.map = map
        self.image = image
        self.error = error
        self.progress = progress
    }

    package var isFinished: Bool { map != nil || error != nil }
}

/// The network on screen and what it was read from.
package struct LoadedNetwork: Sendable {
    package var network: Network
    package var key: NetworkKey
    /// nil when the network runs on random weights.
    package var weightsPath: String?
    package var labels: Labels
    package let rows: [LayerRow]

    package init(_ opened: OpenNetwork) {
        network = opened.network
        key = opened.key
        weightsPath = opened.weightsPath
        labels = opened.labels
        rows = LayerRow.rows(of: opened.network)
    }

    /// The network as it was opened, to run elsewhere without reading it again.
    package var opened: OpenNetwork { OpenNetwork(network: network, weightsPath: weightsPath, labels: labels, key: key) }
}

/// Analyses kept for the current images, and a few recent ones within a byte budget, so
/// that stepping back to an image is instant without memory growing with every key.
package struct AnalysisCache: Sendable {
    private var entries: [SubjectKey: Analysis] = [:]
    /// Least recently stored first.
    private var order: [SubjectKey] = []
    package let budgetBytes: Int

    package init(budgetBytes: Int) { self.budgetBytes = budgetBytes }

    package subscript(key: SubjectKey) -> Analysis? { entries[key] }

    package var count: Int { entries.count }
    package var bytes: Int { entries.values.reduce(0) { $0 + $1.bytes } }

    /// Stores an analysis, then drops the oldest others (never those `keeping`) past the budget.
    package mutating func store(_ analysis: Analysis, keeping current: Set<SubjectKey>) {
        entries[analysis.key] = analysis
        order.removeAll { $0 == analysis.key }
        order.append(analysis.key)
        trim(keeping: current)
    }

    /// Drops the oldest analyses (never those `keeping`) until they fit `bytes`, by default the budget.
    package mutating func trim(keeping current: Set<SubjectKey>, toFit budget: Int? = nil) {
        var total = bytes
        for key in order where total > (budget ?? budgetBytes) && !current.contains(key) {
            total -= entries[key]?.bytes ?? 0
            entries[key] = nil
        }
        order.removeAll { entries[$0] == nil }
    }

    /// Updates the timing of a stored analysis, if it is still there.
    package mutating func update(_ key: SubjectKey, timing: LayerTiming) {
        entries[key]?.timing = timing
    }
}

/// Everything the screen shows: the explorer's one owner of mutable state, changed only by
/// the methods below. The screen is drawn from it alone.
package struct ExplorerState: Sendable {
    package private(set) var loaded: LoadedNetwork
    /// The cfg whose opening is under way (`m`, or a reload after a change on disk).
    package private(set) var loadingNetwork: String?
    /// The cfg `m` last asked for, while it loads or after it failed; the next `m` steps on from it.
    private var networkCursor: String?
    /// The files of the last opening asked for, so one that failed is not retried until they change.
    private var attemptedFiles: [FileStamp]?
    /// Why the last reload or switch failed, shown until one succeeds.
    package private(set) var networkProblem: String?
    /// Images to step through with `[` and `]`.
    package private(set) var imageList: [String]
    /// The image files on screen (two in compare mode), as last seen on disk.
    package private(set) var images: [FileStamp]
    package private(set) var analyses: AnalysisCache
    package private(set) var compare: Bool
    package private(set) var selectedLayer = 0
    package private(set) var channel = 0
    package private(set) var grid = true
    package private(set) var normalization = Normalization.perChannel
    package private(set) var colormap = Colormap.viridis
    package private(set) var focus = Pane.layers
    package private(set) var showHelp = false
    /// The maps pane shows the first convolutional layer's filters (`f`).
    package private(set) var showFilters = false
    /// The networks view (`N`), while open.
    package private(set) var networks: NetworksView?
    /// The line being typed after `o` or `/`, when a prompt is open.
    package private(set) var prompt: Prompt?
    /// The maps pane shows why the network chose a class (`e`) instead of activations.
    package private(set) var explaining = false
    package private(set) var method = AttributionMethod.gradCAM
    /// The class explained; nil: each image's own top-1.
    package private(set) var explainedClass: Int?
    /// Explanations of the images on screen (finished or under way), and a few recent ones.
    private var explanations: [ExplanationKey: Explanation] = [:]
    /// The maps pane shows what the selected layer's channels look for (`w`)...
    package private(set) var lookingFor = false
    /// ...or the selected channel's map, picture and dataset examples (`x`).
    package private(set) var showExamples = false
    /// Pictures of what channels look for, kept for the network on screen.
    private var features: [FeatureKey: Image] = [:]
    private var featureErrors: [FeatureKey: String] = [:]
    /// What the last request to the worker asked for, so each is asked once.
    private var featuresAsked: Set<FeatureKey> = []
    /// The picture under way and its steps done.
    package private(set) var featureStep: (key: FeatureKey, step: Int)?
    private var examplesShown: ChannelExamples?
    private var examplesAsked: ExamplesKey?
    package var message: String?

    /// A line the user types on the status line.
    package struct Prompt: Equatable, Sendable {
        package enum Purpose: Equatable, Sendable {
            /// An image's path (`o`).
            case openImage
            /// A class's name or index, to explain (`/`).
            case className
        }
        package var purpose: Purpose
        package var text: String

        package var label: String {
            switch purpose {
            case .openImage: "open image (Tab completes, Enter opens, Esc cancels): "
            case .className: "explain class (Tab completes, Enter explains, Esc cancels): "
            }
        }
    }

    /// `cacheBudgetBytes` bounds the analyses kept, counting the current ones (never dropped): 128 MB holds
    /// nine of Tiny Darknet's, one of CSPDarknet-53's (100 MB each, which with its weights,
    /// 330 MB, and the worker's arenas leaves room within a gigabyte for two on screen).
    package init(network: OpenNetwork, images: [String], imageList: [String], cacheBudgetBytes: Int = 128 << 20) {
        loaded = LoadedNetwork(network)
        self.imageList = imageList
        self.images = images.prefix(2).map(FileStamp.of)
        compare = images.count > 1
        analyses = AnalysisCache(budgetBytes: cacheBudgetBytes)
    }

    package var network: Network { loaded.network }
    package var rows: [LayerRow] { loaded.rows }
    package var cfgPath: String { network.cfgPath }
    package var networkName: String { URL(fileURLWithPath: network.cfgPath).lastPathComponent }
    package var layerCount: Int { rows.count }
    package var selectedShape: Shape { network.layers[selectedLayer].output }
    package var channelCount: Int { selectedShape.isImage ? selectedShape.channels : 1 }

    // MARK: What is current

    /// The key of what slot `slot` shows: the current network on the image as last seen.
    package func key(slot: Int) -> SubjectKey { SubjectKey(network: loaded.key, image: images[slot]) }
    package var keys: [SubjectKey] { images.indices.map(key(slot:)) }

    /// The analysis of slot `slot`, only if it was made for what is current.
    package func analysis(slot: Int) -> Analysis? { analyses[key(slot: slot)] }

    /// The slots whose analysis is still to be computed.
    package var missing: [Int] { images.indices.filter { analysis(slot: $0) == nil } }

    /// The top-5 of slot `slot`, in the current network's labels.
    package func predictions(slot: Int) -> [Prediction] {
        guard let result = analysis(slot: slot)?.result else { return [] }
        return loaded.labels.top(5, of: result.prediction())
    }

    /// The explanation slot `slot` shows: the method and class chosen, on its current analysis.
    package func explanationKey(slot: Int) -> ExplanationKey {
        ExplanationKey(subject: key(slot: slot), request: AttributionRequest(method: method, classIndex: explainedClass))
    }

    /// Slot `slot`'s explanation, finished or under way, only if made for what is current.
    package func explanation(slot: Int) -> Explanation? { explanations[explanationKey(slot: slot)] }

    /// The slots whose explanation is still to be asked for, while the maps pane explains.
    package var missingExplanations: [Int] {
        explaining ? images.indices.filter { explanation(slot: $0) == nil } : []
    }

    // MARK: What channels look for

    /// Channels of the `w` grid drawn at once.
    package static let featurePageSize = 16

    /// The `w` grid's channels: the page of `featurePageSize` holding the selected channel.
    package var featurePage: Range<Int> {
        let start = channel / Self.featurePageSize * Self.featurePageSize
        return start..<min(channelCount, start + Self.featurePageSize)
    }

    /// Whether the selected layer has channels to look at (a flat layer has values).
    package var layerHasChannels: Bool { selectedShape.isImage && selectedShape.spatial > 1 }

    package func featureKey(channel: Int) -> FeatureKey {
        FeatureKey(network: loaded.key, layer: selectedLayer, channel: channel)
    }

    /// What channel `channel` of the selected layer looks for, once computed for the network on screen.
    package func feature(channel: Int) -> Image? { features[featureKey(channel: channel)] }

    package func featureError(channel: Int) -> String? { featureErrors[featureKey(channel: channel)] }

    /// The pictures the maps pane needs and has neither nor asked for: the `w` page's, or the
    /// selected channel's for `x`.
    package var missingFeatures: [FeatureKey] {
        guard layerHasChannels else { return [] }
        let wanted = lookingFor ? Array(featurePage) : showExamples ? [channel] : []
        let keys = wanted.map(featureKey(channel:))
        guard keys.contains(where: { features[$0] == nil && featureErrors[$0] == nil && !featuresAsked.contains($0) }) else { return [] }
        return keys.filter { features[$0] == nil && featureErrors[$0] == nil }
    }

    /// Marks `keys` as the worker's one request of pictures (it supersedes the last).
    package mutating func requested(features keys: [FeatureKey]) { featuresAsked = Set(keys) }

    package mutating func accept(feature key: FeatureKey, image: Image?, error: String?) {
        guard key.network == loaded.key else { return }
        if let image { features[key] = image } else { featureErrors[key] = error ?? "failed" }
        if featureStep?.key == key { featureStep = nil }
    }

    package mutating func accept(featureStep key: FeatureKey, step: Int) {
        if features[key] == nil { featureStep = (key, step) }
    }

    /// The `x` view's examples: from the first image's folder, for the selected channel.
    package var examplesKey: ExamplesKey? {
        guard showExamples, layerHasChannels, let first = images.first else { return nil }
        let folder = URL(fileURLWithPath: first.path).standardizedFileURL.deletingLastPathComponent().path
        return ExamplesKey(network: loaded.key, folder: folder, layer: selectedLayer, channel: channel)
    }

    /// The selected channel's examples, finished or under way, only if made for what is current.
    package var examples: ChannelExamples? {
        guard let key = examplesKey, examplesShown?.key == key else { return nil }
        return examplesShown
    }

    /// The examples to ask the worker for, if not yet asked.
    package var missingExamples: ExamplesKey? {
        guard let key = examplesKey, examplesAsked != key else { return nil }
        return key
    }

    package mutating func requested(examples key: ExamplesKey) { examplesAsked = key }

    package mutating func accept(_ examples: ChannelExamples) {
        // Indexing's progress is the folder's, whichever channel asked.
        if let key = examplesKey, examples.progress != nil, examples.key.network == key.network, examples.key.folder == key.folder {
            var shown = examples
            shown.key = key
            examplesShown = shown
        } else if examples.key == examplesKey {
            examplesShown = examples
        }
    }

    /// Cosine similarity of the two images' outputs, layer by layer, in compare mode.
    package var similarities: [Float] {
        guard compare, keys.count == 2, let computed = pairSimilarities, computed.keys == keys else { return [] }
        return computed.values
    }

    /// Worked out once per pair of analyses, not on every redraw.
    private var pairSimilarities: (keys: [SubjectKey], values: [Float])?

    private mutating func updateSimilarities() {
        guard compare, images.count == 2, let a = analysis(slot: 0)?.result, let b = analysis(slot: 1)?.result else { return }
        guard pairSimilarities?.keys != keys else { return }
        pairSimilarities = (keys, zip(a.layerOutputs, b.layerOutputs).map { cosineSimilarity($0, $1) })
    }

    /// The first layer shown when `visible` table rows fit: the selection kept in the middle.
    package func firstVisibleLayer(visible: Int) -> Int {
        min(max(0, selectedLayer - visible / 2), max(0, layerCount - visible))
    }

    // MARK: Answers of the worker

    /// Takes a finished analysis; one made for anything but what is current is kept only as a
    /// recent result (it may be current again after `[`), never shown.
    package mutating func accept(_ analysis: Analysis) {
        analyses.store(analysis, keeping: Set(keys))
        updateSimilarities()
    }

    /// Takes an explanation, or its progress; kept only while it, or a few others, are recent.
    package mutating func accept(_ explanation: Explanation) {
        if !explanation.isFinished, explanations[explanation.key]?.isFinished == true { return }
        explanations[explanation.key] = explanation
        let current = Set(images.indices.map(explanationKey(slot:)))
        if explanations.count > 8 { explanations = explanations.filter { current.contains($0.key) } }
    }

    /// Marks an explanation as asked for (computing, no progress yet), so it is asked once.
    package mutating func requested(_ key: ExplanationKey) {
        guard explanations[key] == nil else { return }
        explanations[key] = Explanation(key: key)
    }

    /// Takes a refined timing of an analysis.
    package mutating func accept(timing: LayerTiming, for key: SubjectKey) {
        analyses.update(key, timing: timing)
    }

    /// Takes a network opened on the worker, if it is still the one wanted.
    package mutating func accept(loaded cfgPath: String, network opened: OpenNetwork?, error: String?) {
        guard let loading = loadingNetwork, NetworkCatalog.identity(loading) == NetworkCatalog.identity(cfgPath) else { return }
        loadingNetwork = nil
        let name = URL(fileURLWithPath: cfgPath).lastPathComponent
        guard let opened else {
            networkProblem = "cannot open \(name): \(error ?? "unknown error")"
            message = networkProblem
            return
        }
        networkCursor = nil
        networkProblem = nil
        attemptedFiles = nil
        loaded = LoadedNetwork(opened)
        features = [:]
        featureErrors = [:]
        featuresAsked = []
        selectLayer(selectedLayer)
        analyses.trim(keeping: Set(keys))
        message = opened.weightsPath.map { "\(name) with \(URL(fileURLWithPath: $0).lastPathComponent)" }
            ?? "\(name): no weights found, on random weights"
    }

    /// Takes an answer of the networks view, if it is still open on that image.
    package mutating func accept(planned runs: [NetworkRun], noneTrained: Bool, image: FileStamp) {
        guard networks?.image == image else { return }
        networks?.runs = runs
        networks?.noneTrained = noneTrained
    }

    package mutating func accept(run: NetworkRun, index: Int, image: FileStamp) {
        guard networks?.image == image, networks?.runs?.indices.contains(index) == true else { return }
        networks?.runs?[index] = run
    }

    // MARK: Files on disk

    /// The files the explorer watches: the cfg, the weights and the images on screen.
    package var watchedPaths: [String] {
        [loaded.key.cfg.path] + (loaded.key.weights.map { [$0.path] } ?? []) + images.map(\.path)
    }

    /// Takes what the watched files are now. An image that changed, vanished or came back
    /// gets a new key (so its analysis and pictures are made anew); a changed cfg or weights
    /// file asks for the network to be opened again.
    package mutating func observe(_ stamps: [String: FileStamp]) -> Effect {
        for slot in images.indices {
            if let now = stamps[images[slot].path] { images[slot] = now }
        }
        let cfg = stamps[loaded.key.cfg.path] ?? loaded.key.cfg
        let weights = loaded.key.weights.map { stamps[$0.path] ?? $0 }
        let files = [cfg] + (weights.map { [$0] } ?? [])
        guard !loaded.key.isCurrent(cfg: cfg, weights: weights), loadingNetwork == nil, attemptedFiles != files else {
            return .infer
        }
        attemptedFiles = files
        return open(cfgPath)
    }

    // MARK: Keys

    /// What a key press asks of the explorer beyond changing state.
    package enum Effect: Equatable, Sendable {
        case none, quit
        /// Compute what is missing for the images on screen.
        case infer
        /// Open this cfg on the worker (the current network stays until it is ready).
        case openNetwork(String)
        /// Run the open networks view's image through every network.
        case compareNetworks
        /// Stop the networks view's runs.
        case closeNetworks
        /// Compute the explanations the maps pane shows.
        case explain
        /// Ask for the pictures and examples the channel views need.
        case channels
    }

    /// The image the networks view runs: the last one shown (the one `[`, `]` and `o` change).
    package var networksImage: FileStamp? { images.last }

    package mutating func handle(_ key: Key, pageSize: Int, catalog: NetworkCatalog) -> Effect {
        if showHelp {
            showHelp = false
            return key == .character("q") ? .quit : .none
        }
        if prompt != nil { return handlePrompt(key) }
        message = nil
        if networks != nil && key == .escape {
            networks = nil
            return .closeNetworks
        }
        guard let command = Bindings.command(for: key) else { return .none }
        if networks != nil { return handleNetworksView(command) }
        switch command {
        case .quit: return .quit
        case .help: showHelp = true
        case .next: if focus == .maps { selectChannel(channel + 1) } else { selectLayer(selectedLayer + 1) }
        case .previous: if focus == .maps { selectChannel(channel - 1) } else { selectLayer(selectedLayer - 1) }
        case .nextPage: selectLayer(selectedLayer + pageSize)
        case .previousPage: selectLayer(selectedLayer - pageSize)
        case .first: selectLayer(0)
        case .last: selectLayer(layerCount - 1)
        case .focus: focus = focus == .layers ? .maps : .layers
        case .previousChannel: selectChannel(channel - 1)
        case .nextChannel: selectChannel(channel + 1)
        case .grid: grid.toggle()
        case .normalization: normalization = normalization == .perChannel ? .perLayer : .perChannel
        case .colormap: colormap = colormap.next
        case .compare: return toggleCompare()
        case .open:
            prompt = Prompt(purpose: .openImage,
                            text: images.first.map { URL(fileURLWithPath: $0.path).deletingLastPathComponent().path + "/" } ?? "")
        case .nextImage: return stepImage(by: 1)
        case .previousImage: return stepImage(by: -1)
        case .nextNetwork: return switchNetwork(step: 1, catalog: catalog)
        case .previousNetwork: return switchNetwork(step: -1, catalog: catalog)
        case .networksView:
            guard let image = networksImage else { return .none }
            networks = NetworksView(image: image)
            return .compareNetworks
        case .filters: showFilters.toggle()
        case .explain:
            explaining.toggle()
            return explaining ? .explain : .none
        case .nextMethod:
            let all = AttributionMethod.allCases
            method = all[(all.firstIndex(of: method)! + 1) % all.count]
            explaining = true
            return .explain
        case let .explainTop(rank):
            let top = predictions(slot: 0)
            guard top.indices.contains(rank - 1) else {
                message = "no class \(rank) in the top-5 yet"
                return .none
            }
            explainedClass = explainedClass == top[rank - 1].index ? nil : top[rank - 1].index
            explaining = true
            return .explain
        case .explainClass:
            prompt = Prompt(purpose: .className, text: "")
        case .lookingFor:
            lookingFor.toggle()
            if lookingFor { showExamples = false; explaining = false; showFilters = false }
            return lookingFor ? .channels : .none
        case .examples:
            showExamples.toggle()
            if showExamples { lookingFor = false; explaining = false; showFilters = false }
            return showExamples ? .channels : .none
        }
        return .none
    }

    /// The networks view covers the screen: `N` or `Esc` closes it, `[` `]` run another
    /// image through the networks, `q` quits, `?` lists the keys; other keys do nothing.
    private mutating func handleNetworksView(_ command: Command) -> Effect {
        switch command {
        case .quit: return .quit
        case .help: showHelp = true
        case .networksView:
            networks = nil
            return .closeNetworks
        case .nextImage, .previousImage:
            guard stepImage(by: command == .nextImage ? 1 : -1) == .infer, let image = networksImage else { return .none }
            networks = NetworksView(image: image)
            return .compareNetworks
        default: break
        }
        return .none
    }

    package mutating func selectLayer(_ index: Int) {
        selectedLayer = min(max(index, 0), layerCount - 1)
        channel = min(channel, channelCount - 1)
    }

    package mutating func selectChannel(_ index: Int) {
        channel = min(max(index, 0), channelCount - 1)
    }

    package mutating func focus(_ pane: Pane) { focus = pane }

    private mutating func switchNetwork(step: Int, catalog: NetworkCatalog) -> Effect {
        let current = NetworkCatalog.identity(cfgPath)
        guard catalog.cfgs.contains(where: { NetworkCatalog.identity($0) != current }),
              let next = catalog.cfg(after: networkCursor ?? cfgPath, step: step) else {
            message = "no other network: put cfgs in darkscope's cfg/ folder or give one on the command line"
            return .none
        }
        // Back to the network on screen before another opened: nothing to open, where a
        // second copy would take its weights' memory again (CSPDarknet-53's: 330 MB).
        if NetworkCatalog.identity(next) == current {
            networkCursor = nil
            loadingNetwork = nil
            return .infer
        }
        networkCursor = next
        return open(next)
    }

    /// Asks for `cfg` to be opened. Older analyses go first, so that the opening's weights
    /// take their memory: the current ones stay on screen until it is ready.
    private mutating func open(_ cfg: String) -> Effect {
        loadingNetwork = cfg
        analyses.trim(keeping: Set(keys), toFit: 0)
        return .openNetwork(cfg)
    }

    private mutating func toggleCompare() -> Effect {
        if compare {
            compare = false
            images = Array(images.prefix(1))
            return .none
        }
        guard let first = images.first else { return .none }
        guard let second = imageList.first(where: { $0 != first.path }) else {
            message = "compare needs a second image: give two on the command line or open one with o"
            return .none
        }
        compare = true
        images = [first, FileStamp.of(second)]
        updateSimilarities()
        return .infer
    }

    /// `[`/`]` step the last image (the right one in compare mode) through the image list.
    private mutating func stepImage(by step: Int) -> Effect {
        guard !imageList.isEmpty, let last = images.indices.last else { return .none }
        let current = imageList.firstIndex(of: images[last].path) ?? -step
        let next = ((current + step) % imageList.count + imageList.count) % imageList.count
        images[last] = FileStamp.of(imageList[next])
        return .infer
    }

    private mutating func handlePrompt(_ key: Key) -> Effect {
        guard var typed = prompt else { return .none }
        switch key {
        case .escape: prompt = nil; return .none
        case .enter:
            prompt = nil
            return typed.purpose == .openImage ? openImage(typed.text) : explainClass(typed.text)
        case .backspace: typed.text = String(typed.text.dropLast())
        case .tab: typed.text = typed.purpose == .openImage ? completePath(typed.text) : completeClass(typed.text)
        case .character(let c): typed.text.append(c)
        default: break
        }
        prompt = typed
        return .none
    }

    private mutating func openImage(_ text: String) -> Effect {
        let path = (text as NSString).expandingTildeInPath
        guard FileManager.default.isReadableFile(atPath: path) else {
            message = "cannot open \(path): no such readable file"
            return .none
        }
        if !imageList.contains(path) { imageList.append(path) }
        images[images.count - 1] = FileStamp.of(path)
        return .infer
    }

    private mutating func explainClass(_ text: String) -> Effect {
        do {
            explainedClass = try loaded.labels.classIndex(text.trimmingCharacters(in: .whitespaces), classes: network.outputCount)
        } catch {
            message = "\(error)"
            return .none
        }
        explaining = true
        return .explain
    }

    /// Completes a class name as far as the names it begins agree (Tab in the `/` prompt).
    private func completeClass(_ text: String) -> String {
        let names = loaded.labels.names.prefix(network.outputCount)
        let matches = names.filter { $0.lowercased().hasPrefix(text.lowercased()) }
        guard var common = matches.first else { return text }
        for name in matches.dropFirst() {
            while !name.lowercased().hasPrefix(common.lowercased()) { common.removeLast() }
        }
        return common.count >= text.count ? common : text
    }

    /// Each layer's time: the warm median when measured, else the first pass's.
    package var layerSeconds: [Double] {
        guard let analysis = analysis(slot: 0) else { return [] }
        if let warm = analysis.timing?.layers, !warm.isEmpty { return warm.map(\.median) }
        return analysis.result?.layerSeconds ?? []
    }
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
