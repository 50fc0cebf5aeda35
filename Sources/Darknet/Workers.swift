import Foundation
import Synchronization

/// The threads a predictor's parallel loops run on: the caller and `count - 1` workers.
///
/// Each worker always takes the same part of every loop, so that a thread mostly reads what
/// it wrote itself in the layer before, from its own core's cache (Dispatch hands parts to
/// whichever thread asks first). Between loops the workers spin, since layers follow each
/// other within microseconds and waking a sleeping thread takes about 7 µs here; after
/// `spin` without work, or once told to `rest()` (a forward pass is over), they sleep until
/// the next loop. Waiting threads yield their processor to any other thread that wants it
/// (OpenBLAS's own spin for the first 100 ms of a process; a `classify` took twice as long
/// while ours spun without yielding).
final class Workers: @unchecked Sendable {
    let count: Int
    private let generation = Atomic<Int>(0)
    private let unfinished = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let resting = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var parts = 0
    private var body: ((Int) -> Void)?
    private static let spin: UInt64 = 2_000_000

    init(count: Int) {
        self.count = max(count, 1)
        for part in 1..<self.count {
            // Each worker holds the pool until `stop()`.
            Thread { self.serve(part: part) }.start()
        }
    }

    /// Ends the workers once they finish the loop at hand.
    func stop() {
        condition.lock()
        stopping.store(true, ordering: .releasing)
        generation.add(1, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
    }

    /// Lets the workers sleep now rather than spin, until the next loop.
    func rest() {
        resting.store(true, ordering: .releasing)
    }

    /// Runs `body(part)` for every part in `0..<parts` (at most `count`), part 0 on the caller.
    func run(parts: Int, _ body: (Int) -> Void) {
        precondition(parts <= count, "more parts than threads")
        guard parts > 1 else { return body(0) }
        withoutActuallyEscaping(body) { body in
            self.body = body
            self.parts = parts
            unfinished.store(count - 1, ordering: .relaxed)
            resting.store(false, ordering: .relaxed)
            condition.lock()
            generation.add(1, ordering: .releasing)
            condition.broadcast()
            condition.unlock()
            body(0)
            while unfinished.load(ordering: .acquiring) > 0 { sched_yield() }
            self.body = nil
        }
    }

    private func serve(part: Int) {
        var seen = 0
        while true {
            var current = generation.load(ordering: .acquiring)
            let deadline = DispatchTime.now().uptimeNanoseconds + Self.spin
            while current == seen && !resting.load(ordering: .acquiring) && DispatchTime.now().uptimeNanoseconds < deadline {
                sched_yield()
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                condition.lock()
                while generation.load(ordering: .acquiring) == seen { condition.wait() }
                condition.unlock()
                current = generation.load(ordering: .acquiring)
            }
            if stopping.load(ordering: .acquiring) { return }
            seen = current
            if part < parts { body?(part) }
            unfinished.subtract(1, ordering: .releasing)
        }
    }
}
