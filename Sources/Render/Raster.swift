/// A picture in 8-bit RGBA, row after row: what the renderer turns into terminal output or PNG.
public struct Raster: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, fill: RGB = RGB(0, 0, 0)) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 4)
        for i in 0..<(width * height) { self[i % max(width, 1), i / max(width, 1)] = fill }
    }

    public subscript(x: Int, y: Int) -> RGB {
        get {
            let i = (y * width + x) * 4
            return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
        }
        set {
            let i = (y * width + x) * 4
            pixels[i] = newValue.red
            pixels[i + 1] = newValue.green
            pixels[i + 2] = newValue.blue
            pixels[i + 3] = 255
        }
    }

    /// Tiles pictures of one size into rows of `columns`, `gap` pixels apart, on `background`.
    public static func grid(_ tiles: [Raster], columns: Int, gap: Int = 1, background: RGB = RGB(0, 0, 0)) -> Raster {
        guard let first = tiles.first else { return Raster(width: 1, height: 1, fill: background) }
        let columns = max(1, min(columns, tiles.count))
        let rows = (tiles.count + columns - 1) / columns
        var grid = Raster(width: columns * first.width + (columns - 1) * gap,
                          height: rows * first.height + (rows - 1) * gap, fill: background)
        for (index, tile) in tiles.enumerated() {
            let left = (index % columns) * (first.width + gap), top = (index / columns) * (first.height + gap)
            for y in 0..<min(tile.height, first.height) {
                for x in 0..<min(tile.width, first.width) { grid[left + x, top + y] = tile[x, y] }
            }
        }
        return grid
    }

    /// The picture with `background` rows added below, up to a multiple of `rows` high.
    public func padded(toMultipleOf rows: Int, background: RGB = RGB(0, 0, 0)) -> Raster {
        let extra = (rows - height % rows) % rows
        guard extra > 0 else { return self }
        var padded = Raster(width: width, height: height + extra, fill: background)
        padded.pixels.replaceSubrange(0..<pixels.count, with: pixels)
        return padded
    }

    /// Two pictures of one height side by side, `gap` pixels apart.
    public static func sideBySide(_ left: Raster, _ right: Raster, gap: Int = 2, background: RGB = RGB(0, 0, 0)) -> Raster {
        var joined = Raster(width: left.width + gap + right.width, height: max(left.height, right.height), fill: background)
        for y in 0..<left.height { for x in 0..<left.width { joined[x, y] = left[x, y] } }
        for y in 0..<right.height { for x in 0..<right.width { joined[left.width + gap + x, y] = right[x, y] } }
        return joined
    }
}

public struct RGB: Hashable, Sendable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }
}

extension Raster {
    /// Paints a frame `width` pixels wide round the picture's edge.
    public mutating func frame(width: Int, color: RGB) {
        for y in 0..<height {
            for x in 0..<self.width where x < width || y < width || x >= self.width - width || y >= height - width {
                self[x, y] = color
            }
        }
    }
}
