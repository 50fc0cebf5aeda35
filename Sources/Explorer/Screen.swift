import CNcurses
import Darknet
import Foundation
import Render

/// Where each part of the screen goes at the current size.
struct Layout: Equatable {
    var rows: Int
    var columns: Int

    static let minimumRows = 24, minimumColumns = 80

    var fits: Bool { rows >= Layout.minimumRows && columns >= Layout.minimumColumns }
    /// Rows of layer entries (below the table's header row).
    var tableRows: Int { max(5, (rows - 2) * 2 / 5) - 1 }
    var tableTop: Int { 1 }
    var bottomTop: Int { tableTop + 1 + tableRows }
    var bottomRows: Int { rows - 1 - bottomTop }
    var sideWidth: Int { 34 }
    var mapsWidth: Int { columns - sideWidth - 1 }
    /// The picture area inside the maps pane: below its header, above the colour scale.
    var pictureTop: Int { bottomTop + 1 }
    var pictureRows: Int { bottomRows - 2 }
}

/// Draws the explorer from its state; keeps only caches of pictures already encoded.
final class Screen {
    private let terminal: Terminal
    private var cache: [PictureKey: TerminalImage] = [:]
    /// What was last drawn over ncurses' text, to know when it must be erased.
    private var drawnPictures: [PictureKey] = []
    private var drawnLayout: Layout?

    init(terminal: Terminal) {
        self.terminal = terminal
    }

    /// Identifies an encoded picture, so it is encoded once and redrawn only when it changes.
    struct PictureKey: Hashable {
        var what: String
        var generations: [Int]
        var row: Int, column: Int, columns: Int, rows: Int
    }

    func layout() -> Layout { Layout(rows: terminal.rows, columns: terminal.columns) }

    func draw(_ state: ExplorerState) {
        let layout = layout()
        terminal.clear()
        guard layout.fits else {
            drawTooSmall(layout)
            finish(layout: layout, pictures: [])
            return
        }
        drawTitle(state, layout)
        drawTable(state, layout)
        var pictures = drawMaps(state, layout)
        pictures += drawSide(state, layout)
        drawStatus(state, layout)
        if state.showHelp {
            drawHelp(layout)
            pictures = []
        }
        finish(layout: layout, pictures: pictures)
    }

    /// Refreshes ncurses, erasing old pictures first when they change, then draws the new ones.
    private func finish(layout: Layout, pictures: [(key: PictureKey, image: TerminalImage)]) {
        let keys = pictures.map(\.key)
        let changed = keys != drawnPictures || layout != drawnLayout
        if changed {
            for key in drawnPictures { terminal.invalidate(rows: key.row..<min(key.row + key.rows, layout.rows)) }
        }
        terminal.refresh()
        if changed {
            terminal.drawPictures(pictures.map { ($0.image, $0.key.row, $0.key.column) })
            drawnPictures = keys
            drawnLayout = layout
            if cache.count > 64 { cache = cache.filter { keys.contains($0.key) } }
        }
    }

    /// Forgets what is on the terminal (after a resize or an external redraw).
    func invalidate() {
        drawnPictures = []
        drawnLayout = nil
    }

    private func picture(_ key: PictureKey, make: () -> Raster?) -> (key: PictureKey, image: TerminalImage)? {
        if let image = cache[key] { return (key, image) }
        guard let raster = make() else { return nil }
        let caps = terminal.capabilities
        let image = TerminalImage(raster, columns: key.columns, rows: key.rows, mode: terminal.pixelMode, colors: caps.colors,
                                  cellWidth: caps.cellWidth, cellHeight: caps.cellHeight)
        cache[key] = image
        return (key, image)
    }

    private func drawTooSmall(_ layout: Layout) {
        let lines = ["terminal too small: \(layout.columns)x\(layout.rows)",
                     "darkscope needs \(Layout.minimumColumns)x\(Layout.minimumRows); enlarge it, or q to quit"]
        for (offset, line) in lines.enumerated() {
            let row = layout.rows / 2 - 1 + offset
            terminal.put(line, row: max(0, row), column: max(0, (layout.columns - line.count) / 2))
        }
    }

