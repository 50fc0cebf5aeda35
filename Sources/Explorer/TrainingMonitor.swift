import Darknet
import Foundation
import Microscope
import Render
import Synchronization

/// The live view of `darkscope train`: a thin ncurses shell over `TrainingProgress`. The
/// training runs on a thread of its own; this one draws what it reports and asks it to stop
/// on q, Ctrl-C, SIGTERM or SIGHUP.
public enum TrainingMonitor {
    /// Whether the view can be drawn here (a terminal on both ends, a TERM that can draw it).
    public static var canRun: Bool {
        (try? Terminal.checkUsable(environment: ProcessInfo.processInfo.environment)) != nil
    }

    /// Runs `work` on another thread and shows its reports until it returns; `work` reports
    /// each batch and asks, before each, whether to stop. Returns what `work` returns (the stop
    /// that ended it, if any), after restoring the terminal; rethrows its error.
    public static func run(_ progress: TrainingProgress, pixelMode: PixelMode?, colors: ColorDepth?,
                           work: @escaping @Sendable (_ report: @escaping @Sendable (BatchReport) -> Void,
                                                      _ stop: @escaping @Sendable () -> TrainingStop?) throws -> TrainingStop?) throws -> TrainingStop? {
        let terminal = try Terminal(environment: ProcessInfo.processInfo.environment, forcedMode: pixelMode, forcedColors: colors)
        let mailbox = Mailbox()
        let thread = Thread {
            let outcome = Result { try work({ report in mailbox.post(report) }, { mailbox.stop }) }
            mailbox.finish(outcome)
        }
        thread.stackSize = 16 << 20
        thread.start()
        var view = TrainingView(terminal: terminal, progress: progress)
        let outcome = view.loop(mailbox)
        terminal.restore()
        return try outcome.get()
    }
}

/// What passes between the training thread and the screen.
private final class Mailbox: Sendable {
    private struct Contents {
        var reports: [BatchReport] = []
        var stop: TrainingStop?
        var outcome: Result<TrainingStop?, Error>?
    }
    private let contents = Mutex(Contents())

    func post(_ report: BatchReport) { contents.withLock { $0.reports.append(report) } }
    func finish(_ outcome: Result<TrainingStop?, Error>) { contents.withLock { $0.outcome = outcome } }
    func requestStop(_ stop: TrainingStop) { contents.withLock { $0.stop = $0.stop ?? stop } }
    var stop: TrainingStop? { contents.withLock { $0.stop } }

    /// The reports since the last call, and the outcome once the work has ended.
    func take() -> (reports: [BatchReport], outcome: Result<TrainingStop?, Error>?) {
        contents.withLock { contents in
            defer { contents.reports = [] }
            return (contents.reports, contents.reports.isEmpty ? contents.outcome : nil)
        }
    }
}

private struct TrainingView {
    let terminal: Terminal
    var progress: TrainingProgress
    private var drawnPictures: [Int] = []
    private var drawnSize = (rows: 0, columns: 0)
    private var lastDraw = Date.distantPast

    /// The view is redrawn at most this often while batches come in.
    static let redrawInterval = 0.25

    init(terminal: Terminal, progress: TrainingProgress) {
        self.terminal = terminal
        self.progress = progress
    }

    mutating func loop(_ mailbox: Mailbox) -> Result<TrainingStop?, Error> {
        draw()
        while true {
            var dirty = false
            if let key = terminal.readKey() {
                if key == .character("q") { mailbox.requestStop(.quitKey) }
                if key == .resize { drawnPictures = [] }
                dirty = true
            }
            let signal = Terminal.stopRequested.load(ordering: .relaxed)
            if signal != 0 { mailbox.requestStop(.signal(signal)) }
            if progress.stopping != mailbox.stop {
                progress.stopping = mailbox.stop
                dirty = true
            }
            let (reports, outcome) = mailbox.take()
            let now = Date()
            for report in reports { progress.accept(report, at: now.timeIntervalSinceReferenceDate) }
            if let outcome { return outcome }
            if dirty || !reports.isEmpty && now.timeIntervalSince(lastDraw) >= TrainingView.redrawInterval || progress.last != nil && now.timeIntervalSince(lastDraw) >= 1 {
                draw()
            }
        }
    }

