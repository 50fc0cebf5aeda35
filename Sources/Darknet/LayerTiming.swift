/// The median, quartiles and extremes of a series of times, in seconds.
public struct TimeSummary: Sendable, Equatable {
    public var median: Double
    public var lowerQuartile: Double
    public var upperQuartile: Double
    public var minimum: Double
    public var maximum: Double
    public var count: Int

    /// The middle half's width: the spread that one slow pass (a preemption) does not widen.
    public var interquartileRange: Double { upperQuartile - lowerQuartile }

    /// Nil for no values.
    public init?(_ values: some Collection<Double>) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        median = Self.quantile(sorted, 0.5)
        lowerQuartile = Self.quantile(sorted, 0.25)
        upperQuartile = Self.quantile(sorted, 0.75)
        minimum = sorted[0]
        maximum = sorted[sorted.count - 1]
        count = sorted.count
    }

    /// Interpolated between the two nearest ranks, so that the median of an even count is
    /// the mean of the middle two (`x * 0.5 + y * 0.5` is `(x + y) / 2` exactly).
    private static func quantile(_ sorted: [Double], _ p: Double) -> Double {
        let rank = p * Double(sorted.count - 1)
        let low = Int(rank), fraction = rank - Double(low)
        guard fraction > 0 else { return sorted[low] }
        return sorted[low] * (1 - fraction) + sorted[low + 1] * fraction
    }
}

/// A predictor's per-layer times over many passes, as steady-state numbers: the median and
/// spread of each layer's warm passes and of their totals. The first pass recorded is the
/// cold one (caches, branch predictors and sleeping threads not yet warm): it is kept apart
/// as `cold` and never enters the summaries. Only the last `capacity` warm passes are held,
/// so a timing refined for as long as a user looks stays small.
///
/// Feed it `ForwardResult`s of one network in one mode (`keepingLayerOutputs` alike): a
/// pass that keeps outputs times differently from one that shares their places.
public struct LayerTiming: Sendable, Equatable {
    public let capacity: Int
    /// The cold pass's seconds per layer; nil before any pass.
    public private(set) var cold: [Double]?
    /// Warm passes recorded, including those no longer held.
    public private(set) var passes = 0
    /// `samples[layer][slot]`: one slot per held warm pass, overwritten oldest first.
    private var samples: [[Double]] = []
    private var totals: [Double] = []
    private var oldest = 0

    public init(capacity: Int = 64) {
        precondition(capacity > 0, "a timing holds at least one pass")
        self.capacity = capacity
    }

    /// The cold pass's total seconds.
    public var coldTotal: Double? { cold?.reduce(0, +) }

    /// Warm passes held: `min(passes, capacity)`.
    public var count: Int { totals.count }

    /// The layers timed (from the cold pass); 0 before any pass.
    public var layerCount: Int { cold?.count ?? 0 }

    public mutating func record(_ result: ForwardResult) {
        record(layerSeconds: result.layerSeconds)
    }

    /// Records one pass's seconds per layer (`ForwardResult.layerSeconds`); the first is the cold pass.
    public mutating func record(layerSeconds: [Double]) {
        guard let cold else {
            cold = layerSeconds
            samples = layerSeconds.map { _ in [] }
            return
        }
        precondition(layerSeconds.count == cold.count, "a pass of \(layerSeconds.count) layers recorded in a timing of \(cold.count)")
        let total = layerSeconds.reduce(0, +)
        if totals.count < capacity {
            totals.append(total)
            for (layer, seconds) in layerSeconds.enumerated() { samples[layer].append(seconds) }
        } else {
            totals[oldest] = total
            for (layer, seconds) in layerSeconds.enumerated() { samples[layer][oldest] = seconds }
            oldest = (oldest + 1) % capacity
        }
        passes += 1
    }

    /// Layer `index`'s warm times; nil before a warm pass (or past the last layer).
    public func layer(_ index: Int) -> TimeSummary? { samples.indices.contains(index) ? TimeSummary(samples[index]) : nil }

    /// Every layer's warm times, in the network's order; empty before a warm pass.
    public var layers: [TimeSummary] { count > 0 ? samples.map { TimeSummary($0)! } : [] }

    /// The warm passes' totals (their own median, not the sum of the layers' medians).
    public var total: TimeSummary? { TimeSummary(totals) }
}
