import ArgumentParser
import Foundation
import Render

/// How `show` and `explain` draw a picture on stdout: the explorer's renderer.
struct PictureOptions: ParsableArguments {
    @Option(help: "symbols, ascii or sixel (default: symbols, or ascii outside a UTF-8 locale).")
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

    /// Prints `picture` in the chosen format; a sixel pixel for pixel.
    func draw(_ picture: Raster) {
        setlocale(LC_ALL, "")
        let environment = ProcessInfo.processInfo.environment
        let mode = format ?? (TerminalCapabilities.localeIsUTF8 ? .symbols : .ascii)
        let depth = colors ?? TerminalCapabilities.colorDepth(environment: environment)
        // A sixel is drawn pixel for pixel: one "cell" per pixel, in full colour.
        let encoded = mode == .sixel
            ? TerminalImage(picture, columns: picture.width, rows: picture.height, mode: .sixel, colors: .truecolor, cellWidth: 1, cellHeight: 1)
            : TerminalImage(picture, columns: width, rows: 1000, mode: mode, colors: depth)
        Output.line(encoded.text)
    }
}

extension PixelMode: ExpressibleByArgument {}
extension ColorDepth: ExpressibleByArgument {}
extension Colormap: ExpressibleByArgument {}
