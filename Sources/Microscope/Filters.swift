import Darknet
import Render

/// The first convolutional layer's filters as pictures, as Darknet's `visualize` draws them
/// (`get_weights` in convolutional_layer.c): each filter is `get_convolutional_weight`, a
/// `size × size × channels` image of its raw weights, min-max normalised over all its values
/// by `normalize_image`; a 3-channel filter is a colour picture (channel 0 red), any other
/// has its channels side by side in grey, 1 pixel apart (`collapse_images_vert`).
public struct FirstLayerFilters: Sendable {
    /// The layer's index in the network.
    public var layer: Int
    public var count: Int
    public var size: Int
    /// Input channels each filter reads (`c / groups`).
    public var channels: Int
    /// Filter after filter, each channel-major (`c`, `y`, `x`), as Darknet stores them.
    public var weights: [Float]

    /// nil when the network has no convolutional layer.
    public init?(_ network: Network) {
        guard let index = network.layers.firstIndex(where: { $0 is Convolutional }),
              let conv = network.layers[index] as? Convolutional else { return nil }
        var offset = 0
        for block in conv.parameterBlocks {
            if case .weights = block.kind { break }
            offset += block.count
        }
        layer = index
        count = conv.filters
        size = conv.size
        channels = conv.input.channels / conv.groups
        weights = Array(conv.parameters[offset..<(offset + count * channels * size * size)])
    }

    /// One filter's values, min-max normalised to 0...1 as `normalize_image` does.
    public func normalized(_ filter: Int) -> [Float] {
        let length = channels * size * size
        let values = weights[(filter * length)..<((filter + 1) * length)]
        var low = values.min() ?? 0, high = values.max() ?? 1
        if high - low < 0.000000001 { low = 0; high = 1 }
        return values.map { ($0 - low) / (high - low) }
    }

    /// One filter as a picture, each weight a pixel (`save_image`'s `255 * value`, truncated).
    public func tile(_ filter: Int) -> Raster {
        let values = normalized(filter)
        let plane = size * size
        func byte(_ value: Float) -> UInt8 { UInt8(min(max(255 * value, 0), 255)) }
        if channels == 3 {
            var raster = Raster(width: size, height: size)
            for y in 0..<size {
                for x in 0..<size {
                    let i = y * size + x
                    raster[x, y] = RGB(byte(values[i]), byte(values[plane + i]), byte(values[2 * plane + i]))
                }
            }
            return raster
        }
        var raster = Raster(width: tileWidth, height: size)
        for c in 0..<channels {
            for y in 0..<size {
                for x in 0..<size {
                    let grey = byte(values[c * plane + y * size + x])
                    raster[c * (size + 1) + x, y] = RGB(grey, grey, grey)
                }
            }
        }
        return raster
    }

    /// Pixels per weight that enlarge a filter to about `pixels` on its longer side.
    public func scale(toAbout pixels: Int) -> Int { max(1, pixels / max(size, tileWidth)) }

    /// A tile's width in pixels before scaling.
    public var tileWidth: Int { channels == 3 ? size : channels * (size + 1) - 1 }

    /// The gap between tiles for a scale: a quarter of a weight's block, at least a pixel.
    public static func gap(scale: Int) -> Int { max(1, scale / 4) }

    /// Every filter as a grid as square as the count allows, each weight a `scale × scale` block.
    public func grid(scale: Int) -> Raster {
        let tiles = (0..<count).map { tile($0).scaled(by: scale) }
        let columns = Int(Double(count).squareRoot().rounded(.up))
        return Raster.grid(tiles, columns: columns, gap: FirstLayerFilters.gap(scale: scale))
    }

    /// "16 filters 3x3x3".
    public var summary: String { "\(count) filter\(count == 1 ? "" : "s") \(size)x\(size)x\(channels)" }
}
