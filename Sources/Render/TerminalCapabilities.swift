import CChafa
import Foundation

/// What the terminal can show, from the environment, terminfo and the terminal's own replies.
public struct TerminalCapabilities: Sendable {
    public var colors: ColorDepth
    /// Whether the locale is UTF-8, so Unicode symbols can be used.
    public var unicode: Bool
    public var sixel: Bool
    /// Pixel size of one cell, from TIOCGWINSZ where the terminal reports it.
    public var cellWidth: Int
    public var cellHeight: Int
    /// The largest sixel the terminal draws, in pixels (XTSMGRAPHICS), when it says.
    public var sixelLimit: (width: Int, height: Int)?

    public init(colors: ColorDepth, unicode: Bool, sixel: Bool, cellWidth: Int = 10, cellHeight: Int = 20,
                sixelLimit: (width: Int, height: Int)? = nil) {
        self.colors = colors
        self.unicode = unicode
        self.sixel = sixel
        self.sixelLimit = sixelLimit
        self.cellWidth = cellWidth
        self.cellHeight = cellHeight
    }

    /// `NO_COLOR` wins; then `COLORTERM=truecolor|24bit`; then terminfo's colour count
    /// (`terminfoColors`, or a guess from `TERM` when not given).
    public static func colorDepth(environment: [String: String], terminfoColors: Int? = nil) -> ColorDepth {
        if let noColor = environment["NO_COLOR"], !noColor.isEmpty { return .none }
        if let colorterm = environment["COLORTERM"], ["truecolor", "24bit"].contains(colorterm.lowercased()) { return .truecolor }
        let term = environment["TERM"] ?? ""
        let count = terminfoColors ?? (term.contains("direct") ? 1 << 24 : term.contains("256") ? 256 : term == "dumb" || term.isEmpty ? 0 : 8)
        switch count {
        case (1 << 24)...: return .truecolor
        case 256...: return .indexed256
        case 8...: return .indexed16
        default: return .none
        }
    }

    /// Whether the C library's locale (after `setlocale(LC_ALL, "")`) encodes UTF-8.
    public static var localeIsUTF8: Bool {
        guard let codeset = nl_langinfo(nl_item(CODESET)) else { return false }
        let name = String(cString: codeset).uppercased()
        return name == "UTF-8" || name == "UTF8"
    }

    /// Whether the program runs inside tmux or GNU screen, which pass no pixel graphics
    /// through (tmux 3.3a drops sixel, and neither forwards kitty's or iTerm2's sequences).
    public static func insideMultiplexer(environment: [String: String]) -> Bool {
        let term = environment["TERM"] ?? ""
        return environment["TMUX"] != nil || environment["STY"] != nil || term.hasPrefix("tmux") || term.hasPrefix("screen")
    }

    /// The pixel protocol the environment names, read as chafa's own tool reads it on
    /// libchafa 1.12: libchafa's terminal database (`TERM=xterm-kitty`; `TERM_PROGRAM=iTerm.app`
    /// or `LC_TERMINAL=iTerm2`; sixel for WezTerm, foot, mlterm, contour, Konsole 22.04 on),
    /// kitty first, and kitty's own `KITTY_WINDOW_ID`, which survives a changed `TERM`.
    /// Nil inside a multiplexer, or where the environment names none.
    public static func graphics(environment: [String: String]) -> PixelMode? {
        if insideMultiplexer(environment: environment) { return nil }
        if let window = environment["KITTY_WINDOW_ID"], !window.isEmpty { return .kitty }
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        guard let info = envp.withUnsafeMutableBufferPointer({ chafa_term_db_detect(chafa_term_db_get_default(), $0.baseAddress) })
        else { return nil }
        defer { chafa_term_info_unref(info) }
        if chafa_term_info_have_seq(info, CHAFA_TERM_SEQ_BEGIN_KITTY_IMMEDIATE_IMAGE_V1) != 0 { return .kitty }
        if chafa_term_info_have_seq(info, CHAFA_TERM_SEQ_BEGIN_ITERM2_IMAGE) != 0 { return .iterm2 }
        if chafa_term_info_have_seq(info, CHAFA_TERM_SEQ_BEGIN_SIXELS) != 0,
           chafa_term_info_have_seq(info, CHAFA_TERM_SEQ_END_SIXELS) != 0 { return .sixel }
        return nil
    }

