// Stand-in with the API of the core's LayerTiming (branch timing) until it lands.
package struct TimeSummary: Sendable, Equatable {
    package var median: Double, lowerQuartile: Double, upperQuartile: Double
    init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        median = s[s.count / 2]; lowerQuartile = s[s.count / 4]; upperQuartile = s[s.count * 3 / 4]
    }
}
package struct LayerTiming: Sendable, Equatable {
    package private(set) var cold: [Double]?
    package private(set) var passes = 0
    private var samples: [[Double]] = []
    private var totals: [Double] = []
    package init(capacity: Int = 64) {}
    package mutating func record(layerSeconds: [Double]) {
        guard cold != nil else { cold = layerSeconds; samples = layerSeconds.map { _ in [] }; return }
        for (i, s) in layerSeconds.enumerated() { samples[i].append(s) }
        totals.append(layerSeconds.reduce(0, +)); passes += 1
    }
    package var layers: [TimeSummary] { passes > 0 ? samples.map { TimeSummary($0)! } : [] }
    package var total: TimeSummary? { TimeSummary(totals) }
}
