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
    /// Where the channel grid was last drawn, to map a click to its channel.
    private var drawnGrid: (key: PictureKey, image: TerminalImage, page: Range<Int>)?

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
        var pictures: [(key: PictureKey, image: TerminalImage)] = []
        if let view = state.networks {
            drawNetworks(view, layout)
        } else {
            drawTable(state, layout)
            pictures = drawMaps(state, layout)
            pictures += drawSide(state, layout)
        }
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
        // A sixel carries its own palette, whatever colours the terminal's text has.
        let colors = terminal.pixelMode == .sixel ? .truecolor : caps.colors
        // A sixel stays within the size the terminal says it can draw.
        var columns = key.columns, rows = key.rows
        if terminal.pixelMode == .sixel, let limit = caps.sixelLimit {
            columns = min(columns, max(1, limit.width / caps.cellWidth))
            rows = min(rows, max(1, limit.height / caps.cellHeight))
        }
        let image = TerminalImage(raster, columns: columns, rows: rows, mode: terminal.pixelMode, colors: colors,
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

    /// Networks whose trained weights Darknet's author publishes as pjreddie.com/media/files/NAME.weights.
    static let publishedWeights: Set<String> = ["tiny", "darknet", "darknet19", "extraction", "resnet18", "alexnet"]

    private func drawTitle(_ state: ExplorerState, _ layout: Layout) {
        terminal.fill(row: 0, column: 0, width: layout.columns, attributes: ds_attr_reverse())
        var end: Int
        if let weights = state.weightsPath {
            // Not Darknet's sums: say so.
            let winograd = state.network.convolution == .winograd ? "  winograd convolutions" : ""
            let title = " darkscope  \(state.networkName)  \(state.network.input) in  \(URL(fileURLWithPath: weights).lastPathComponent)\(winograd)"
            terminal.put(title, row: 0, column: 0, attributes: ds_attr_reverse())
            end = title.count
        } else {
            let name = (state.networkName as NSString).deletingPathExtension
            let hint = Screen.publishedWeights.contains(name) ? "get pjreddie.com/media/files/\(name).weights" : "no \(name).weights found"
            let banner = " \(state.networkName) UNTRAINED random weights: \(hint) "
            terminal.put(banner, row: 0, column: 0, attributes: ds_attr_bold() | ds_color_pair(2))
            end = banner.count
        }
        if let loading = state.loadingNetwork, end + 2 < layout.columns {
            terminal.put("  opening \(loading)…", row: 0, column: end, width: layout.columns - end, attributes: ds_attr_reverse() | ds_attr_bold())
        }
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
        let totals = String(format: "total %.3f BFLOPs  %ld params  %.2f MB  %.2f ms", Double(network.operations) / 1e9,
                            network.parameterCount, Double(network.parameterBytes) / 1_048_576, total * 1000)
        terminal.put(totals, row: layout.tableTop + layout.tableRows, column: 0, attributes: ds_attr_bold())
    }

    /// The maps pane: header, pictures of the selected layer, colour scale.
    private func drawMaps(_ state: ExplorerState, _ layout: Layout) -> [(key: PictureKey, image: TerminalImage)] {
        if state.showFilters { return drawFilters(state, layout) }
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
        drawnGrid = nil
        if let picture = picture(key, make: { self.mapsRaster(state, maps: maps, page: page) }) {
            pictures.append(picture)
            if state.grid && !state.compare { drawnGrid = (picture.key, picture.image, page) }
        }
        let gradientColumn = scale.count + 2
        let gradientKey = PictureKey(what: "scale \(state.colormap)", generations: [], row: scaleRow, column: gradientColumn,
                                     columns: max(1, layout.mapsWidth - gradientColumn), rows: 1)
        if gradientKey.columns >= 4, let gradient = picture(gradientKey, make: {
            heatmap((0..<64).map { Float($0) / 63 }, width: 64, height: 1, range: 0...1, colormap: state.colormap).scaled(by: 1)
        }) { pictures.append(gradient) }
        return pictures
    }

    /// The maps pane in filters mode (`f`): the first convolutional layer's filters, as
    /// Darknet's `visualize` draws them.
    private func drawFilters(_ state: ExplorerState, _ layout: Layout) -> [(key: PictureKey, image: TerminalImage)] {
        let attributes = state.focus == .maps ? ds_attr_bold() | ds_attr_reverse() : ds_attr_bold()
        guard let filters = FirstLayerFilters(state.network) else {
            terminal.put("filters: the network has no convolutional layer", row: layout.bottomTop, column: 0, width: layout.mapsWidth, attributes: attributes)
            return []
        }
        let header = "layer \(filters.layer) conv weights  \(filters.summary)  (f: maps)"
        terminal.put(header, row: layout.bottomTop, column: 0, width: layout.mapsWidth, attributes: attributes)
        let note = (filters.channels == 3 ? "per-filter min-max, RGB" : "per-filter min-max, channels apart") + ": Darknet's visualize"
        terminal.put(note, row: layout.pictureTop + layout.pictureRows, column: 0, width: layout.mapsWidth)
        let key = PictureKey(what: "filters", generations: [state.networkGeneration], row: layout.pictureTop, column: 0,
                             columns: layout.mapsWidth, rows: layout.pictureRows)
        guard let picture = picture(key, make: { filters.grid(scale: filters.scale(toAbout: 24)) }) else { return [] }
        return [picture]
    }

    /// The networks view (`N`): each network's top-5 for the image and its forward time, side by side.
    private func drawNetworks(_ view: NetworksView, _ layout: Layout) {
        let image = URL(fileURLWithPath: view.imagePath).lastPathComponent
        terminal.put("networks on \(image): top-5 and forward time (ms, after a warm-up pass)", row: 1, column: 0,
                     width: layout.columns, attributes: ds_attr_bold())
        if view.noneTrained {
            terminal.put("no network has weights: all run on random weights (untrained)", row: 2, column: 0,
                         width: layout.columns, attributes: ds_color_pair(2))
        }
        guard let runs = view.runs else {
            terminal.put("computing… (finding each network's weights)", row: 3, column: 0, width: layout.columns)
            return
        }
        guard !runs.isEmpty else {
            terminal.put("no networks to run", row: 3, column: 0, width: layout.columns)
            return
        }
        let perBand = max(1, min(runs.count, layout.columns / 26))
        let width = layout.columns / perBand
        let bandRows = 8
        for (index, run) in runs.enumerated() {
            let top = 3 + index / perBand * bandRows, left = index % perBand * width
            guard top + bandRows - 1 <= layout.rows - 1 else {
                terminal.put("+\(runs.count - index) more networks: enlarge the terminal", row: layout.rows - 2, column: 0,
                             width: layout.columns, attributes: ds_attr_bold())
                break
            }
            terminal.put(run.name, row: top, column: left, width: width - 1, attributes: ds_attr_bold())
            let untrained = run.untrained ? " untrained" : ""
            if let error = run.error {
                terminal.put(error, row: top + 1, column: left, width: width - 1, attributes: ds_color_pair(2))
                continue
            }
            guard let milliseconds = run.milliseconds else {
                terminal.put("computing…" + untrained, row: top + 1, column: left, width: width - 1)
                continue
            }
            terminal.put(String(format: "%.2f ms", milliseconds), row: top + 1, column: left, width: width - 1)
            if run.untrained {
                let time = String(format: "%.2f ms", milliseconds)
                terminal.put(untrained, row: top + 1, column: left + time.count, width: max(0, width - 1 - time.count),
                             attributes: ds_color_pair(2))
            }
            for (offset, prediction) in run.predictions.prefix(5).enumerated() {
                let percent = String(format: "%5.2f%%", prediction.probability * 100)
                terminal.put("\(percent) \(prediction.name)", row: top + 2 + offset, column: left, width: width - 1)
            }
        }
    }

    /// The channel whose tile in the drawn grid covers a cell, if any.
    func channel(atRow row: Int, column: Int) -> Int? {
        guard let (key, image, page) = drawnGrid else { return nil }
        let y = row - key.row, x = column - key.column
        guard x >= 0, y >= 0, x < image.columns, y < image.cellRows else { return nil }
        let tileColumns = FeatureMaps.gridColumns(page.count)
        let tileRows = (page.count + tileColumns - 1) / tileColumns
        let channel = page.lowerBound + y * tileRows / image.cellRows * tileColumns + x * tileColumns / image.columns
        return page.contains(channel) ? channel : nil
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
        let keys = state.networks == nil ? Screen.statusKeys : "N Esc close  [ ] image  ? keys  q quit"
        let text = state.message ?? keys
        terminal.put(text, row: row, column: 0, attributes: state.message == nil ? ds_attr_dim() : ds_color_pair(4))
    }

    static let statusKeys = "q quit  ? keys  j/k layer  h/l channel  a grid  n norm  c colours  v compare  o open  [ ] image"

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
        ("m M", "next / previous network (cfg/ and the command line)"),
        ("N", "networks view: the image through every network with weights"),
        ("f", "first conv layer's filters (Darknet's visualize) / the maps"),
        ("mouse", "click a layer row or a channel tile; wheel as j/k"),
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
