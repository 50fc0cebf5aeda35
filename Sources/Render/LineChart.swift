/// Curves drawn in terminal cells: Unicode braille (2×4 dots a cell) or ASCII (one mark a
/// cell), the whole series squeezed or stretched across the width, each dot column covering
/// the values between its neighbours so that the curve stays connected.
public struct LineChart: Equatable, Sendable {
    public var columns: Int, rows: Int
    /// The values at the bottom and top row.
    public var range: ClosedRange<Float>
    public var unicode: Bool
    /// Each cell's character, row by row from the top, and which series drew it last (nil: blank).
    public private(set) var cells: [[(character: Character, series: Int?)]]

    public static func == (a: LineChart, b: LineChart) -> Bool {
        a.columns == b.columns && a.rows == b.rows && a.range == b.range && a.unicode == b.unicode
            && a.cells.map { $0.map(\.character) } == b.cells.map { $0.map(\.character) }
            && a.cells.map { $0.map(\.series) } == b.cells.map { $0.map(\.series) }
    }

    /// The characters ASCII charts draw each series with, by index (the last repeats).
    public static let asciiMarks: [Character] = [".", "*", "+"]

    /// `series` drawn in order, later ones over earlier ones; the range is 0 (or the lowest
    /// value, if negative) to the highest value.
    public init(_ series: [[Float]], columns: Int, rows: Int, unicode: Bool) {
        let values = series.joined().filter(\.isFinite)
        let low = min(values.min() ?? 0, 0), high = max(values.max() ?? 1, low + Float.ulpOfOne)
        self.columns = max(columns, 1)
        self.rows = max(rows, 1)
        range = low...high
        self.unicode = unicode
        let (dotsAcross, dotsDown) = unicode ? (2, 4) : (1, 1)
        let width = self.columns * dotsAcross, height = self.rows * dotsDown
        var bits = Array(repeating: Array(repeating: UInt8(0), count: self.columns), count: self.rows)
        var owner: [[Int?]] = Array(repeating: Array(repeating: nil, count: self.columns), count: self.rows)
        for (index, values) in series.enumerated() {
            for (x, span) in LineChart.spans(of: values, across: width).enumerated() {
                guard let span else { continue }
                let top = LineChart.dot(span.upperBound, range: range, height: height)
                let bottom = LineChart.dot(span.lowerBound, range: range, height: height)
                for y in top...bottom {
                    let row = y / dotsDown, column = x / dotsAcross
                    if unicode {
                        bits[row][column] |= LineChart.brailleBit(x: x % 2, y: y % 4)
                    } else {
                        bits[row][column] = 1
                    }
                    owner[row][column] = index
                }
            }
        }
        let (rowCount, columnCount) = (self.rows, self.columns)
        cells = (0..<rowCount).map { row in
            (0..<columnCount).map { column in
                guard let series = owner[row][column] else { return (" ", nil) }
                let character = unicode
                    ? Character(Unicode.Scalar(0x2800 + UInt32(bits[row][column]))!)
                    : LineChart.asciiMarks[min(series, LineChart.asciiMarks.count - 1)]
                return (character, series)
            }
        }
    }

    /// The rows as text.
    public var lines: [String] { cells.map { String($0.map(\.character)) } }

    /// For each of `width` dot columns, the lowest and highest value the curve passes through
    /// there (linearly between points); nil where a series of no finite values has none.
    static func spans(of values: [Float], across width: Int) -> [ClosedRange<Float>?] {
        let points = values.map { $0.isFinite ? $0 : Float.nan }
        guard !points.isEmpty else { return Array(repeating: nil, count: width) }
        guard points.count > 1 else { return Array(repeating: points[0].isNaN ? nil : points[0]...points[0], count: width) }
        let last = Float(points.count - 1)
        func value(at t: Float) -> Float {
            let i = min(Int(t), points.count - 2), f = t - Float(i)
            return points[i] + (points[i + 1] - points[i]) * f
        }
        return (0..<width).map { x in
            // The dot column covers the curve from halfway to its left neighbour to halfway to its right one.
            let centre = width == 1 ? 0 : Float(x) * last / Float(width - 1), half = width == 1 ? last : last / Float(width - 1) / 2
            let from = max(0, centre - half), to = min(last, centre + half)
            var samples = [value(at: from), value(at: to)]
            if Int(to) >= Int(from.rounded(.up)) { samples += points[Int(from.rounded(.up))...Int(to)] }
            let finite = samples.filter { !$0.isNaN }
            guard let low = finite.min(), let high = finite.max() else { return nil }
            return low...high
        }
    }

    /// The dot row of a value, 0 at the top.
    private static func dot(_ value: Float, range: ClosedRange<Float>, height: Int) -> Int {
        let fraction = (value - range.lowerBound) / (range.upperBound - range.lowerBound)
        return min(height - 1, max(0, Int(((1 - fraction) * Float(height - 1)).rounded())))
    }

    /// The bit of a braille dot in its cell (Unicode's numbering: 1–3 and 7 down the left, 4–6 and 8 the right).
    private static func brailleBit(x: Int, y: Int) -> UInt8 {
        let bits: [[UInt8]] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]]
        return bits[x][y]
    }
}
