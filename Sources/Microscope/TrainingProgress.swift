import Darknet
import Foundation

/// Why a training run stopped before its last batch.
public enum TrainingStop: Equatable, Sendable {
    /// SIGINT (Ctrl-C), SIGTERM or SIGHUP.
    case signal(Int32)
    /// The user pressed q.
    case quitKey
}

/// What the live training view shows, from the batches reported so far: the loss curve,
/// progress, speed and time left, validations, the last batch's images. Pure: times are given.
public struct TrainingProgress: Sendable {
    /// What is trained on what, for the title.
    public let title: String
    public let labels: [String]
    /// The batch the run ends at, and the batches done when it began (a resumed run's).
    public let lastBatch: Int, firstBatch: Int
    /// Each batch's loss and Darknet's running average, in order.
    public private(set) var losses: [Float] = [], averages: [Float] = []
    public private(set) var last: BatchReport?
    /// Each validation: the epoch it followed, top-1 and top-k in [0, 1], images.
    public private(set) var validations: [(epoch: Int, top1: Double, topK: Double, k: Int, images: Int)] = []
    /// Images that could not be read, latest last.
    public private(set) var skipped: [String] = []
    /// Set once a stop was asked for: the batch under way finishes first.
    public var stopping: TrainingStop?
    /// When each recent batch was reported, and the images seen then, for the speed.
    private var recent: [(time: TimeInterval, seen: UInt64, batch: Int)] = []

    /// Batches the speed is measured over.
    static let speedWindow = 20

    public init(title: String, labels: [String], lastBatch: Int, firstBatch: Int, seen: UInt64, at time: TimeInterval) {
        self.title = title
        self.labels = labels
        self.lastBatch = lastBatch
        self.firstBatch = firstBatch
        recent = [(time, seen, firstBatch)]
    }

    public mutating func accept(_ report: BatchReport, at time: TimeInterval) {
        losses.append(report.loss)
        averages.append(report.averageLoss)
        skipped += report.skipped
        if let validation = report.validation {
            validations.append((Int(report.epoch.rounded(.down)), validation.top1Accuracy, validation.topKAccuracy,
                                validation.k, validation.images))
        }
        last = report
        recent.append((time, report.seen, report.batch))
        if recent.count > TrainingProgress.speedWindow + 1 { recent.removeFirst(recent.count - TrainingProgress.speedWindow - 1) }
    }

    /// Batches done, as Darknet counts them.
    public var batch: Int { last?.batch ?? firstBatch }

    /// The part of this run's batches done, in [0, 1].
    public var fraction: Double {
        let total = lastBatch - firstBatch
        return total > 0 ? min(1, max(0, Double(batch - firstBatch) / Double(total))) : 1
    }

    /// Images trained per second over the last batches; nil before the first.
    public var imagesPerSecond: Double? {
        guard let first = recent.first, let latest = recent.last, latest.time > first.time, latest.seen > first.seen else { return nil }
        return Double(latest.seen - first.seen) / (latest.time - first.time)
    }

    /// Seconds left at the recent speed.
    public var secondsLeft: Double? {
        guard let first = recent.first, let latest = recent.last, latest.time > first.time, latest.batch > first.batch else { return nil }
        return (latest.time - first.time) / Double(latest.batch - first.batch) * Double(max(lastBatch - latest.batch, 0))
    }

    /// The progress line: batches, a bar, percent, time left, epoch, speed, rate.
    public func progressLine(width: Int, unicode: Bool) -> String {
        let percent = String(format: "%3.0f%%", fraction * 100)
        var after = "  \(percent)"
        if let left = secondsLeft { after += "  ETA \(TrainingProgress.duration(left))" }
        if let last { after += String(format: "  epoch %.2f", last.epoch) }
        if let speed = imagesPerSecond { after += String(format: "  %.0f img/s", speed) }
        if let last { after += String(format: "  rate %g", last.rate) }
        let before = "batch \(batch)/\(lastBatch) "
        let room = max(10, min(40, width - before.count - after.count))
        return before + TrainingProgress.bar(fraction, width: room, unicode: unicode) + after
    }

    /// The loss line.
    public var lossLine: String {
        let resumed = firstBatch > 0 ? "   resumed at batch \(firstBatch)" : ""
        guard let last else { return "loss: waiting for the first batch" + resumed }
        return String(format: "loss %.6f   avg loss %.6f   %llu images seen", last.loss, last.averageLoss, last.seen) + resumed
    }

    /// The validation lines, latest first.
    public var validationLines: [String] {
        validations.reversed().map { v in
            String(format: "validation after epoch %d: top-1 %.1f%%  top-%d %.1f%%  (%d images)", v.epoch, v.top1 * 100, v.k, v.topK * 100, v.images)
        }
    }

    /// A sample's caption: its label and, when wrong, the guess.
    public func caption(_ sample: TrainingSample, unicode: Bool) -> String {
        let name = { (index: Int) in index < labels.count ? labels[index] : "\(index)" }
        return sample.guess == sample.label ? "\(unicode ? "✓" : "ok") \(name(sample.label))" : "\(unicode ? "✗" : "x") \(name(sample.label))\(unicode ? "→" : ">")\(name(sample.guess))"
    }

    /// `[████░░░░]`, or `[####....]` in ASCII.
    static func bar(_ fraction: Double, width: Int, unicode: Bool) -> String {
        let inside = max(width - 2, 1), filled = Int((fraction * Double(inside)).rounded(.down))
        let (full, empty) = unicode ? ("█", "░") : ("#", ".")
        return "[" + String(repeating: full, count: filled) + String(repeating: empty, count: inside - filled) + "]"
    }

    /// 0:07, 12:34, 1:02:03.
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded()), h = total / 3600, m = total / 60 % 60, s = total % 60
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
    }
}
