import Darknet
import Microscope
import Render
import XCTest

/// The training view's pure parts: the loss chart and what the progress lines say.
final class TrainingProgressTests: XCTestCase {
    /// A falling series: its first dot top left, its last bottom right, every column drawn.
    func testAFallingCurveRunsFromTopLeftToBottomRight() {
        let chart = LineChart([[4, 3, 2, 1, 0]], columns: 10, rows: 4, unicode: true)
        XCTAssertEqual(chart.range, 0...4)
        let lines = chart.lines
        XCTAssertEqual(lines.count, 4)
        XCTAssertEqual(chart.cells[0][0].series, 0, lines.joined(separator: "\n"))
        XCTAssertEqual(chart.cells[3][9].series, 0, lines.joined(separator: "\n"))
        XCTAssertEqual(chart.cells[3][0].series, nil)
        XCTAssertTrue(lines.joined().unicodeScalars.allSatisfy { $0 == " " || (0x2801...0x28FF).contains($0.value) })
        // Connected: every column has a dot in some row.
        for column in 0..<10 {
            XCTAssertTrue(chart.cells.contains { $0[column].series == 0 }, "column \(column):\n" + lines.joined(separator: "\n"))
        }
        XCTAssertEqual(chart.cells[0][9].series, nil)
    }

    /// ASCII marks each series by its own character; the later series wins a shared cell.
    func testASCIIChartsMarkEachSeries() {
        let chart = LineChart([[1, 1, 1], [0, 0, 0]], columns: 3, rows: 2, unicode: false)
        XCTAssertEqual(chart.lines, ["...", "***"])
        let same = LineChart([[1, 1], [1, 1]], columns: 2, rows: 2, unicode: false)
        XCTAssertEqual(same.lines[0], "**")
        XCTAssertEqual(LineChart([], columns: 3, rows: 1, unicode: false).lines, ["   "])
    }

    /// More points than dot columns: each column spans the values it covers, so a spike
    /// between columns still shows.
    func testASpikeBetweenColumnsIsDrawn() {
        var values = [Float](repeating: 0, count: 101)
        values[50] = 10
        let chart = LineChart([values], columns: 5, rows: 5, unicode: false)
        XCTAssertEqual(chart.lines[0], "  .  ", chart.lines.joined(separator: "\n"))
        XCTAssertEqual(chart.lines[4], ".....")
    }

    func testProgressCountsBatchesSpeedAndTimeLeft() {
        var progress = TrainingProgress(title: "t", labels: ["cat", "dog"], lastBatch: 110, firstBatch: 10, seen: 80, at: 100)
        XCTAssertEqual(progress.fraction, 0)
        XCTAssertNil(progress.imagesPerSecond)
        XCTAssertEqual(progress.lossLine, "loss: waiting for the first batch   resumed at batch 10")
        for batch in 11...20 {
            progress.accept(BatchReport(batch: batch, seen: UInt64(8 * batch), epoch: Double(batch) / 2, loss: 1, averageLoss: 0.5, rate: 0.1),
                            at: 100 + Double(batch - 10) * 0.5)
        }
        XCTAssertEqual(progress.fraction, 0.1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(progress.imagesPerSecond), 16, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(progress.secondsLeft), 45, accuracy: 1e-9)
        let line = progress.progressLine(width: 100, unicode: false)
        XCTAssertTrue(line.hasPrefix("batch 20/110 [###"), line)
        XCTAssertTrue(line.contains(" 10%  ETA 0:45  epoch 10.00  16 img/s  rate 0.1"), line)
        XCTAssertEqual(progress.losses.count, 10)
        let right = TrainingSample(image: Image(width: 1, height: 1, channels: 3, filledWith: 0), label: 1, guess: 1)
        var wrong = right
        wrong.guess = 0
        XCTAssertEqual(progress.caption(right, unicode: true), "✓ dog")
        XCTAssertEqual(progress.caption(wrong, unicode: true), "✗ dog→cat")
        XCTAssertEqual(progress.caption(wrong, unicode: false), "x dog>cat")
    }
}
