import Foundation
import Render
import XCTest

/// Which pixel protocol the explorer picks: from the environment as chafa's tool reads it
/// on libchafa 1.12, else from the terminal's replies; never inside a multiplexer.
final class GraphicsDetectionTests: XCTestCase {
    func testTheEnvironmentNamesThePixelProtocol() {
        let cases: [([String: String], PixelMode?)] = [
            (["TERM": "xterm-kitty"], .kitty),
            (["TERM": "xterm-256color", "KITTY_WINDOW_ID": "3"], .kitty),
            (["TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"], .iterm2),
            (["TERM": "xterm-256color", "LC_TERMINAL": "iTerm2"], .iterm2),
            (["TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"], .sixel),
            (["TERM": "foot"], .sixel),
            (["TERM": "mlterm"], .sixel),
            (["TERM": "xterm-256color", "KONSOLE_VERSION": "220400"], .sixel),
            (["TERM": "xterm-256color", "KONSOLE_VERSION": "210800"], nil),
            (["TERM": "xterm-256color", "COLORTERM": "truecolor"], nil),
            (["TERM": "xterm"], nil),
            ([:], nil),
            // tmux and screen pass none of them through, whatever the outer terminal is.
            (["TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default,1,0"], nil),
            (["TERM": "tmux-256color", "KITTY_WINDOW_ID": "3"], nil),
            (["TERM": "screen-256color", "LC_TERMINAL": "iTerm2"], nil),
            (["TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app", "STY": "1234.pts-0.host"], nil),
        ]
        for (environment, expected) in cases {
            XCTAssertEqual(TerminalCapabilities.graphics(environment: environment), expected, "\(environment)")
        }
    }

    func testRepliesToTheQueries() {
        XCTAssertEqual(TerminalCapabilities.graphics(reply: "\u{1B}_Gi=31;OK\u{1B}\\\u{1B}[?62;22c"), .kitty)
        XCTAssertEqual(TerminalCapabilities.graphics(reply: "\u{1B}[?62;4;22c"), .sixel)
        XCTAssertEqual(TerminalCapabilities.graphics(reply: "\u{1B}[?64;1;2;6;9;15;18;21;22c"), nil)
        XCTAssertEqual(TerminalCapabilities.graphics(reply: "\u{1B}[?1;2c"), nil)
        XCTAssertEqual(TerminalCapabilities.graphics(reply: "\u{1B}_Gi=31;EINVAL:unsupported\u{1B}\\\u{1B}[?63;4c"), .sixel)
    }

    /// Where standard input is no terminal nothing is asked, and the environment decides.
    func testWithoutATerminalOnlyTheEnvironmentCounts() throws {
        let null = open("/dev/null", O_RDWR)
        defer { close(null) }
        XCTAssertEqual(TerminalCapabilities.detectGraphics(fd: null, environment: ["TERM": "xterm-kitty"]), .kitty)
        XCTAssertNil(TerminalCapabilities.detectGraphics(fd: null, environment: ["TERM": "xterm-256color"]))
    }

    /// A terminal of our own (a pseudo-terminal) answers the queries as kitty and as a sixel
    /// xterm would; a kitty error text holding a "c" does not end the wait before DA1's reply.
    func testTheTerminalIsAskedInOneRoundTrip() throws {
        let replies: [(String, PixelMode?)] = [
            ("\u{1B}_Gi=31;OK\u{1B}\\\u{1B}[?62;52c", .kitty),
            ("\u{1B}_Gi=31;ENOTSUPPORTED:no direct transmission\u{1B}\\\u{1B}[?63;1;4c", .sixel),
            ("\u{1B}[?65;1;9c", nil),
        ]
        for (reply, expected) in replies {
            let terminal = try PseudoTerminal()
            let asked = terminal.answer(with: reply)
            XCTAssertEqual(TerminalCapabilities.detectGraphics(fd: terminal.follower, environment: ["TERM": "xterm-256color"], timeout: 2000),
                           expected, reply.debugDescription)
            let request = asked()
            XCTAssertTrue(request.hasPrefix("\u{1B}_Gi=31,"), "the kitty query first: \(request.debugDescription)")
            XCTAssertTrue(request.hasSuffix("\u{1B}[c"), "then DA1: \(request.debugDescription)")
        }
        // Inside tmux nothing is written to the terminal at all.
        let terminal = try PseudoTerminal()
        XCTAssertNil(TerminalCapabilities.detectGraphics(fd: terminal.follower, environment: ["TERM": "xterm-256color", "TMUX": "/tmp/t,1,0"]))
        var byte: UInt8 = 0
        XCTAssertEqual(fcntl(terminal.leader, F_SETFL, O_NONBLOCK), 0)
        XCTAssertEqual(read(terminal.leader, &byte, 1), -1, "nothing asked inside tmux")
    }
}

/// A pseudo-terminal pair: the leader plays the terminal, the follower is what a program sees.
private final class PseudoTerminal {
    let leader: Int32, follower: Int32

    init() throws {
        // Glibc declares these only under _XOPEN_SOURCE, which Swift's Glibc module lacks.
        func libc<T>(_ name: String, as type: T.Type) throws -> T {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { throw DarknetTestError("no \(name) in libc") }
            return unsafeBitCast(symbol, to: type)
        }
        typealias OnDescriptor = @convention(c) (Int32) -> Int32
        let openpt = try libc("posix_openpt", as: OnDescriptor.self), grantpt = try libc("grantpt", as: OnDescriptor.self)
        let unlockpt = try libc("unlockpt", as: OnDescriptor.self)
        let ptsname = try libc("ptsname", as: (@convention(c) (Int32) -> UnsafeMutablePointer<CChar>?).self)
        leader = openpt(O_RDWR | O_NOCTTY)
        guard leader >= 0, grantpt(leader) == 0, unlockpt(leader) == 0, let name = ptsname(leader) else {
            throw DarknetTestError("no pseudo-terminal: \(String(cString: strerror(errno)))")
        }
        follower = open(name, O_RDWR | O_NOCTTY)
        guard follower >= 0 else { throw DarknetTestError("cannot open \(String(cString: name))") }
    }

    deinit {
        close(follower)
        close(leader)
    }

    /// Reads the request up to DA1's `ESC [ c` on a thread, then writes `reply`; the returned
    /// function waits for that thread and gives the request.
    func answer(with reply: String) -> () -> String {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var request: [UInt8] = []
        let leader = leader
        Thread.detachNewThread {
            var byte: UInt8 = 0
            while !request.reversed().starts(with: Array("\u{1B}[c".utf8).reversed()), read(leader, &byte, 1) == 1 {
                request.append(byte)
            }
            _ = reply.withCString { write(leader, $0, strlen($0)) }
            done.signal()
        }
        return {
            done.wait()
            return String(decoding: request, as: UTF8.self)
        }
    }
}
