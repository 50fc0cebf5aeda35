import CNcurses
import Foundation
import Microscope
import Render
import Synchronization

/// Why the explorer cannot start on this terminal.
public struct TerminalUnusable: Error, CustomStringConvertible {
    public var description: String
}

/// The terminal as the explorer uses it: ncursesw for text, raw escapes for pictures.
final class Terminal {
    let capabilities: TerminalCapabilities
    private let screen: OpaquePointer

    /// Refuses terminals the explorer cannot draw on, with a message saying why.
    static func checkUsable(environment: [String: String]) throws {
        guard isatty(STDIN_FILENO) != 0, isatty(STDOUT_FILENO) != 0 else {
            throw TerminalUnusable(description: "the explorer needs a terminal: standard input and output must be a TTY (for scripts, use `darkscope classify` or `darkscope show`)")
        }
        let term = environment["TERM"] ?? ""
        guard !term.isEmpty, term != "dumb", term != "unknown" else {
            throw TerminalUnusable(description: "TERM=\(term.isEmpty ? "(unset)" : term) cannot draw the explorer's screen; run it in a terminal such as xterm, or set TERM (for scripts, use `darkscope classify` or `darkscope show`)")
        }
        var rows: Int32 = 0, columns: Int32 = 0, xpixels: Int32 = 0, ypixels: Int32 = 0
        if ds_window_size(STDOUT_FILENO, &rows, &columns, &xpixels, &ypixels) == 0, rows > 0, rows < 10 || columns < 20 {
            throw TerminalUnusable(description: "the terminal is too small (\(columns)x\(rows)); the explorer needs at least \(Layout.minimumColumns)x\(Layout.minimumRows)")
        }
    }

    init(environment: [String: String], forcedMode: PixelMode?, forcedColors: ColorDepth?) throws {
        setlocale(LC_ALL, "")
        let unicode = TerminalCapabilities.localeIsUTF8
        let detected = forcedMode == nil ? TerminalCapabilities.detectGraphics(fd: STDIN_FILENO, environment: environment) : nil
        let mode = forcedMode ?? detected ?? (unicode ? .symbols : .ascii)
        let sixelLimit = mode == .sixel ? TerminalCapabilities.sixelLimit(fd: STDIN_FILENO) : nil
        var rows: Int32 = 0, columns: Int32 = 0, xpixels: Int32 = 0, ypixels: Int32 = 0
        _ = ds_window_size(STDOUT_FILENO, &rows, &columns, &xpixels, &ypixels)
        let cellWidth = columns > 0 && xpixels > 0 ? Int(xpixels / columns) : 10
        let cellHeight = rows > 0 && ypixels > 0 ? Int(ypixels / rows) : 20
        Terminal.saveModes()
        guard let screen = newterm(nil, stdout, stdin) else {
            throw TerminalUnusable(description: "ncurses cannot drive TERM=\(environment["TERM"] ?? "") (is its terminfo entry installed?)")
        }
        self.screen = screen
        set_term(screen)
        cbreak()
        noecho()
        keypad(stdscr, true)
        set_escdelay(25)
        curs_set(0)
        mousemask(ds_mouse_events(), nil)
        mouseinterval(0)
        var colors = forcedColors ?? TerminalCapabilities.colorDepth(environment: environment, terminfoColors: Int(tigetnum("colors")))
        if has_colors() {
            start_color()
            use_default_colors()
            for style in Style.allCases {
                guard let (foreground, background) = style.colors else { continue }
                init_pair(style.pair, foreground, background)
            }
        } else {
            colors = .none
        }
        pixelMode = mode
        capabilities = TerminalCapabilities(colors: colors, unicode: unicode && mode != .ascii, sixel: mode == .sixel,
                                            cellWidth: max(cellWidth, 1), cellHeight: max(cellHeight, 1), sixelLimit: sixelLimit)
        Terminal.drawsKittyPictures = mode == .kitty
        Terminal.installSignalHandlers()
    }

