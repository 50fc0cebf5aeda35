import CChafa
import Synchronization

/// How pictures are drawn in the terminal.
public enum PixelMode: String, CaseIterable, Sendable {
    /// Unicode block, quadrant and sextant symbols.
    case symbols
    /// Printable ASCII only.
    case ascii
    /// DEC sixel graphics.
    case sixel
    /// kitty's graphics protocol: RGBA pixels in base64 chunks, placed by image id.
    case kitty
    /// iTerm2's inline images: an image file (libchafa writes a TIFF) in base64.
    case iterm2

    /// Whether the terminal draws the picture from pixels over the cells, rather than as text.
    public var drawsPixels: Bool { self == .sixel || self == .kitty || self == .iterm2 }
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
    /// closing reset. For sixel, kitty and iTerm2: a single string, the whole sequence.
    public var rows: [String]
    public var columns: Int
    /// Text rows the picture covers (for pixels too).
    public var cellRows: Int
    public var mode: PixelMode
    /// The id a kitty picture is transmitted under, to delete it by when the screen changes.
    public var kittyID: UInt32?

    /// Encodes `raster` to fill `columns × rows` cells at most, aspect kept, with cells
    /// `cellWidth × cellHeight` pixels (the font's size; it sets the pixel modes' resolution).
    public init(_ raster: Raster, columns: Int, rows: Int, mode: PixelMode, colors: ColorDepth,
                cellWidth: Int = 10, cellHeight: Int = 20) {
        let (fitColumns, fitRows) = TerminalImage.fit(raster, columns: columns, rows: rows, cellWidth: cellWidth, cellHeight: cellHeight)
        self.init(encoding: raster, columns: fitColumns, rows: fitRows, mode: mode, colors: colors,
                  cellWidth: cellWidth, cellHeight: cellHeight, kittyID: mode == .kitty ? TerminalImage.newKittyID() : nil,
                  ownSize: false)
    }

    /// Encodes `raster` pixel for pixel in a pixel mode (sixel, kitty, iTerm2), for the
    /// terminal to show at its own size in pixels: what `show` prints.
    public init(pixelsOf raster: Raster, mode: PixelMode) {
        precondition(mode.drawsPixels, "\(mode) is drawn with text, not pixels")
        self.init(encoding: raster, columns: raster.width, rows: raster.height, mode: mode, colors: .truecolor,
                  cellWidth: 1, cellHeight: 1, kittyID: nil, ownSize: true)
    }