    private mutating func draw() {
        lastDraw = Date()
        let rows = terminal.rows, columns = terminal.columns, unicode = terminal.capabilities.unicode
        terminal.clear()
        guard rows >= 12, columns >= 40 else {
            terminal.put("terminal too small: \(columns)x\(rows); the training view needs 40x12", row: 0, column: 0)
            terminal.put("training goes on; q or Ctrl-C stops it", row: 1, column: 0)
            finish(pictures: [])
            return
        }
        terminal.fill(row: 0, column: 0, width: columns, style: .title)
        terminal.put(" " + progress.title, row: 0, column: 0, style: .title)
        terminal.put(progress.progressLine(width: columns, unicode: unicode), row: 1, column: 0, style: .measure)
        terminal.put(progress.lossLine, row: 2, column: 0, style: .heading)

        let samples = progress.last?.samples ?? []
        let sampleRows = rows >= 24 && !samples.isEmpty ? 7 : 0
        let validations = Array(progress.validationLines.prefix(rows >= 24 ? 3 : 1))
        let chartTop = 4, chartBottom = rows - 1 - sampleRows - validations.count
        drawChart(top: chartTop, rows: chartBottom - chartTop, columns: columns, unicode: unicode)
        for (offset, line) in validations.enumerated() {
            terminal.put(line, row: chartBottom + offset, column: 0, style: offset == 0 ? .heading : .dim)
        }
        var pictures: [(image: TerminalImage, row: Int, column: Int)] = []
        if sampleRows > 0 {
            let top = rows - 1 - sampleRows, width = min(16, columns / samples.count)
            for (index, sample) in samples.enumerated() {
                let column = index * width
                let image = TerminalImage(Raster(sample.image), columns: width - 1, rows: sampleRows - 1,
                                          mode: terminal.pixelMode, colors: terminal.capabilities.colors,
                                          cellWidth: terminal.capabilities.cellWidth, cellHeight: terminal.capabilities.cellHeight)
                pictures.append((image, top, column))
                terminal.put(progress.caption(sample, unicode: unicode), row: top + sampleRows - 1, column: column, width: width - 1,
                             style: sample.guess == sample.label ? .plain : .notice)
            }
        }
        let status: String
        switch progress.stopping {
        case nil: status = "q or Ctrl-C: stop after this batch and write a backup to resume from"
        case .some: status = "stopping after this batch, then writing the backup…"
        }
        terminal.fill(row: rows - 1, column: 0, width: columns, style: .title)
        terminal.put(" " + (progress.skipped.last.map { "skipped an image: \($0)" } ?? status), row: rows - 1, column: 0,
                     style: progress.skipped.isEmpty ? .title : .alert)
        finish(pictures: pictures)
    }

    /// The loss (dim) and its running average (bright) over the whole run, the top and
    /// bottom values written on the left.
    private func drawChart(top: Int, rows: Int, columns: Int, unicode: Bool) {
        guard rows >= 3 else { return }
        let axis = 9, mark = unicode ? "⣀" : String(LineChart.asciiMarks[1])
        terminal.put("loss", row: top - 1, column: axis, style: .dim)
        terminal.put("\(mark) avg loss", row: top - 1, column: axis + 6, style: .measure)
        let chart = LineChart([progress.losses, progress.averages], columns: columns - axis, rows: rows, unicode: unicode)
        terminal.put(String(format: "%8.3f", chart.range.upperBound), row: top, column: 0, style: .dim)
        terminal.put(String(format: "%8.3f", chart.range.lowerBound), row: top + rows - 1, column: 0, style: .dim)
        for (row, cells) in chart.cells.enumerated() {
            for (column, cell) in cells.enumerated() where cell.series != nil {
                terminal.put(String(cell.character), row: top + row, column: axis + column, style: cell.series == 1 ? .measure : .dim)
            }
        }
    }

    /// Refreshes the text, then draws the pictures over it; pictures drawn before are erased first.
    private mutating func finish(pictures: [(image: TerminalImage, row: Int, column: Int)]) {
        let size = (terminal.rows, terminal.columns)
        if !drawnPictures.isEmpty || size != drawnSize { terminal.invalidate(rows: 0..<terminal.rows) }
        terminal.refresh()
        terminal.drawPictures(pictures)
        drawnPictures = pictures.map(\.row)
        drawnSize = size
    }
}