    let pixelMode: PixelMode

    func restore() {
        erasePlacedImages()
        endwin()
        delscreen(screen)
    }

    var rows: Int { Int(LINES) }
    var columns: Int { Int(COLS) }

    /// The next key, or nil when none came within the poll interval.
    /// `wait`: at most the poll interval; otherwise only a key already typed.
    func readKey(wait: Bool = true) -> Key? {
        wtimeout(stdscr, wait ? 30 : 0)
        var character: wint_t = 0
        let kind = wget_wch(stdscr, &character)
        if kind == ERR { return nil }
        if kind == KEY_CODE_YES {
            switch Int32(character) {
            case KEY_UP: return .up
            case KEY_DOWN: return .down
            case KEY_LEFT: return .left
            case KEY_RIGHT: return .right
            case KEY_NPAGE: return .pageDown
            case KEY_PPAGE: return .pageUp
            case KEY_HOME: return .home
            case KEY_END: return .end
            case KEY_ENTER: return .enter
            case KEY_BACKSPACE: return .backspace
            case KEY_RESIZE: return .resize
            case KEY_MOUSE:
                var event = MEVENT()
                guard getmouse(&event) == OK else { return nil }
                if ds_mouse_is_wheel_up(event.bstate) != 0 { return .wheelUp }
                if ds_mouse_is_wheel_down(event.bstate) != 0 { return .wheelDown }
                if ds_mouse_is_click(event.bstate) != 0 { return .click(row: Int(event.y), column: Int(event.x)) }
                return nil
            default: return nil
            }
        }
        switch character {
        case 9: return .tab
        case 10, 13: return .enter
        case 27: return .escape
        case 8, 127: return .backspace
        default:
            guard let scalar = Unicode.Scalar(UInt32(character)) else { return nil }
            return .character(Character(scalar))
        }
    }

    func clear() { werase(stdscr) }

    /// What a piece of text is, which decides how it looks.
    enum Style: CaseIterable {
        case plain, heading, title, selected, selectedInactive, dim
        /// Something wrong the user must see: an error, random weights.
        case alert
        /// A measured share, as the bars of the time column.
        case measure
        /// What just happened, on the status line.
        case notice

        /// The colour pair's foreground and background, for styles that have one.
        var colors: (Int16, Int16)? {
            switch self {
            case .alert: (Int16(COLOR_WHITE), Int16(COLOR_RED))
            case .measure: (Int16(COLOR_GREEN), -1)
            case .notice: (Int16(COLOR_YELLOW), -1)
            default: nil
            }
        }

        var pair: Int16 { Int16(Style.allCases.firstIndex(of: self)! + 1) }

        var attributes: attr_t {
            switch self {
            case .plain: 0
            case .heading: ds_attr_bold()
            case .title: ds_attr_reverse()
            case .selected: ds_attr_reverse() | ds_attr_bold()
            case .selectedInactive: ds_attr_reverse()
            case .dim: ds_attr_dim()
            case .alert: ds_attr_bold() | ds_color_pair(Int32(pair))
            case .measure, .notice: ds_color_pair(Int32(pair))
            }
        }
    }

    /// Writes `text` at a cell, cut to `width` columns.
    func put(_ text: String, row: Int, column: Int, width: Int? = nil, style: Style = .plain) {
        let attributes = style.attributes
        guard row >= 0, row < rows, column >= 0, column < columns else { return }
        let room = min(width ?? columns - column, columns - column)
        guard room > 0 else { return }
        let clipped = String(text.prefix(room))
        if attributes != 0 { wattron(stdscr, Int32(bitPattern: attributes)) }
        mvwaddstr(stdscr, Int32(row), Int32(column), clipped)
        if attributes != 0 { wattroff(stdscr, Int32(bitPattern: attributes)) }
    }