    private func drawTitle(_ state: ExplorerState, _ layout: Layout) {
        terminal.fill(row: 0, column: 0, width: layout.columns, attributes: ds_attr_reverse())
        guard let weights = state.weightsPath else {
            let banner = " \(state.networkName) UNTRAINED random weights: get pjreddie.com/media/files/tiny.weights "
            terminal.put(banner, row: 0, column: 0, attributes: ds_attr_bold() | ds_color_pair(2))
            return
        }
        let title = " darkscope  \(state.networkName)  \(state.network.input) in  \(URL(fileURLWithPath: weights).lastPathComponent)"
        terminal.put(title, row: 0, column: 0, attributes: ds_attr_reverse())
    }

    private func drawTable(_ state: ExplorerState, _ layout: Layout) {
        let seconds = state.layerSeconds
        let total = seconds.reduce(0, +)
        let compare = state.compare && state.similarities.count == state.layerCount
        let header = LayerRow.header + "      ms" + (compare ? "   sim" : "")
        terminal.put(header, row: layout.tableTop, column: 0, attributes: ds_attr_bold())
        let visible = layout.tableRows - 1
        let top = state.firstVisibleLayer(visible: visible)
        for (offset, index) in (top..<min(state.layerCount, top + visible)).enumerated() {
            let row = layout.tableTop + 1 + offset
            var text = state.rows[index].text
            if index < seconds.count { text += String(format: " %7.2f", seconds[index] * 1000) } else { text += "        " }
            if compare { text += String(format: " %5.2f", state.similarities[index]) }
            let selected = index == state.selectedLayer
            let attributes: attr_t = selected ? ds_attr_reverse() | (state.focus == .layers ? ds_attr_bold() : 0) : 0
            if selected { terminal.fill(row: row, column: 0, width: layout.columns, attributes: attributes) }
            terminal.put(text, row: row, column: 0, attributes: attributes)
            if index < seconds.count, total > 0 {
                let barWidth = layout.columns - text.count - 2
                let length = Int((seconds[index] / total * Double(barWidth)).rounded())
                let bar = String(repeating: terminal.capabilities.unicode ? "█" : "#", count: max(0, min(length, barWidth)))
                terminal.put(bar, row: row, column: text.count + 1, attributes: selected ? attributes : ds_color_pair(3))
            }
        }
        let network = state.network
        let totals = String(format: "total %.3f BFLOPs  %d params  %.2f MB  %.2f ms", Double(network.operations) / 1e9,
                            network.parameterCount, Double(network.parameterBytes) / 1_048_576, total * 1000)
        terminal.put(totals, row: layout.tableTop + layout.tableRows, column: 0, attributes: ds_attr_bold())
    }