    /// The pixel protocol of the terminal on `fd`: the environment's (`graphics(environment:)`),
    /// else what the terminal answers, in one round trip, to a kitty graphics query (a 1×1
    /// image, id 31, action "query": only terminals with kitty graphics reply) followed by
    /// primary device attributes (DA1, which every terminal answers, so the wait ends; attribute
    /// 4 means sixel). Never asked inside a multiplexer, nor on the Linux console, which would
    /// print the kitty query.
    public static func detectGraphics(fd: Int32, environment: [String: String], timeout milliseconds: Int32 = 300) -> PixelMode? {
        if insideMultiplexer(environment: environment) { return nil }
        if let named = graphics(environment: environment) { return named }
        let kittyQuery = environment["TERM"] == "linux" ? "" : "\u{1B}_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\u{1B}\\"
        guard let reply = query(kittyQuery + "\u{1B}[c", fd: fd, timeout: milliseconds, isComplete: endsWithDeviceAttributes)
        else { return nil }
        return graphics(reply: reply)
    }

    /// The protocol a reply to `detectGraphics`' queries announces: kitty's "OK" for image 31
    /// first, then sixel in the device attributes.
    public static func graphics(reply: String) -> PixelMode? {
        if reply.contains("\u{1B}_Gi=31;OK") { return .kitty }
        guard let start = reply.range(of: "\u{1B}[?", options: .backwards) else { return nil }
        return reply[start.upperBound...].dropLast().split(separator: ";").contains("4") ? .sixel : nil
    }

    /// Whether `reply` ends with a DA1 answer, ESC [ ? digits and semicolons c (an error text of
    /// kitty's, before it, may hold a "c" of its own).
    static func endsWithDeviceAttributes(_ reply: [UInt8]) -> Bool {
        guard reply.last == UInt8(ascii: "c"), let escape = reply.lastIndex(of: 0x1B) else { return false }
        let body = reply[(escape + 1)...].dropLast()
        return body.starts(with: "[?".utf8) && body.dropFirst(2).allSatisfy { $0 == UInt8(ascii: ";") || (48...57).contains($0) }
    }

    /// Asks the terminal for the largest sixel it draws (XTSMGRAPHICS, item 2 = sixel
    /// geometry, action 1 = read); nil when it does not answer.
    public static func sixelLimit(fd: Int32, timeout milliseconds: Int32 = 300) -> (width: Int, height: Int)? {
        guard let reply = query("\u{1B}[?2;1;0S", fd: fd, timeout: milliseconds, isComplete: { $0.last == UInt8(ascii: "S") }),
              let start = reply.firstIndex(of: "?") else { return nil }
        // The reply is ESC [ ? 2 ; status ; width ; height S, status 0 on success.
        let fields = reply[reply.index(after: start)...].dropLast().split(separator: ";").compactMap { Int($0) }
        guard fields.count == 4, fields[0] == 2, fields[1] == 0, fields[2] > 0, fields[3] > 0 else { return nil }
        return (fields[2], fields[3])
    }

    /// Writes `request` and reads the reply until `isComplete` says it is whole, in raw mode,
    /// each byte within the timeout.
    static func query(_ request: String, fd: Int32, timeout: Int32, isComplete: ([UInt8]) -> Bool) -> String? {
        guard isatty(fd) != 0 else { return nil }
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { return nil }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        tcsetattr(fd, TCSANOW, &raw)
        defer { tcsetattr(fd, TCSANOW, &saved) }
        _ = request.withCString { write(fd, $0, strlen($0)) }
        var reply: [UInt8] = []
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while reply.count < 256, poll(&descriptor, 1, timeout) > 0 {
            var byte: UInt8 = 0
            guard read(fd, &byte, 1) == 1 else { break }
            reply.append(byte)
            if isComplete(reply) { return String(decoding: reply, as: UTF8.self) }
        }
        return nil
    }
}