    /// Fills a row segment with blanks in the given attributes (for highlighted rows).
    func fill(row: Int, column: Int, width: Int, style: Style) {
        put(String(repeating: " ", count: max(0, width)), row: row, column: column, width: width, style: style)
    }

    /// Makes ncurses repaint rows it thinks are blank, erasing a picture drawn there.
    func invalidate(rows range: Range<Int>) {
        guard !range.isEmpty else { return }
        wredrawln(stdscr, Int32(range.lowerBound), Int32(range.count))
    }

    func refresh() { wrefresh(stdscr) }

    /// kitty pictures on the screen now: kitty keeps an image over the cells until it is
    /// deleted, whatever text is written there (sixel and iTerm2 pictures go when ncurses
    /// repaints their rows).
    private var placedKittyImages: [UInt32] = []

    /// Draws pictures over what ncurses drew, after deleting the kitty pictures drawn before,
    /// restoring the cursor so ncurses' idea of it holds.
    func drawPictures(_ pictures: [(image: TerminalImage, row: Int, column: Int)]) {
        guard !pictures.isEmpty || !placedKittyImages.isEmpty else { return }
        var out = "\u{1B}7" + kittyDeletions()
        for picture in pictures {
            if picture.image.mode.drawsPixels {
                out += "\u{1B}[\(picture.row + 1);\(picture.column + 1)H" + picture.image.rows[0]
            } else {
                for (offset, line) in picture.image.rows.enumerated() {
                    out += "\u{1B}[\(picture.row + offset + 1);\(picture.column + 1)H" + line
                }
            }
        }
        placedKittyImages = pictures.compactMap(\.image.kittyID)
        out += "\u{1B}8"
        fputs(out, stdout)
        fflush(stdout)
    }

    /// Deletes the placed kitty pictures and their data (`d=I`), quietly.
    private func kittyDeletions() -> String {
        placedKittyImages.map { "\u{1B}_Ga=d,d=I,i=\($0),q=2\u{1B}\\" }.joined()
    }

    private func erasePlacedImages() {
        guard !placedKittyImages.isEmpty else { return }
        fputs(kittyDeletions(), stdout)
        fflush(stdout)
        placedKittyImages = []
    }

    // MARK: Leaving the terminal as it was, whatever happens

    nonisolated(unsafe) private static var savedModes = termios()
    nonisolated(unsafe) private static var haveSavedModes = false
    /// Whether pictures are kitty's, for the crash handler, which can reach only statics.
    nonisolated(unsafe) private static var drawsKittyPictures = false
    /// The signal (SIGINT, SIGTERM or SIGHUP) that asked the explorer to stop, or 0; the
    /// main loop ends when it sees one.
    static let stopRequested = Atomic<Int32>(0)

    private static func saveModes() {
        haveSavedModes = tcgetattr(STDIN_FILENO, &savedModes) == 0
    }

    private static func installSignalHandlers() {
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            Foundation.signal(signal) { number in Terminal.stopRequested.store(number, ordering: .relaxed) }
        }
        // On a crash: leave the alternate screen, show the cursor, stop mouse reports,
        // restore the tty modes, then die of the same signal.
        for signal in [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE] {
            Foundation.signal(signal) { number in
                // kitty's pictures first (all those placed on the alternate screen): it keeps
                // images until told to delete them. Literals only: nothing allocated here.
                if Terminal.drawsKittyPictures {
                    _ = "\u{1B}_Ga=d,d=A,q=2\u{1B}\\".withCString { write(STDOUT_FILENO, $0, strlen($0)) }
                }
                let reset = "\u{1B}[0m\u{1B}[?1000l\u{1B}[?1002l\u{1B}[?1006l\u{1B}[?25h\u{1B}[?1049l\r\n"
                _ = reset.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
                if Terminal.haveSavedModes { tcsetattr(STDIN_FILENO, TCSANOW, &Terminal.savedModes) }
                Foundation.signal(number, SIG_DFL)
                raise(number)
            }
        }
    }
}
