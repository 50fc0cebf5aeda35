import Darknet
import Foundation

/// Runs forward passes on a thread of its own, so the screen never waits for the network.
///
/// Each slot (the left and right image) keeps only its newest request: a new one
/// supersedes any still waiting, and answers to outdated requests are dropped by the caller.
/// The same thread opens the network `m` switches to (a newer switch supersedes an older
/// one still waiting) and, when nothing else waits, runs the networks view one network at
/// a time. Its order: a switch, then the images, then the networks view.
final class InferenceWorker: @unchecked Sendable {
    struct Request {
        var slot: Int
        var path: String
        var network: Network
        var networkVersion: Int
    }

    struct Response {
        var slot: Int
        var path: String
        var networkVersion: Int
        var input: Image?
        var result: ForwardResult?
        var error: String?
    }

    /// Open `cfgPath` from the catalog (for `m`).
    struct LoadRequest {
        var cfgPath: String
        var version: Int
        var catalog: NetworkCatalog
    }

    /// Run the image through every network of the catalog that has weights (for `N`).
    struct ComparisonRequest {
        var version: Int
        var imagePath: String
        var catalog: NetworkCatalog
    }

    enum Update {
        case inference(Response)
        /// The network `m` asked for, or why it could not be opened.
        case loaded(version: Int, cfgPath: String, network: OpenNetwork?, error: String?)
        /// Which networks the networks view runs, before any has run.
        case networksPlanned(version: Int, runs: [NetworkRun], noneTrained: Bool)
        case networkRan(version: Int, index: Int, run: NetworkRun)
    }

    private struct ComparisonJob {
        var request: ComparisonRequest
        var runs: [NetworkRun]?
        var next = 0
    }

    private let condition = NSCondition()
    private var pending: [Int: Request] = [:]
    private var pendingLoad: LoadRequest?
    private var comparison: ComparisonJob?
    private var updates: [Update] = []
    private var stopped = false
    private var finished = false

    init() {
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "darkscope inference"
        thread.start()
    }

    func submit(_ request: Request) {
        locked { pending[request.slot] = request }
    }

    func load(_ request: LoadRequest) {
        locked { pendingLoad = request }
    }

    /// Starts the networks view's runs, abandoning any earlier ones; nil just abandons them.
    func compare(_ request: ComparisonRequest?) {
        locked { comparison = request.map { ComparisonJob(request: $0) } }
    }

    func takeUpdates() -> [Update] {
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

    /// Stops the thread and waits for it to finish the pass under way: exiting while it is
    /// inside OpenBLAS deadlocks OpenBLAS's exit-time clean-up.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func publish(_ update: Update) {
        locked { updates.append(update) }
    }

    private func loop() {
        var predictor: Predictor?
        var version = -1
        while true {
            condition.lock()
            while pending.isEmpty && pendingLoad == nil && comparison == nil && !stopped { condition.wait() }
            if stopped {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            if let load = pendingLoad {
                pendingLoad = nil
                condition.unlock()
                do {
                    let opened = try load.catalog.open(load.cfgPath)
                    publish(.loaded(version: load.version, cfgPath: load.cfgPath, network: opened, error: nil))
                } catch {
                    publish(.loaded(version: load.version, cfgPath: load.cfgPath, network: nil, error: "\(error)"))
                }
                continue
            }
            if let key = pending.keys.min() {
                let request = pending.removeValue(forKey: key)!
                condition.unlock()
                if version != request.networkVersion || predictor == nil {
                    predictor = Predictor(network: request.network)
                    version = request.networkVersion
                }
                publish(.inference(InferenceWorker.infer(request, predictor: predictor!)))
                continue
            }
            let job = comparison!
            condition.unlock()
            compareStep(job)
        }
    }

    private static func infer(_ request: Request, predictor: Predictor) -> Response {
        var response = Response(slot: request.slot, path: request.path, networkVersion: request.networkVersion)
        do {
            let image = try request.network.letterboxedInput(from: request.path)
            response.input = image
            response.result = try predictor.forward(image.values)
        } catch {
            response.error = "\(error)"
        }
        return response
    }

    /// One step of the networks view: find which networks have weights, or run the next one.
    private func compareStep(_ job: ComparisonJob) {
        let version = job.request.version
        guard let runs = job.runs else {
            let (planned, noneTrained) = InferenceWorker.plan(job.request.catalog)
            locked {
                guard comparison?.request.version == version else { return }
                comparison?.runs = planned
                if planned.isEmpty { comparison = nil }
                updates.append(.networksPlanned(version: version, runs: planned, noneTrained: noneTrained))
            }
            return
        }
        let run = InferenceWorker.run(runs[job.next], image: job.request.imagePath, catalog: job.request.catalog)
        locked {
            guard comparison?.request.version == version else { return }
            comparison?.next += 1
            if job.next + 1 >= runs.count { comparison = nil }
            updates.append(.networkRan(version: version, index: job.next, run: run))
        }
    }

    /// The networks with weights found; when none has any, every network, on random weights.
    static func plan(_ catalog: NetworkCatalog) -> (runs: [NetworkRun], noneTrained: Bool) {
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

    /// One network's top-5 for the image, and the time of a forward pass after a warm-up one.
    static func run(_ planned: NetworkRun, image path: String, catalog: NetworkCatalog) -> NetworkRun {
        var run = planned
        guard run.error == nil else { return run }
        do {
            let opened = try catalog.open(run.cfgPath)
            run.untrained = opened.weightsPath == nil
            let network = opened.network
            let image = try network.letterboxedInput(from: path)
            let predictor = Predictor(network: network)
            _ = try predictor.forward(image.values, keepingLayerOutputs: false)
            let result = try predictor.forward(image.values, keepingLayerOutputs: false)
            run.milliseconds = result.totalSeconds * 1000
            run.predictions = opened.labels.top(5, of: result.prediction())
        } catch {
            run.error = "\(error)"
        }
        return run
    }
}
