import Darknet
import Foundation

/// Runs networks on a thread of its own, so the screen never waits for them.
///
/// Each slot (the left and right image) keeps only its newest request: a new one
/// supersedes any still waiting. Every answer carries the key it was computed for, and the
/// state shows it only while that key is current. The same thread opens networks (a newer
/// opening supersedes an older one still waiting), runs the networks view one network at a
/// time, and, when nothing else waits and the user has not acted for a moment, times warm
/// passes of the first image for the layer table. Its order: an opening, the images, the
/// networks view, timing.
package final class InferenceWorker: @unchecked Sendable {
    package struct Request: Sendable {
        package var slot: Int
        package var key: SubjectKey
        package var network: Network

        package init(slot: Int, key: SubjectKey, network: Network) {
            self.slot = slot
            self.key = key
            self.network = network
        }
    }

    /// Explain an image: an attribution map of the network, for the explorer's maps pane.
    package struct ExplanationRequest: Sendable {
        package var slot: Int
        package var key: ExplanationKey
        package var network: Network

        package init(slot: Int, key: ExplanationKey, network: Network) {
            self.slot = slot
            self.key = key
            self.network = network
        }
    }

    /// Pictures of what channels look for, in order; a newer request supersedes it, even under way.
    package struct FeatureRequest: Sendable {
        package var keys: [FeatureKey]
        package var network: Network
        package var weightsPath: String?

        package init(keys: [FeatureKey], network: Network, weightsPath: String?) {
            self.keys = keys
            self.network = network
            self.weightsPath = weightsPath
        }
    }

    /// A channel's dataset examples, indexing the folder first if need be.
    package struct ExamplesRequest: Sendable {
        package var key: ExamplesKey
        package var network: Network
        package var weightsPath: String?

        package init(key: ExamplesKey, network: Network, weightsPath: String?) {
            self.key = key
            self.network = network
            self.weightsPath = weightsPath
        }
    }

    package enum Update: Sendable {
        case analysis(Analysis)
        /// What a channel looks for, or why it could not be drawn.
        case feature(FeatureKey, Image?, error: String?)
        /// A picture under way: the steps done.
        case featureStep(FeatureKey, Int)
        case examples(ChannelExamples)
        /// An explanation, finished or (with its progress) under way.
        case explanation(Explanation)
        /// Warm passes' times of an analysis, refined.
        case timing(SubjectKey, LayerTiming)
        /// The network asked for, or why it could not be opened.
        case loaded(cfgPath: String, network: OpenNetwork?, error: String?)
        /// Which networks the networks view runs, before any has run.
        case networksPlanned(image: FileStamp, runs: [NetworkRun], noneTrained: Bool)
        case networkRan(image: FileStamp, index: Int, run: NetworkRun)
    }

    /// Warm passes measured per analysis; then the worker rests.
    package static let timedPasses = 31
    /// How long after a key the worker waits before timing again, so timing passes neither
    /// slow the screen nor are slowed by it.
    package static let quietAfterKey: TimeInterval = 0.4

    private struct Comparison {
        var image: FileStamp
        var catalog: NetworkCatalog
        /// Run as it is open (and on the worker's predictor), not read a second time beside itself.
        var onScreen: OpenNetwork?
        var runs: [NetworkRun]?
        var next = 0
    }

    private struct TimingJob {
        var key: SubjectKey
        var input: [Float]
        var timing: LayerTiming
    }

    private let condition = NSCondition()
    private var pending: [Int: Request] = [:]
    private var pendingExplanations: [Int: ExplanationRequest] = [:]
    private var pendingLoad: (cfgPath: String, catalog: NetworkCatalog)?
    private var pendingFeatures: FeatureRequest?
    private var pendingExamples: ExamplesRequest?
    private var comparison: Comparison?
    private var timingJob: TimingJob?
    private var quietUntil = Date.distantPast
    private var updates: [Update] = []
    private var stopped = false
    private var finished = false
    private let threads: Int?

    /// `threads` for each forward pass (default: the processors available).
    package init(threads: Int? = nil) {
        self.threads = threads
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "darkscope inference"
        thread.start()
    }

    package func submit(_ request: Request) {
        locked {
            pending[request.slot] = request
            if request.slot == 0 { timingJob = nil }
        }
    }

    /// Asks for an explanation; a newer one for the same slot supersedes it, even under way.
    package func explain(_ request: ExplanationRequest) {
        locked { pendingExplanations[request.slot] = request }
    }

    package func visualize(_ request: FeatureRequest) {
        locked { pendingFeatures = request.keys.isEmpty ? nil : request }
    }

    package func examples(_ request: ExamplesRequest) {
        locked { pendingExamples = request }
    }

    package func load(_ cfgPath: String, catalog: NetworkCatalog) {
        locked { pendingLoad = (cfgPath, catalog) }
    }

    /// Starts the networks view's runs on an image, abandoning any earlier ones; nil just abandons them.
    package func compare(image: FileStamp?, catalog: NetworkCatalog, onScreen: OpenNetwork?) {
        locked { comparison = image.map { Comparison(image: $0, catalog: catalog, onScreen: onScreen) } }
    }

    /// The user acted: timing waits until the screen has been quiet for a moment.
    package func userActed() {
        locked { quietUntil = Date().addingTimeInterval(InferenceWorker.quietAfterKey) }
    }

    package func takeUpdates() -> [Update] {
        locked {
            defer { updates = [] }
            return updates
        }
    }

    /// Runs `body` holding the lock, then wakes the waiting thread to look at what changed.
    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        return body()
    }

    /// Asks the thread to stop and waits up to `seconds` for it to finish the pass under way;
    /// false when it is still inside one (the caller then exits without the C library's
    /// exit-time clean-up, which deadlocks with OpenBLAS in use on another thread).
    package func stop(waitingAtMost seconds: TimeInterval) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        stopped = true
        condition.broadcast()
        let deadline = Date().addingTimeInterval(seconds)
        while !finished {
            if !condition.wait(until: deadline) { return finished }
        }
        return true
    }

    private func publish(_ update: Update) {
        locked { updates.append(update) }
    }

    private enum Job {
        case load(String, NetworkCatalog)
        case analyse(Request)
        case explain(ExplanationRequest)
        case examples(ExamplesRequest)
        case visualize(FeatureRequest)
        case compare(Comparison)
        case time(TimingJob)
        case stop
    }

    /// The next job, waiting while there is none (timing waits for a quiet screen).
    private func nextJob() -> Job {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if stopped {
                finished = true
                condition.broadcast()
                return .stop
            }
            if let load = pendingLoad {
                pendingLoad = nil
                return .load(load.cfgPath, load.catalog)
            }
            if let slot = pending.keys.min() { return .analyse(pending.removeValue(forKey: slot)!) }
            if let slot = pendingExplanations.keys.min() { return .explain(pendingExplanations.removeValue(forKey: slot)!) }
            if let request = pendingExamples {
                pendingExamples = nil
                return .examples(request)
            }
            if let request = pendingFeatures {
                pendingFeatures = nil
                return .visualize(request)
            }
            if let comparison { return .compare(comparison) }
            if let timingJob, timingJob.timing.passes < InferenceWorker.timedPasses {
                if Date() >= quietUntil { return .time(timingJob) }
                _ = condition.wait(until: quietUntil)  // woken early or not, the loop looks again
                continue
            }
            condition.wait()
        }
    }

    private func loop() {
        var predictor: (key: NetworkKey, predictor: Predictor)?
        var attributor: (key: NetworkKey, attributor: Attributor)?
        func attributorFor(_ request: ExplanationRequest) -> Attributor {
            if let attributor, attributor.key == request.key.subject.network { return attributor.attributor }
            attributor = nil
            let made = Attributor(network: request.network, threads: threads)
            attributor = (request.key.subject.network, made)
            return made
        }
        func predictorFor(_ request: Request) -> Predictor {
            if let predictor, predictor.key == request.key.network { return predictor.predictor }
            predictor = nil  // the old one's arena goes before the new one's is made
            let made = Predictor(network: request.network, threads: threads)
            predictor = (request.key.network, made)
            return made
        }
        var channels: ChannelWork?
        while true {
            switch nextJob() {
            case .stop: return
            case let .visualize(request):
                visualize(request, work: &channels)
            case let .examples(request):
                examples(request, work: &channels)
            case let .load(cfgPath, catalog):
                // What the worker keeps belongs to the network on screen, which this opening
                // replaces: kept, an earlier CSPDarknet-53's 330 MB of weights and its arenas
                // would stay beside the new one's.
                predictor = nil
                attributor = nil
                channels = nil
                locked { timingJob = nil }
                do {
                    publish(.loaded(cfgPath: cfgPath, network: try catalog.open(cfgPath), error: nil))
                } catch {
                    publish(.loaded(cfgPath: cfgPath, network: nil, error: "\(error)"))
                }
            case let .analyse(request):
                let (analysis, input) = analyse(request, predictor: predictorFor(request))
                publish(.analysis(analysis))
                if request.slot == 0, let input, let result = analysis.result {
                    locked {
                        if pending[0] == nil {
                            var timing = LayerTiming()
                            timing.record(layerSeconds: result.layerSeconds)
                            timingJob = TimingJob(key: request.key, input: input, timing: timing)
                        }
                    }
                }
            case let .explain(request):
                if let explanation = explain(request, attributor: attributorFor(request)) { publish(.explanation(explanation)) }
            case let .compare(job):
                compareStep(job) { opened in
                    if let predictor, predictor.key == opened.key { return predictor.predictor }
                    return Predictor(network: opened.network, threads: threads)
                }
            case let .time(job):
                guard let predictor, predictor.key == job.key.network,
                      let seconds = try? predictor.predictor.layerSeconds(job.input) else {
                    locked { timingJob = nil }
                    continue
                }
                var timing = job.timing
                timing.record(layerSeconds: seconds)
                let update = timing
                locked {
                    guard timingJob?.key == job.key else { return }
                    timingJob?.timing = update
                    // Every few passes: each update redraws the screen, which would take
                    // a core from the passes it times.
                    if update.passes % 8 == 0 || update.passes == InferenceWorker.timedPasses {
                        updates.append(.timing(job.key, update))
                    }
                }
            }
        }
    }

    private func analyse(_ request: Request, predictor: Predictor) -> (Analysis, [Float]?) {
        var analysis = Analysis(key: request.key)
        do {
            let image = try request.network.letterboxedInput(from: request.key.image.path)
            analysis.input = image
            analysis.result = try predictor.forward(image.values)
            return (analysis, image.values)
        } catch {
            analysis.error = "\(error)"
            return (analysis, nil)
        }
    }

    /// Computes an explanation, telling its progress every tenth of a second. It gives way
    /// between passes to anything more urgent: a newer explanation for its slot supersedes it
    /// (nil), an analysis or an opening puts it back in the queue to start again after them.
    private func explain(_ request: ExplanationRequest, attributor: Attributor) -> Explanation? {
        var explanation = Explanation(key: request.key)
        var lastReport = Date.distantPast
        var superseded = false
        do {
            let network = request.network
            let original = try network.originalImage(from: request.key.subject.image.path)
            let input = original.letterboxed(width: network.input.width, height: network.input.height)
            explanation.map = try attributor.map(request.key.request, input: input, letterbox: network.letterbox(for: original)) { progress in
                let (proceed, wanted) = locked { () -> (Bool, Bool) in
                    let newer = pendingExplanations[request.slot] != nil
                    return (!stopped && !newer && pending.isEmpty && pendingLoad == nil, !newer)
                }
                if !proceed {
                    superseded = !wanted
                    return false
                }
                if Date().timeIntervalSince(lastReport) > 0.1 {
                    lastReport = Date()
                    publish(.explanation(Explanation(key: request.key, progress: progress)))
                }
                return true
            }
            explanation.image = original
        } catch is CancellationError {
            if !superseded { locked { if pendingExplanations[request.slot] == nil { pendingExplanations[request.slot] = request } } }
            return nil
        } catch {
            explanation.error = "\(error)"
        }
        return explanation
    }

    /// What the channel views keep between jobs, for one network: its visualizer, its cache of
    /// pictures, and the last folder indexed.
    private struct ChannelWork {
        var key: NetworkKey
        var visualizer: FeatureVisualizer
        var pictures: FeaturePictures?
        var index: (folder: String, index: ChannelIndex)?
    }

    private func channelWork(_ work: inout ChannelWork?, key: NetworkKey, network: Network, weightsPath: String?) -> ChannelWork {
        if let work, work.key == key { return work }
        work = nil
        let made = ChannelWork(key: key, visualizer: FeatureVisualizer(network: network, threads: threads),
                               pictures: try? FeaturePictures(network: network, weightsPath: weightsPath))
        work = made
        return made
    }

    /// Whether a channel job should give way: to a newer request of its kind (`superseded`),
    /// or to an analysis, an explanation or an opening, after which it starts again.
    private func shouldYield(superseded: () -> Bool) -> (yield: Bool, superseded: Bool) {
        locked {
            let newer = superseded()
            return (stopped || newer || !pending.isEmpty || !pendingExplanations.isEmpty || pendingLoad != nil, newer)
        }
    }

    /// The first picture of the request, from the disk cache or computed (its steps told
    /// every tenth of a second); the rest goes back in the queue, so that every other job
    /// comes first between two channels.
    private func visualize(_ request: FeatureRequest, work: inout ChannelWork?) {
        guard let key = request.keys.first else { return }
        let made = channelWork(&work, key: key.network, network: request.network, weightsPath: request.weightsPath)
        var remaining = request
        remaining.keys.removeFirst()
        if let stored = made.pictures?.stored(layer: key.layer, channel: key.channel) {
            publish(.feature(key, stored, error: nil))
        } else {
            var lastReport = Date.distantPast, superseded = false
            do {
                let picture = try made.visualizer.pictures(for: [.channelMean(layer: key.layer, channel: key.channel)]) { step in
                    let answer = shouldYield { pendingFeatures != nil }
                    if answer.yield {
                        superseded = answer.superseded
                        throw CancellationError()
                    }
                    if Date().timeIntervalSince(lastReport) > 0.1 {
                        lastReport = Date()
                        publish(.featureStep(key, step))
                    }
                }[0]
                made.pictures?.store(picture, layer: key.layer, channel: key.channel)
                publish(.feature(key, picture, error: nil))
            } catch is CancellationError {
                if !superseded { locked { if pendingFeatures == nil { pendingFeatures = request } } }
                return
            } catch {
                publish(.feature(key, nil, error: "\(error)"))
            }
        }
        if !remaining.keys.isEmpty { locked { if pendingFeatures == nil { pendingFeatures = remaining } } }
    }

    /// A channel's examples: from the index kept for the folder, else after indexing it
    /// (telling its progress; an interrupted indexing keeps what it did in the cache).
    private func examples(_ request: ExamplesRequest, work: inout ChannelWork?) {
        let key = request.key
        _ = channelWork(&work, key: key.network, network: request.network, weightsPath: request.weightsPath)
        if work?.index?.folder != key.folder {
            var lastReport = Date.distantPast, superseded = false
            do {
                let indexer = try ChannelIndexer(network: request.network, weights: request.weightsPath, folder: key.folder,
                                                 cache: Caches.folder("index"), threads: threads)
                let update = try indexer.update { done, total in
                    let answer = shouldYield { pendingExamples.map { $0.key.network != key.network || $0.key.folder != key.folder } ?? false }
                    if answer.yield {
                        superseded = answer.superseded
                        throw CancellationError()
                    }
                    if Date().timeIntervalSince(lastReport) > 0.1 {
                        lastReport = Date()
                        var progress = ChannelExamples(key: key)
                        progress.progress = (done, total)
                        publish(.examples(progress))
                    }
                }
                work?.index = (key.folder, update.index)
            } catch is CancellationError {
                if !superseded { locked { if pendingExamples == nil { pendingExamples = request } } }
                return
            } catch {
                var failed = ChannelExamples(key: key)
                failed.error = "\(error)"
                publish(.examples(failed))
                return
            }
        }
        guard let index = work?.index?.index else { return }
        publish(.examples(ChannelExamples(key: key, index: index, network: request.network)))
    }

    /// One step of the networks view: find which networks have weights, or run the next one
    /// on the predictor `predictor` gives for it.
    private func compareStep(_ job: Comparison, predictor: (OpenNetwork) -> Predictor) {
        guard let runs = job.runs else {
            let (planned, noneTrained) = InferenceWorker.plan(job.catalog)
            locked {
                guard comparison?.image == job.image else { return }
                comparison?.runs = planned
                if planned.isEmpty { comparison = nil }
                updates.append(.networksPlanned(image: job.image, runs: planned, noneTrained: noneTrained))
            }
            return
        }
        let planned = runs[job.next]
        let onScreen = job.onScreen.flatMap {
            NetworkCatalog.identity($0.key.cfg.path) == NetworkCatalog.identity(planned.cfgPath) ? $0 : nil
        }
        let run = InferenceWorker.run(planned, image: job.image.path, predictor: predictor) { try onScreen ?? job.catalog.open($0) }
        locked {
            guard comparison?.image == job.image else { return }
            comparison?.next += 1
            if job.next + 1 >= runs.count { comparison = nil }
            updates.append(.networkRan(image: job.image, index: job.next, run: run))
        }
    }

    /// The networks with weights found; when none has any, every network, on random weights.
    package static func plan(_ catalog: NetworkCatalog) -> (runs: [NetworkRun], noneTrained: Bool) {
        var trained: [NetworkRun] = [], all: [NetworkRun] = []
        for cfg in catalog.cfgs {
            let name = URL(fileURLWithPath: cfg).lastPathComponent
            do {
                let network = try Network(cfg: cfg)
                let weights = try catalog.findWeights(network)
                let run = NetworkRun(cfgPath: cfg, name: name, untrained: weights == nil)
                all.append(run)
                if weights != nil { trained.append(run) }
            } catch {
                all.append(NetworkRun(cfgPath: cfg, name: name, untrained: true, error: "\(error)"))
            }
        }
        return trained.isEmpty ? (all, true) : (trained, false)
    }

    /// One network's top-5 for the image, and the median time of warm forward passes: the
    /// network `open` gives for its cfg, on the predictor `predictor` gives for it.
    package static func run(_ planned: NetworkRun, image path: String, predictor: (OpenNetwork) -> Predictor,
                            open: (String) throws -> OpenNetwork) -> NetworkRun {
        var run = planned
        guard run.error == nil else { return run }
        do {
            let opened = try open(run.cfgPath)
            run.untrained = opened.weightsPath == nil
            let network = opened.network
            let image = try network.letterboxedInput(from: path)
            let predictor = predictor(opened)
            var result = try predictor.forward(image.values, keepingLayerOutputs: false)
            var timing = LayerTiming()
            timing.record(layerSeconds: result.layerSeconds)
            for _ in 0..<5 {
                result = try predictor.forward(image.values, keepingLayerOutputs: false)
                timing.record(layerSeconds: result.layerSeconds)
            }
            run.milliseconds = (timing.total?.median ?? 0) * 1000
            run.predictions = opened.labels.top(5, of: result.prediction())
        } catch {
            run.error = "\(error)"
        }
        return run
    }
}