    /// The maps pane: header, pictures of the selected layer, colour scale.
    private func drawMaps(_ state: ExplorerState, _ layout: Layout) -> [(key: PictureKey, image: TerminalImage)] {
        let shape = state.selectedShape
        let row = state.rows[state.selectedLayer]
        let channels = state.channelCount
        var header = "layer \(state.selectedLayer) \(row.type) \(shape)  \(channels) channel\(channels == 1 ? "" : "s")"
        let focusAttributes = state.focus == .maps ? ds_attr_bold() | ds_attr_reverse() : ds_attr_bold()
        guard let first = state.subjects.first, let result = first.result else {
            let waiting = state.subjects.first?.error ?? "computing…"
            terminal.put(header, row: layout.bottomTop, column: 0, width: layout.mapsWidth, attributes: focusAttributes)
            terminal.put(waiting, row: layout.pictureTop, column: 0, width: layout.mapsWidth)
            return []
        }
        let maps = FeatureMaps(result, layer: state.selectedLayer, shape: shape)
        let stats = maps.statistics(channel: state.channel)
        let page = pageRange(channels: channels, channel: state.channel, layout: layout)
        header += state.grid && !state.compare ? "  \(page.lowerBound)-\(page.upperBound - 1)" : ""
        header += String(format: "  ch %d min %.3g max %.3g mean %.3g", state.channel, stats.minimum, stats.maximum, stats.mean)
        terminal.put(header, row: layout.bottomTop, column: 0, width: layout.mapsWidth, attributes: focusAttributes)
        let range = state.normalization == .perLayer ? maps.layerRange : stats.minimum...max(stats.minimum, stats.maximum)
        let scale = String(format: "%.3g", range.lowerBound) + " … " + String(format: "%.3g", range.upperBound)
            + "  norm \(state.normalization.rawValue)  \(state.colormap.rawValue)"
        let scaleRow = layout.pictureTop + layout.pictureRows
        terminal.put(scale, row: scaleRow, column: 0, width: layout.mapsWidth)
        let generations = state.subjects.map(\.generation)
        let what = "maps \(state.selectedLayer) \(state.channel) \(state.grid) \(state.compare) \(state.normalization) \(state.colormap) \(page)"
        var pictures: [(key: PictureKey, image: TerminalImage)] = []
        let key = PictureKey(what: what, generations: generations, row: layout.pictureTop, column: 0,
                             columns: layout.mapsWidth, rows: layout.pictureRows)
        if let picture = picture(key, make: { self.mapsRaster(state, maps: maps, page: page) }) { pictures.append(picture) }
        let gradientColumn = scale.count + 2
        let gradientKey = PictureKey(what: "scale \(state.colormap)", generations: [], row: scaleRow, column: gradientColumn,
                                     columns: max(1, layout.mapsWidth - gradientColumn), rows: 1)
        if gradientKey.columns >= 4, let gradient = picture(gradientKey, make: {
            heatmap((0..<64).map { Float($0) / 63 }, width: 64, height: 1, range: 0...1, colormap: state.colormap).scaled(by: 1)
        }) { pictures.append(gradient) }
        return pictures
    }

    /// How many channel tiles fit the picture area legibly, and which page holds the channel.
    private func pageRange(channels: Int, channel: Int, layout: Layout) -> Range<Int> {
        let capacity = max(1, (layout.mapsWidth / 4) * max(1, layout.pictureRows / 2))
        let start = channel / capacity * capacity
        return start..<min(channels, start + capacity)
    }

    private func mapsRaster(_ state: ExplorerState, maps: FeatureMaps, page: Range<Int>) -> Raster? {
        let scale = max(1, 64 / max(maps.width, maps.height))
        guard state.compare else {
            return state.grid
                ? maps.grid(channels: page, normalization: state.normalization, colormap: state.colormap, scale: scale)
                : maps.picture(channel: state.channel, normalization: state.normalization, colormap: state.colormap, scale: scale)
        }
        guard state.subjects.count == 2, let other = state.subjects[1].result else { return nil }
        let right = FeatureMaps(other, layer: state.selectedLayer, shape: maps.shape)
        let left = maps.picture(channel: state.channel, normalization: state.normalization, colormap: state.colormap, scale: scale)
        let rightPicture = right.picture(channel: state.channel, normalization: state.normalization, colormap: state.colormap, scale: scale)
        let difference = zip(maps.channel(state.channel), right.channel(state.channel)).map { $0 - $1 }
        let bound = max(difference.map(abs).max() ?? 0, Float.leastNormalMagnitude)
        let diffPicture = heatmap(difference, width: maps.width, height: maps.height, range: -bound...bound, colormap: .diverging).scaled(by: scale)
        return Raster.sideBySide(Raster.sideBySide(left, rightPicture, gap: 2 * scale), diffPicture, gap: 2 * scale)
    }

