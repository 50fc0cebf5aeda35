import CChafa

/// How pictures are drawn in the terminal.
public enum PixelMode: String, CaseIterable, Sendable {
    /// Unicode block, quadrant and sextant symbols.
    case symbols
    /// Printable ASCII only.
    case ascii
    /// DEC sixel graphics.
    case sixel
}

/// How many colours the terminal shows.
public enum ColorDepth: String, CaseIterable, Sendable {
    case truecolor
    case indexed256 = "256"
    case indexed16 = "16"
    /// No colour: shapes only (`NO_COLOR`, or a monochrome terminal).
    case none
}

/// A picture encoded for a terminal by libchafa.
public struct TerminalImage: Sendable {
    /// For symbols and ASCII: one string per text row, each with its colour escapes and a
    /// closing reset. For sixel: a single string, the whole sixel sequence.
    public var rows: [String]
    public var columns: Int
    /// Text rows the picture covers (for a sixel too).
    public var cellRows: Int
    public var mode: PixelMode

    /// Encodes `raster` to fill `columns × rows` cells at most, aspect kept, with cells
    /// `cellWidth × cellHeight` pixels (the font's size; it sets the sixel resolution).
    public init(_ raster: Raster, columns: Int, rows: Int, mode: PixelMode, colors: ColorDepth,
                cellWidth: Int = 10, cellHeight: Int = 20) {
        let (fitColumns, fitRows) = TerminalImage.fit(raster, columns: columns, rows: rows, cellWidth: cellWidth, cellHeight: cellHeight)
        let config = chafa_canvas_config_new()!
        defer { chafa_canvas_config_unref(config) }
        chafa_canvas_config_set_geometry(config, Int32(fitColumns), Int32(fitRows))
        chafa_canvas_config_set_cell_geometry(config, Int32(cellWidth), Int32(cellHeight))
        chafa_canvas_config_set_canvas_mode(config, TerminalImage.canvasMode(colors))
        chafa_canvas_config_set_pixel_mode(config, mode == .sixel ? CHAFA_PIXEL_MODE_SIXELS : CHAFA_PIXEL_MODE_SYMBOLS)
        let symbols = chafa_symbol_map_new()!
        defer { chafa_symbol_map_unref(symbols) }
        let tags = mode == .ascii
            ? CHAFA_SYMBOL_TAG_ASCII
            : ChafaSymbolTags(CHAFA_SYMBOL_TAG_BLOCK.rawValue | CHAFA_SYMBOL_TAG_QUAD.rawValue | CHAFA_SYMBOL_TAG_SEXTANT.rawValue
                | CHAFA_SYMBOL_TAG_HALF.rawValue | CHAFA_SYMBOL_TAG_SPACE.rawValue | CHAFA_SYMBOL_TAG_SOLID.rawValue)
        chafa_symbol_map_add_by_tags(symbols, tags)
        chafa_canvas_config_set_symbol_map(config, symbols)
        let canvas = chafa_canvas_new(config)!
        defer { chafa_canvas_unref(canvas) }
        raster.pixels.withUnsafeBufferPointer {
            chafa_canvas_draw_all_pixels(canvas, CHAFA_PIXEL_RGBA8_UNASSOCIATED, $0.baseAddress,
                                         Int32(raster.width), Int32(raster.height), Int32(raster.width * 4))
        }
        let printed = chafa_canvas_print(canvas, nil)!
        let text = String(cString: ds_gstring_text(printed))
        ds_gstring_free(printed)
        self.columns = fitColumns
        self.cellRows = fitRows
        self.mode = mode
        if mode == .sixel {
            self.rows = [text]
        } else {
            self.rows = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0 + "\u{1B}[0m" }
                .prefix(fitRows).map { $0 }
        }
    }

    /// The largest cell area inside `columns × rows` with the raster's aspect ratio.
    static func fit(_ raster: Raster, columns: Int, rows: Int, cellWidth: Int, cellHeight: Int) -> (Int, Int) {
        let aspect = Double(raster.width) / Double(max(raster.height, 1))
        let cellAspect = Double(cellWidth) / Double(cellHeight)
        var fitColumns = columns
        var fitRows = Int((Double(fitColumns) * cellAspect / aspect).rounded())
        if fitRows > rows {
            fitRows = rows
            fitColumns = Int((Double(fitRows) * aspect / cellAspect).rounded())
        }
        return (max(1, min(fitColumns, columns)), max(1, min(fitRows, rows)))
    }

    private static func canvasMode(_ colors: ColorDepth) -> ChafaCanvasMode {
        switch colors {
        case .truecolor: CHAFA_CANVAS_MODE_TRUECOLOR
        case .indexed256: CHAFA_CANVAS_MODE_INDEXED_240
        case .indexed16: CHAFA_CANVAS_MODE_INDEXED_16
        case .none: CHAFA_CANVAS_MODE_FGBG
        }
    }

    /// Everything as one string, rows separated by newlines (for printing to stdout).
    public var text: String { mode == .sixel ? rows[0] : rows.joined(separator: "\n") }
}
