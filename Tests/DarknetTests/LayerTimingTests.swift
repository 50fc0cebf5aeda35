import Darknet
import XCTest

final class LayerTimingTests: XCTestCase {
    func testSummaryOfAnOddAndAnEvenCount() throws {
        let odd = try XCTUnwrap(TimeSummary([5, 1, 4, 2, 3]))
        XCTAssertEqual(odd.median, 3)
        XCTAssertEqual(odd.lowerQuartile, 2)
        XCTAssertEqual(odd.upperQuartile, 4)
        XCTAssertEqual(odd.interquartileRange, 2)
        XCTAssertEqual(odd.minimum, 1)
        XCTAssertEqual(odd.maximum, 5)
        XCTAssertEqual(odd.count, 5)

        let even = try XCTUnwrap(TimeSummary([0.4, 0.1, 0.3, 0.2]))
        XCTAssertEqual(even.median, (0.2 + 0.3) / 2)
        XCTAssertEqual(even.lowerQuartile, 0.175, accuracy: 1e-15)
        XCTAssertEqual(even.upperQuartile, 0.325, accuracy: 1e-15)
        XCTAssertNil(TimeSummary([Double]()))
    }

    func testTheFirstPassIsColdAndNeverInTheMedians() throws {
        var timing = LayerTiming()
        XCTAssertNil(timing.cold)
        XCTAssertNil(timing.total)
        XCTAssertEqual(timing.layers, [])
        XCTAssertNil(timing.layer(0))

        timing.record(layerSeconds: [0.015, 0.030])
        XCTAssertEqual(timing.cold, [0.015, 0.030])
        XCTAssertEqual(timing.coldTotal, 0.045)
        XCTAssertEqual(timing.layerCount, 2)
        XCTAssertEqual(timing.count, 0)
        XCTAssertNil(timing.total, "the cold pass alone gives no warm median")
        XCTAssertEqual(timing.layers, [])

        for seconds in [[0.001, 0.004], [0.003, 0.002], [0.002, 0.003]] { timing.record(layerSeconds: seconds) }
        XCTAssertEqual(timing.count, 3)
        XCTAssertEqual(timing.passes, 3)
        XCTAssertEqual(timing.layers.map(\.median), [0.002, 0.003])
        XCTAssertEqual(timing.layers.map(\.maximum), [0.003, 0.004], "the cold pass's 15 and 30 ms are not the maxima")
        XCTAssertEqual(timing.layer(1)?.minimum, 0.002)
        XCTAssertNil(timing.layer(2))
        XCTAssertEqual(timing.cold, [0.015, 0.030], "warm passes leave the cold one as it was")
    }

    /// The total's median is the median of the passes' totals, not the sum of the layers' medians.
    func testTheTotalIsThePassesOwn() throws {
        var timing = LayerTiming()
        for seconds in [[9.0, 9.0], [1.0, 5.0], [5.0, 1.0], [2.0, 2.0]] { timing.record(layerSeconds: seconds) }
        let total = try XCTUnwrap(timing.total)
        XCTAssertEqual(total.median, 6)
        XCTAssertEqual(total.minimum, 4)
        XCTAssertEqual(timing.layers.map(\.median), [2, 2])
    }

    func testOnlyTheLastCapacityPassesAreHeld() throws {
        var timing = LayerTiming(capacity: 4)
        timing.record(layerSeconds: [100])
        for pass in 1...10 { timing.record(layerSeconds: [Double(pass)]) }
        XCTAssertEqual(timing.count, 4)
        XCTAssertEqual(timing.passes, 10)
        let layer = try XCTUnwrap(timing.layer(0))
        XCTAssertEqual(layer.minimum, 7, "passes 1 to 6 were overwritten, oldest first")
        XCTAssertEqual(layer.maximum, 10)
        XCTAssertEqual(layer.median, 8.5)
        XCTAssertEqual(timing.total?.median, 8.5)
        XCTAssertEqual(timing.cold, [100])
    }

    /// Fed from a real predictor: one summary per layer, each a layer's own seconds.
    func testFedFromForwardResults() throws {
        var network = try Network(cfg: Repo.path("cfg/tiny.cfg"))
        try network.randomize(seed: 1)
        let predictor = Predictor(network: network, threads: 1)
        let input = [Float](repeating: 0.5, count: network.input.count)
        var timing = LayerTiming(capacity: 3)
        var results: [ForwardResult] = []
        for _ in 0..<4 {
            let result = try predictor.forward(input)
            results.append(result)
            timing.record(result)
        }
        XCTAssertEqual(timing.cold, results[0].layerSeconds)
        XCTAssertEqual(timing.layers.count, network.layers.count)
        for (index, summary) in timing.layers.enumerated() {
            XCTAssertEqual(summary.median, results[1...].map { $0.layerSeconds[index] }.sorted()[1])
        }
        XCTAssertEqual(timing.total?.median, results[1...].map(\.totalSeconds).sorted()[1])
    }
}
