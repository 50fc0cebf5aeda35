import CNcurses
import Darknet
import Foundation
import Microscope
import Render

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

    /// Identifies an encoded picture: what it shows, the analyses or network it was made
    /// from, and where it goes. A picture is drawn only under the key it was made for.
    struct PictureKey: Hashable {
        var what: String
        var subjects: [SubjectKey]
        var network: NetworkKey?
        var rect: Rect
    }

    /// Pictures kept encoded, so paging back and forth does not encode them again.
    static let cachedPictures = 48

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
            if let maps = layout.maps, let picture = layout.picture {
                pictures = drawMaps(state, maps, picture: picture)
            } else {
                drawnGrid = nil
            }
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
            for key in drawnPictures { terminal.invalidate(rows: key.rect.row..<min(key.rect.bottom, layout.rows)) }
        }
        terminal.refresh()
        if changed {
            terminal.drawPictures(pictures.map { ($0.image, $0.key.rect.row, $0.key.rect.column) })
            drawnPictures = keys
            drawnLayout = layout
        }
        if cache.count > Screen.cachedPictures { cache = cache.filter { keys.contains($0.key) } }
    }

    /// Forgets what is on the terminal (after a resize or an external redraw).
    func invalidate() {
        drawnPictures = []
        drawnLayout = nil
    }

    private func picture(_ key: PictureKey, make: () -> Raster?) -> (key: PictureKey, image: TerminalImage)? {
        if let image = cache[key] { return (key, image) }
        guard key.rect.rows > 0, key.rect.columns > 0, let raster = make() else { return nil }
        let caps = terminal.capabilities
        // A sixel carries its own palette, whatever colours the terminal's text has.
        let colors = terminal.pixelMode == .sixel ? .truecolor : caps.colors
        // A sixel stays within the size the terminal says it can draw.
        var columns = key.rect.columns, rows = key.rect.rows
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
                     "darkscope needs \(Layout.minimumColumns)x\(Layout.minimumRows)",
                     "enlarge it, or q to quit"]
        for (offset, line) in lines.enumerated() {
            let row = layout.rows / 2 - 1 + offset
            terminal.put(line, row: max(0, row), column: max(0, (layout.columns - line.count) / 2))
        }
    }

    /// Networks whose trained weights Darknet's author publishes as pjreddie.com/media/files/NAME.weights.
    static let publishedWeights: Set<String> = ["tiny", "darknet", "darknet19", "extraction", "resnet18", "alexnet"]

    private func drawTitle(_ state: ExplorerState, _ layout: Layout) {
        terminal.fill(row: 0, column: 0, width: layout.columns, style: .title)
        var end: Int
        if let weights = state.loaded.weightsPath {
            // Not the default way of summing: say so.
            let convolution = state.network.convolution == .default ? "" : "  \(state.network.convolution.rawValue) sums"
            let title = " darkscope  \(state.networkName)  \(state.network.input) in  \(URL(fileURLWithPath: weights).lastPathComponent)\(convolution)"
            terminal.put(title, row: 0, column: 0, style: .title)
            end = title.count
        } else {
            let name = (state.networkName as NSString).deletingPathExtension
            let hint = Screen.publishedWeights.contains(name) ? "get pjreddie.com/media/files/\(name).weights" : "no \(name).weights found"
            let banner = " \(state.networkName) UNTRAINED random weights: \(hint) "
            terminal.put(banner, row: 0, column: 0, style: .alert)
            end = banner.count
        }
        let note = state.loadingNetwork.map { "  opening \(URL(fileURLWithPath: $0).lastPathComponent)…" } ?? state.networkProblem.map { "  \($0)" }
        if let note, end + 2 < layout.columns {
            terminal.put(note, row: 0, column: end, width: layout.columns - end, style: state.loadingNetwork == nil ? .alert : .selected)
        }
    }

    private func drawTable(_ state: ExplorerState, _ layout: Layout) {
        let table = layout.table
        let seconds = state.layerSeconds
        let timing = state.analysis(slot: 0)?.timing
        let total = timing?.total?.median ?? seconds.reduce(0, +)
        let time = seconds.isEmpty ? "" : String(format: "%.2f ", total * 1000)
        let similarities = state.similarities
        let compare = similarities.count == state.layerCount
        let timed = seconds.isEmpty ? "" : timing?.total.map { String(format: "ms (median of %d passes, middle half %.2f-%.2f)", timing!.passes, $0.lowerQuartile * 1000, $0.upperQuartile * 1000) } ?? "ms (first pass)"
        let header = (layout.fullTable ? LayerRow.header : LayerRow.compactHeader) + "      ms" + (compare ? "   sim" : "")
        terminal.put(header, row: table.row, column: 0, style: .heading)
        let visible = layout.tableEntries
        let top = state.firstVisibleLayer(visible: visible)
        for (offset, index) in (top..<min(state.layerCount, top + visible)).enumerated() {
            let row = table.row + 1 + offset
            var text = layout.fullTable ? state.rows[index].text : state.rows[index].compactText
            if index < seconds.count { text += String(format: " %7.2f", seconds[index] * 1000) } else { text += "        " }
            if compare { text += String(format: " %5.2f", similarities[index]) }
            let selected = index == state.selectedLayer
            let style: Terminal.Style = selected ? (state.focus == .layers ? .selected : .selectedInactive) : .plain
            if selected { terminal.fill(row: row, column: 0, width: layout.columns, style: style) }
            terminal.put(text, row: row, column: 0, style: style)
            if index < seconds.count, total > 0 {
                let barWidth = layout.columns - text.count - 2
                let length = Int((seconds[index] / total * Double(barWidth)).rounded())
                let bar = String(repeating: terminal.capabilities.unicode ? "█" : "#", count: max(0, min(length, barWidth)))
                terminal.put(bar, row: row, column: text.count + 1, style: selected ? style : .measure)
            }
        }
        let network = state.network
        let totals = layout.fullTable
            ? String(format: "total %.3f BFLOPs  %ld params  %.2f MB  ", Double(network.operations) / 1e9,
                     network.parameterCount, Double(network.parameterBytes) / 1_048_576) + time + timed
            : String(format: "total %.2f BFLOPs  ", Double(network.operations) / 1e9) + time + timed
        terminal.put(totals, row: table.bottom - 1, column: 0, style: .heading)
    }

    /// The maps pane: header, pictures of the selected layer, colour scale.
    private func drawMaps(_ state: ExplorerState, _ pane: Rect, picture: Rect) -> [(key: PictureKey, image: TerminalImage)] {
        drawnGrid = nil
        let headerStyle: Terminal.Style = state.focus == .maps ? .selected : .heading
        if state.showFilters { return drawFilters(state, pane, picture: picture, headerStyle: headerStyle) }
        if state.explaining { return drawExplanation(state, pane, picture: picture, headerStyle: headerStyle) }
        if state.lookingFor || state.showExamples {
            let header = "layer \(state.selectedLayer) \(state.rows[state.selectedLayer].type) \(state.selectedShape)"
            guard state.layerHasChannels else {
                terminal.put(header + ": flat values, no channels to look at (a class's picture: darkscope visualize --class)",
                             row: pane.row, column: pane.column, width: pane.columns, style: headerStyle)
                return []
            }
            return state.lookingFor
                ? drawLookingFor(state, pane, picture: picture, header: header, headerStyle: headerStyle)
                : drawExamples(state, pane, picture: picture, header: header, headerStyle: headerStyle)
        }
        let shape = state.selectedShape
        let row = state.rows[state.selectedLayer]
        let channels = state.channelCount
        var header = "layer \(state.selectedLayer) \(row.type) \(shape)  \(channels) channel\(channels == 1 ? "" : "s")"
        guard let first = state.analysis(slot: 0), let result = first.result else {
            let waiting = state.analysis(slot: 0)?.error.map { Screen.short($0, path: state.keys[0].image.path) } ?? "computing…"
            terminal.put(header, row: pane.row, column: pane.column, width: pane.columns, style: headerStyle)
            terminal.put(waiting, row: picture.row, column: pane.column, width: pane.columns,
                         style: state.analysis(slot: 0)?.error == nil ? .plain : .alert)
            return []
        }
        let maps = FeatureMaps(result, layer: state.selectedLayer, shape: shape)
        let stats = maps.statistics(channel: state.channel)
        let page = pageRange(channels: channels, channel: state.channel, picture: picture)
        header += state.grid && !state.compare ? "  \(page.lowerBound)-\(page.upperBound - 1)" : ""
        header += String(format: "  ch %d min %.3g max %.3g mean %.3g", state.channel, stats.minimum, stats.maximum, stats.mean)
        terminal.put(header, row: pane.row, column: pane.column, width: pane.columns, style: headerStyle)
        let range = state.normalization == .perLayer ? maps.layerRange : maps.range(channel: state.channel, normalization: .perChannel)
        let scale = String(format: "%.3g", range.lowerBound) + " … " + String(format: "%.3g", range.upperBound)
            + "  norm \(state.normalization.rawValue)  \(state.colormap.rawValue)"
        let what = "maps \(state.selectedLayer) \(state.channel) \(state.grid) \(state.compare) \(state.normalization) \(state.colormap) \(page)"
        var pictures: [(key: PictureKey, image: TerminalImage)] = []
        let key = PictureKey(what: what, subjects: state.keys, rect: picture)
        if let drawn = self.picture(key, make: { self.mapsRaster(state, maps: maps, page: page) }) {
            pictures.append(drawn)
            if state.grid && !state.compare { drawnGrid = (drawn.key, drawn.image, page) }
        }
        return pictures + drawScale(scale, colormap: state.colormap, row: picture.bottom, in: pane)
    }

    /// A colour scale's line: its text, then a strip of the colormap in the rest of the row.
    private func drawScale(_ text: String, colormap: Colormap, row: Int, in pane: Rect) -> [(key: PictureKey, image: TerminalImage)] {
        terminal.put(text, row: row, column: pane.column, width: pane.columns)
        let key = PictureKey(what: "scale \(colormap)", subjects: [],
                             rect: Rect(row: row, column: pane.column + text.count + 2, rows: 1, columns: max(1, pane.columns - text.count - 2)))
        guard key.rect.columns >= 4, let strip = picture(key, make: {
            heatmap((0..<64).map { Float($0) / 63 }, width: 64, height: 1, range: 0...1, colormap: colormap)
        }) else { return [] }
        return [strip]
    }

    /// The maps pane in filters mode (`f`): the first convolutional layer's filters, as
    /// Darknet's `visualize` draws them.
    private func drawFilters(_ state: ExplorerState, _ pane: Rect, picture: Rect,
                             headerStyle: Terminal.Style) -> [(key: PictureKey, image: TerminalImage)] {
        guard let filters = FirstLayerFilters(state.network) else {
            terminal.put("filters: the network has no convolutional layer", row: pane.row, column: pane.column, width: pane.columns, style: headerStyle)
            return []
        }
        let header = "layer \(filters.layer) conv weights  \(filters.summary)  (f: maps)"
        terminal.put(header, row: pane.row, column: pane.column, width: pane.columns, style: headerStyle)
        let note = (filters.channels == 3 ? "per-filter min-max, RGB" : "per-filter min-max, channels apart") + ": Darknet's visualize"
        terminal.put(note, row: picture.bottom, column: pane.column, width: pane.columns)
        let key = PictureKey(what: "filters", subjects: [], network: state.loaded.key, rect: picture)
        guard let drawn = self.picture(key, make: { filters.grid(scale: filters.scale(toAbout: 24)) }) else { return [] }
        return [drawn]
    }

    /// What a picture under way or failed says, on the line below the pictures.
    private func featureStatus(_ state: ExplorerState, channels: [Int]) -> String? {
        if let failed = channels.lazy.compactMap({ state.featureError(channel: $0) }).first { return failed }
        guard let step = state.featureStep, step.key.layer == state.selectedLayer, channels.contains(step.key.channel) else {
            return channels.allSatisfy { state.feature(channel: $0) != nil } ? nil : "computing…"
        }
        return "computing channel \(step.key.channel): step \(step.step) of \(FeatureVisualizationSettings().steps)"
    }

    /// The maps pane in `w`: what each channel of the page looks for, as a grid of pictures
    /// optimized to excite them; the selected one framed.
    private func drawLookingFor(_ state: ExplorerState, _ pane: Rect, picture: Rect, header: String,
                                headerStyle: Terminal.Style) -> [(key: PictureKey, image: TerminalImage)] {
        let page = state.featurePage
        let ready = page.filter { state.feature(channel: $0) != nil }
        terminal.put(header + ": what channels \(page.lowerBound)-\(page.upperBound - 1) look for  ch \(state.channel)  \(ready.count)/\(page.count) ready",
                     row: pane.row, column: pane.column, width: pane.columns, style: headerStyle)
        let status = featureStatus(state, channels: Array(page)) ?? "activation maximization, kept in the cache  (w: maps)"
        terminal.put(status, row: picture.bottom, column: pane.column, width: pane.columns,
                     style: page.contains { state.featureError(channel: $0) != nil } ? .alert : .plain)
        guard !ready.isEmpty else { return [] }
        let size = state.network.input
        let key = PictureKey(what: "looks \(state.selectedLayer) \(page) \(ready) \(state.channel)", subjects: [],
                             network: state.loaded.key, rect: picture)
        guard let drawn = self.picture(key, make: {
            let tiles = page.map { channel -> Raster in
                var tile = state.feature(channel: channel).map(Raster.init)
                    ?? Raster(width: size.width, height: size.height, fill: RGB(32, 32, 32))
                if channel == state.channel { tile.frame(width: max(2, size.width / 40), color: RGB(255, 255, 255)) }
                return tile
            }
            return Raster.grid(tiles, columns: 4, gap: max(2, size.width / 28))
        }) else { return [] }
        return [drawn]
    }

    /// The maps pane in `x`: the selected channel's map of the first image, what it looks for,
    /// and its top images of the first image's folder, each cropped to where it fires.
    private func drawExamples(_ state: ExplorerState, _ pane: Rect, picture: Rect, header: String,
                              headerStyle: Terminal.Style) -> [(key: PictureKey, image: TerminalImage)] {
        let folder = state.examplesKey.map { URL(fileURLWithPath: $0.folder).lastPathComponent } ?? ""
        let examples = state.examples
        var line = header + " ch \(state.channel): map, looks for, top of \(folder)/"
        if let examples, examples.isFinished, examples.error == nil { line += " (\(examples.indexed) images)" }
        terminal.put(line, row: pane.row, column: pane.column, width: pane.columns, style: headerStyle)
        var status: String
        var alert = false
        if let error = examples?.error {
            status = error
            alert = true
        } else if let progress = examples?.progress {
            status = "indexing \(folder)/: \(progress.done) of \(progress.total) images"
        } else if let examples, examples.isFinished {
            status = examples.examples.prefix(4).map { String(format: "%.3g ", $0.value) + URL(fileURLWithPath: $0.image).lastPathComponent }
                .joined(separator: "  ")
        } else {
            status = "reading the index of \(folder)/…"
        }
        if let feature = featureStatus(state, channels: [state.channel]) { status = feature + "  " + status }
        terminal.put(status, row: picture.bottom, column: pane.column, width: pane.columns, style: alert ? .alert : .plain)
        guard let result = state.analysis(slot: 0)?.result else { return [] }
        let optimized = state.feature(channel: state.channel)
        let crops = examples?.isFinished == true ? examples?.crops ?? [] : []
        let key = PictureKey(what: "examples \(state.selectedLayer) \(state.channel) \(optimized != nil) \(crops.count) \(state.colormap)",
                             subjects: state.keys.prefix(1).map { $0 }, network: state.loaded.key, rect: picture)
        guard let drawn = self.picture(key, make: {
            let input = state.network.input
            let maps = FeatureMaps(result, layer: state.selectedLayer, shape: state.selectedShape)
            let map = maps.picture(channel: state.channel, normalization: .perChannel, colormap: state.colormap,
                                   scale: max(1, input.width / max(maps.width, 1)))
            let looks = optimized.map(Raster.init) ?? Raster(width: map.width, height: map.height, fill: RGB(32, 32, 32))
            let left = Raster.grid([map, looks], columns: 2, gap: 8)
            guard !crops.isEmpty else { return left }
            let side = ChannelExamples.cropSize
            let tiles = crops.map(Raster.init) + Array(repeating: Raster(width: side, height: side), count: (3 - crops.count % 3) % 3)
            return Raster.sideBySide(left, Raster.grid(tiles, columns: 3, gap: 4), gap: 12)
        }) else { return [] }
        return [drawn]
    }

    /// The maps pane explaining (`e`): the attribution map of the chosen class over each image.
    private func drawExplanation(_ state: ExplorerState, _ pane: Rect, picture: Rect,
                                 headerStyle: Terminal.Style) -> [(key: PictureKey, image: TerminalImage)] {
        let labels = state.loaded.labels
        let explanations = state.keys.indices.map { state.explanation(slot: $0) }
        let maps = explanations.compactMap { $0?.map }
        var header = "why: \(state.method.rawValue)"
        if let layer = maps.first?.layer { header += " of layer \(layer)" }
        header += " for " + (state.explainedClass.map { labels[$0] } ?? "the top-1")
        header += maps.map { String(format: "  %@ %.2f%%", labels[$0.classIndex], $0.probability * 100) }.joined()
        terminal.put(header, row: pane.row, column: pane.column, width: pane.columns, style: headerStyle)
        if let failed = explanations.lazy.compactMap({ $0?.error }).first {
            terminal.put(failed, row: picture.row, column: pane.column, width: pane.columns, style: .alert)
            return []
        }
        guard maps.count == explanations.count else {
            let progress = explanations.lazy.compactMap { $0?.progress }.first
            let done = progress.map { $0.total > 1 ? String(format: " %.0f%% (%d of %d passes)", $0.fraction * 100, $0.completed, $0.total) : "" } ?? ""
            terminal.put("computing \(state.method.rawValue)…" + done, row: picture.row, column: pane.column, width: pane.columns)
            return []
        }
        let images = explanations.compactMap { $0?.image }
        let scale = "0 … \(String(format: "%.3g", maps.map(\.displayRange.upperBound).max() ?? 0))  evidence  \(state.colormap.rawValue)"
        let what = "why \(state.method) \(String(describing: state.explainedClass)) \(state.colormap)"
        let key = PictureKey(what: what, subjects: state.keys, rect: picture)
        var pictures: [(key: PictureKey, image: TerminalImage)] = []
        if let drawn = self.picture(key, make: {
            let blended = zip(maps, images).map { $0.picture(over: $1, colormap: state.colormap) }
            return blended.dropFirst().reduce(blended[0]) { Raster.sideBySide($0, $1, gap: 8) }
        }) { pictures.append(drawn) }
        return pictures + drawScale(scale, colormap: state.colormap, row: picture.bottom, in: pane)
    }

    /// The networks view (`N`): each network's top-5 for the image and its forward time, side by side.
    private func drawNetworks(_ view: NetworksView, _ layout: Layout) {
        let image = URL(fileURLWithPath: view.image.path).lastPathComponent
        terminal.put("networks on \(image): top-5 and forward time (ms, median of warm passes)", row: 1, column: 0,
                     width: layout.columns, style: .heading)
        if view.noneTrained {
            terminal.put("no network has weights: all run on random weights (untrained)", row: 2, column: 0,
                         width: layout.columns, style: .alert)
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
                             width: layout.columns, style: .heading)
                break
            }
            terminal.put(run.name, row: top, column: left, width: width - 1, style: .heading)
            if let error = run.error {
                terminal.put(error, row: top + 1, column: left, width: width - 1, style: .alert)
                continue
            }
            let untrained = run.untrained ? " untrained" : ""
            guard let milliseconds = run.milliseconds else {
                terminal.put("computing…" + untrained, row: top + 1, column: left, width: width - 1)
                continue
            }
            let time = String(format: "%.2f ms", milliseconds)
            terminal.put(time, row: top + 1, column: left, width: width - 1)
            if run.untrained {
                terminal.put(untrained, row: top + 1, column: left + time.count, width: max(0, width - 1 - time.count), style: .alert)
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
        let y = row - key.rect.row, x = column - key.rect.column
        guard x >= 0, y >= 0, x < image.columns, y < image.cellRows else { return nil }
        let tileColumns = FeatureMaps.gridColumns(page.count)
        let tileRows = (page.count + tileColumns - 1) / tileColumns
        let channel = page.lowerBound + y * tileRows / image.cellRows * tileColumns + x * tileColumns / image.columns
        return page.contains(channel) ? channel : nil
    }

    /// How many channel tiles fit the picture area legibly, and which page holds the channel.
    private func pageRange(channels: Int, channel: Int, picture: Rect) -> Range<Int> {
        let capacity = max(1, (picture.columns / 4) * max(1, picture.rows / 2))
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
        guard state.keys.count == 2, let other = state.analysis(slot: 1)?.result else { return nil }
        let right = FeatureMaps(other, layer: state.selectedLayer, shape: maps.shape)
        return maps.comparison(with: right, channel: state.channel, normalization: state.normalization,
                               colormap: state.colormap, scale: scale)
    }

    /// The predictions pane: each image's name, its top-5 (as many as fit), and, room permitting, the image itself.
    private func drawSide(_ state: ExplorerState, _ layout: Layout) -> [(key: PictureKey, image: TerminalImage)] {
        let side = layout.side
        var row = side.row
        var pictures: [(key: PictureKey, image: TerminalImage)] = []
        let perSlot = max(1, (side.rows / max(1, state.keys.count)) - 1)
        for slot in state.keys.indices {
            guard row < side.bottom else { break }
            let path = state.keys[slot].image.path
            let name = (state.compare ? (slot == 0 ? "A " : "B ") : "") + URL(fileURLWithPath: path).lastPathComponent
            terminal.put(name, row: row, column: side.column, width: side.columns, style: .heading)
            row += 1
            let analysis = state.analysis(slot: slot)
            if let error = analysis?.error {
                terminal.put(Screen.short(error, path: path), row: row, column: side.column, width: side.columns, style: .alert)
                row += 1
                continue
            }
            let predictions = state.predictions(slot: slot)
            for prediction in predictions.prefix(min(5, perSlot)) where row < side.bottom {
                let percent = String(format: "%5.2f%%", prediction.probability * 100)
                let barWidth = 6
                let length = Int((Double(prediction.probability) * Double(barWidth)).rounded(.up))
                let bar = String(repeating: terminal.capabilities.unicode ? "▮" : "#", count: min(barWidth, length))
                    .padding(toLength: barWidth, withPad: " ", startingAt: 0)
                terminal.put("\(percent) \(bar) \(prediction.name)", row: row, column: side.column, width: side.columns)
                row += 1
            }
            if analysis == nil && row < side.bottom {
                terminal.put("computing…", row: row, column: side.column, width: side.columns)
                row += 1
            }
        }
        let room = side.bottom - row - 1
        if !state.compare, room >= 4, let analysis = state.analysis(slot: 0), let input = analysis.input {
            let key = PictureKey(what: "input", subjects: [analysis.key],
                                 rect: Rect(row: row + 1, column: side.column, rows: room, columns: side.columns))
            if let drawn = picture(key, make: { Raster(input) }) { pictures.append(drawn) }
        }
        return pictures
    }

    /// An error about a file, naming it by its name alone, as the pane around it does.
    static func short(_ error: String, path: String) -> String {
        error.replacingOccurrences(of: path, with: URL(fileURLWithPath: path).lastPathComponent)
    }

    private func drawStatus(_ state: ExplorerState, _ layout: Layout) {
        let row = layout.rows - 1
        if let prompt = state.prompt {
            terminal.put(prompt.label + prompt.text, row: row, column: 0, style: .title)
            return
        }
        let keys = state.networks == nil ? Bindings.statusLine : "N Esc close  [ ] image  ? keys  q quit"
        terminal.put(state.message ?? keys, row: row, column: 0, style: state.message == nil ? .dim : .notice)
    }

    /// The key list over the screen; as much of it as fits the terminal.
    private func drawHelp(_ layout: Layout) {
        let width = min(layout.columns - 2, 100)
        let labelWidth = 16
        var lines: [String] = []
        for binding in Bindings.all {
            var summary = Substring(binding.summary)
            var label = binding.label
            // Wrapped at words, under the description's column.
            repeat {
                let room = max(10, width - labelWidth - 3)
                var cut = summary.index(summary.startIndex, offsetBy: min(room, summary.count))
                if cut < summary.endIndex, let space = summary[..<cut].lastIndex(of: " ") { cut = space }
                lines.append("  " + label.padding(toLength: labelWidth, withPad: " ", startingAt: 0) + summary[..<cut])
                summary = summary[cut...].drop { $0 == " " }
                label = ""
            } while !summary.isEmpty
        }
        let room = layout.rows - 4
        if lines.count > room {
            lines = Array(lines.prefix(max(0, room - 1))) + ["  … enlarge the terminal for every key (man darkscope)"]
        }
        let top = max(1, (layout.rows - lines.count - 3) / 2)
        let left = max(0, (layout.columns - width) / 2)
        for row in top..<min(layout.rows - 1, top + lines.count + 3) { terminal.fill(row: row, column: left, width: width, style: .title) }
        terminal.put(" darkscope keys (any key closes) ", row: top, column: left + 2, width: width - 2, style: .selected)
        for (offset, line) in lines.enumerated() {
            terminal.put(line, row: top + 2 + offset, column: left, width: width, style: .title)
        }
    }
}