    /// The right pane: each image's name, its top-5, and (room permitting) the image itself.
    private func drawSide(_ state: ExplorerState, _ layout: Layout) -> [(key: PictureKey, image: TerminalImage)] {
        let left = layout.mapsWidth + 1
        var row = layout.bottomTop
        var pictures: [(key: PictureKey, image: TerminalImage)] = []
        for (slot, subject) in state.subjects.enumerated() {
            let name = (state.compare ? (slot == 0 ? "A " : "B ") : "") + URL(fileURLWithPath: subject.path).lastPathComponent
            terminal.put(name, row: row, column: left, width: layout.sideWidth, attributes: ds_attr_bold())
            row += 1
            if let error = subject.error {
                terminal.put(error, row: row, column: left, width: layout.sideWidth, attributes: ds_color_pair(2))
                row += 1
                continue
            }
            for prediction in subject.predictions.prefix(5) {
                let percent = String(format: "%5.2f%%", prediction.probability * 100)
                let barWidth = 6
                let length = Int((Double(prediction.probability) * Double(barWidth)).rounded(.up))
                let bar = String(repeating: terminal.capabilities.unicode ? "▮" : "#", count: min(barWidth, length))
                    .padding(toLength: barWidth, withPad: " ", startingAt: 0)
                terminal.put("\(percent) \(bar) \(prediction.name)", row: row, column: left, width: layout.sideWidth)
                row += 1
            }
            if subject.predictions.isEmpty {
                terminal.put("computing…", row: row, column: left, width: layout.sideWidth)
                row += 1
            }
        }
        let room = layout.bottomTop + layout.bottomRows - row - 1
        if !state.compare, room >= 4, let subject = state.subjects.first, let input = subject.input {
            let key = PictureKey(what: "input \(subject.path)", generations: [subject.generation], row: row + 1, column: left,
                                 columns: layout.sideWidth, rows: room)
            if let picture = picture(key, make: { Raster(input) }) { pictures.append(picture) }
        }
        return pictures
    }

    private func drawStatus(_ state: ExplorerState, _ layout: Layout) {
        let row = layout.rows - 1
        if let prompt = state.prompt {
            terminal.put("open image (Tab completes, Enter opens, Esc cancels): " + prompt, row: row, column: 0, attributes: ds_attr_reverse())
            return
        }
        let text = state.message ?? "q quit  ? keys  j/k layer  h/l channel  a grid  n norm  c colours  v compare  o open  [ ] image"
        terminal.put(text, row: row, column: 0, attributes: state.message == nil ? ds_attr_dim() : ds_color_pair(4))
    }

    static let keys: [(String, String)] = [
        ("j k  ↓ ↑", "next / previous layer (in the maps pane: channel)"),
        ("PgDn PgUp", "move a page of layers"),
        ("g G  Home End", "first / last layer"),
        ("h l  ← →", "previous / next channel"),
        ("Tab", "move focus between the layer table and the maps"),
        ("a", "grid of every channel / one channel large"),
        ("n", "normalise per channel / per layer"),
        ("c", "cycle colormaps: grayscale, viridis, diverging"),
        ("v", "compare two images side by side"),
        ("o", "open an image by path (Tab completes)"),
        ("[ ]", "previous / next image"),
        ("mouse", "click a layer row to select it; wheel scrolls"),
        ("?", "this help"),
        ("q", "quit"),
    ]

    private func drawHelp(_ layout: Layout) {
        let width = min(layout.columns - 4, 70)
        let top = max(1, (layout.rows - Screen.keys.count - 4) / 2)
        let left = (layout.columns - width) / 2
        for row in top..<(top + Screen.keys.count + 4) { terminal.fill(row: row, column: left, width: width, attributes: ds_attr_reverse()) }
        terminal.put(" darkscope keys (any key closes) ", row: top, column: left + 2, attributes: ds_attr_reverse() | ds_attr_bold())
        for (offset, entry) in Screen.keys.enumerated() {
            let line = "  " + entry.0.padding(toLength: 16, withPad: " ", startingAt: 0) + entry.1
            terminal.put(line, row: top + 2 + offset, column: left, width: width, attributes: ds_attr_reverse())
        }
    }
}
