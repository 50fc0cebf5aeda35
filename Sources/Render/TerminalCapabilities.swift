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

    /// Asks the terminal on `fd` for its primary device attributes (DA1); a reply listing
    /// attribute 4 means sixel graphics. Never inside tmux, which drops sixel (3.3a).
    public static func supportsSixel(fd: Int32, environment: [String: String], timeout milliseconds: Int32 = 300) -> Bool {
        if environment["TMUX"] != nil || (environment["TERM"] ?? "").hasPrefix("tmux") { return false }
        guard let reply = query("\u{1B}[c", fd: fd, terminator: UInt8(ascii: "c"), timeout: milliseconds),
              let start = reply.firstIndex(of: "?") else { return false }
        return reply[reply.index(after: start)...].dropLast().split(separator: ";").contains("4")
    }

    /// Asks the terminal for the largest sixel it draws (XTSMGRAPHICS, item 2 = sixel
    /// geometry, action 1 = read); nil when it does not answer.
    public static func sixelLimit(fd: Int32, timeout milliseconds: Int32 = 300) -> (width: Int, height: Int)? {
        guard let reply = query("\u{1B}[?2;1;0S", fd: fd, terminator: UInt8(ascii: "S"), timeout: milliseconds),
              let start = reply.firstIndex(of: "?") else { return nil }
        // The reply is ESC [ ? 2 ; status ; width ; height S, status 0 on success.
        let fields = reply[reply.index(after: start)...].dropLast().split(separator: ";").compactMap { Int($0) }
        guard fields.count == 4, fields[0] == 2, fields[1] == 0, fields[2] > 0, fields[3] > 0 else { return nil }
        return (fields[2], fields[3])
    }

    /// Writes `request` and reads the reply up to `terminator`, in raw mode, within the timeout.
    static func query(_ request: String, fd: Int32, terminator: UInt8, timeout: Int32) -> String? {
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
            if byte == terminator { return String(decoding: reply, as: UTF8.self) }
        }
        return nil
    }
}
