import ArgumentParser
import Foundation
import Render

/// How `show` and `explain` draw a picture on stdout: the explorer's renderer.
struct PictureOptions: ParsableArguments {
    @Option(help: "symbols, ascii, sixel, kitty or iterm2 (default: symbols, or ascii outside a UTF-8 locale); the last three pixel for pixel.")
    var format: PixelMode?

    @Option(help: "truecolor, 256, 16 or none (default: from COLORTERM, TERM and NO_COLOR).")
    var colors: ColorDepth?

    @Option(help: "grayscale, viridis or diverging.")
    var colormap: Colormap = .viridis

    @Option(help: "Width of the picture in terminal columns.")
    var width = 80

    func validate() throws {
        guard width > 0 else { throw ValidationError("--width must be at least 1") }
    }

    /// Prints `picture` in the chosen format; sixel, kitty and iTerm2 pixel for pixel.
    func draw(_ picture: Raster) {
        setlocale(LC_ALL, "")
        let environment = ProcessInfo.processInfo.environment
        let mode = format ?? (TerminalCapabilities.localeIsUTF8 ? .symbols : .ascii)
        let depth = colors ?? TerminalCapabilities.colorDepth(environment: environment)
        let encoded = mode.drawsPixels
            ? TerminalImage(pixelsOf: picture, mode: mode)
            : TerminalImage(picture, columns: width, rows: 1000, mode: mode, colors: depth)
        Output.line(encoded.text)
    }
}

/// How the full-screen views (the explorer, the training view) draw, when the terminal's own
/// answer is not wanted.
struct ScreenOptions: ParsableArguments {
    @Option(help: "Force symbols, ascii, sixel, kitty or iterm2 (default: the terminal's pixel protocol where the environment or the terminal tells it, else symbols, or ascii outside UTF-8).")
    var format: PixelMode?

    @Option(help: "Force truecolor, 256, 16 or none (default: from COLORTERM, terminfo and NO_COLOR).")
    var colors: ColorDepth?
}

extension PixelMode: ExpressibleByArgument {}
extension ColorDepth: ExpressibleByArgument {}
extension Colormap: ExpressibleByArgument {}