    private init(encoding raster: Raster, columns: Int, rows: Int, mode: PixelMode, colors: ColorDepth,
                 cellWidth: Int, cellHeight: Int, kittyID: UInt32?, ownSize: Bool) {
        let config = chafa_canvas_config_new()!
        defer { chafa_canvas_config_unref(config) }
        chafa_canvas_config_set_geometry(config, Int32(columns), Int32(rows))
        chafa_canvas_config_set_cell_geometry(config, Int32(cellWidth), Int32(cellHeight))
        // Pixels carry their own colours, whatever colours the terminal's text has.
        chafa_canvas_config_set_canvas_mode(config, TerminalImage.canvasMode(mode.drawsPixels ? .truecolor : colors))
        chafa_canvas_config_set_pixel_mode(config, TerminalImage.chafaPixelMode(mode))
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
        let termInfo = TerminalImage.termInfo(kittyID: kittyID, ownSize: ownSize)
        defer { chafa_term_info_unref(termInfo) }
        let printed = chafa_canvas_print(canvas, termInfo)!
        var text = String(cString: ds_gstring_text(printed))
        ds_gstring_free(printed)
        if (mode == .kitty || mode == .iterm2) && TerminalImage.chafaMiscodesBase64 {
            text = TerminalImage.repairingBase64Ends(text)
        }
        if ownSize && mode == .kitty {
            // libchafa's kitty header always names the cells to scale the picture to (c, r: a
            // template must use every argument); shown at its own size it names none. Base64
            // holds no comma, so only the header matches.
            text = text.replacingOccurrences(of: ",c=\(columns),r=\(rows),", with: ",")
        }
        self.columns = columns
        self.cellRows = rows
        self.mode = mode
        self.kittyID = kittyID
        if mode.drawsPixels {
            self.rows = [text]
        } else {
            self.rows = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0 + "\u{1B}[0m" }
                .prefix(rows).map { $0 }
        }
    }

    /// libchafa's fallback sequences, with kitty's made quiet (a terminal's reply would reach
    /// the explorer as keys) and carrying the image's id; with `ownSize`, kitty and iTerm2 show
    /// the pixels at their own size instead of scaling them to the cells.
    private static func termInfo(kittyID: UInt32?, ownSize: Bool) -> OpaquePointer {
        let info = chafa_term_db_get_fallback_info(chafa_term_db_get_default())!
        let id = kittyID.map { ",i=\($0)" } ?? ""
        var sequences: [(ChafaTermSeq, String)] = [
            (CHAFA_TERM_SEQ_BEGIN_KITTY_IMMEDIATE_IMAGE_V1, "\u{1B}_Ga=T,f=%1,s=%2,v=%3,c=%4,r=%5\(id),q=2,m=1\u{1B}\\"),
            (CHAFA_TERM_SEQ_BEGIN_KITTY_IMAGE_CHUNK, "\u{1B}_Gm=1,q=2;"),
            (CHAFA_TERM_SEQ_END_KITTY_IMAGE, "\u{1B}_Gm=0,q=2\u{1B}\\"),
        ]
        if ownSize {
            sequences.append((CHAFA_TERM_SEQ_BEGIN_ITERM2_IMAGE, "\u{1B}]1337;File=inline=1;width=%1px;height=%2px;preserveAspectRatio=0:"))
        }
        for (sequence, template) in sequences {
            let accepted = chafa_term_info_set_seq(info, sequence, template, nil)
            precondition(accepted != 0, "libchafa refused the sequence \(template.debugDescription)")
        }
        return info
    }

    /// libchafa before 1.16 ends base64 whose last group holds two bytes with the second
    /// byte's low 4 bits instead of those bits shifted left by 2 (fixed upstream in f08d59c):
    /// each 512-byte kitty chunk loses its last byte (an alpha: 255 turns 243), an iTerm2
    /// file its last. The lost bits are all in that character, so it can be rewritten.
    static let chafaMiscodesBase64 = CHAFA_MAJOR_VERSION == 1 && CHAFA_MINOR_VERSION < 16

    /// Rewrites the character before each single `=` that ends a base64 run (at kitty's ESC
    /// or iTerm2's BEL) as the correct encoder writes it.
    static func repairingBase64Ends(_ text: String) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var bytes = Array(text.utf8)
        for i in bytes.indices.dropFirst(2).dropLast()
        where bytes[i] == UInt8(ascii: "=") && bytes[i - 1] != UInt8(ascii: "=") && (bytes[i + 1] == 0x1B || bytes[i + 1] == 0x07) {
            guard let miscoded = alphabet.firstIndex(of: bytes[i - 1]) else { continue }
            bytes[i - 1] = alphabet[(miscoded << 2) & 0x3C]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// kitty ids for the explorer's pictures, distinct so that one never replaces another.
    private static let kittyIDs = Atomic<UInt32>(0)

    private static func newKittyID() -> UInt32 {
        let id = kittyIDs.wrappingAdd(1, ordering: .relaxed).newValue
        return id == 0 ? newKittyID() : id
    }

    private static func chafaPixelMode(_ mode: PixelMode) -> ChafaPixelMode {
        switch mode {
        case .symbols, .ascii: CHAFA_PIXEL_MODE_SYMBOLS
        case .sixel: CHAFA_PIXEL_MODE_SIXELS
        case .kitty: CHAFA_PIXEL_MODE_KITTY
        case .iterm2: CHAFA_PIXEL_MODE_ITERM2
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
    public var text: String { mode.drawsPixels ? rows[0] : rows.joined(separator: "\n") }
}
