import Darknet
import Foundation

/// Runs forward passes on a thread of its own, so the screen never waits for the network.
///
/// Each slot (the left and right image) keeps only its newest request: a new one
/// supersedes any still waiting, and answers to outdated requests are dropped by the caller.
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

    private let condition = NSCondition()
    private var pending: [Int: Request] = [:]
    private var responses: [Response] = []
    private var stopped = false

    init() {
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "darkscope inference"
        thread.start()
    }

    func submit(_ request: Request) {
        condition.lock()
        pending[request.slot] = request
        condition.signal()
        condition.unlock()
    }

    func takeResponses() -> [Response] {
        condition.lock()
        defer { responses = []; condition.unlock() }
        return responses
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        var predictor: Predictor?
        var version = -1
        while true {
            condition.lock()
            while pending.isEmpty && !stopped { condition.wait() }
            if stopped { condition.unlock(); return }
            let request = pending.removeValue(forKey: pending.keys.min()!)!
            condition.unlock()
            if version != request.networkVersion || predictor == nil {
                predictor = Predictor(network: request.network)
                version = request.networkVersion
            }
            var response = Response(slot: request.slot, path: request.path, networkVersion: request.networkVersion)
            do {
                let network = request.network
                let image = try Image(contentsOf: request.path).letterboxed(width: network.input.width, height: network.input.height)
                response.input = image
                response.result = try predictor!.forward(image.values)
            } catch {
                response.error = "\(error)"
            }
            condition.lock()
            responses.append(response)
            condition.unlock()
        }
    }
}
