// Stand-in until the core's LayerTiming lands (branch timing).
package struct LayerTiming: Sendable {
    package var cold: [Double]
    private var samples: [[Double]] = []
    package init(cold: [Double]) { self.cold = cold }
    package mutating func add(_ seconds: [Double]) { samples.append(seconds) }
    package var warmPasses: Int { samples.count }
    package var medians: [Double] {
        cold.indices.map { i in let s = samples.map { $0[i] }.sorted(); return s.isEmpty ? cold[i] : s[s.count / 2] }
    }
    package var totalMedian: Double {
        let s = samples.map { $0.reduce(0, +) }.sorted(); return s.isEmpty ? cold.reduce(0, +) : s[s.count / 2]
    }
}
