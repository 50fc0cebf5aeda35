import Darknet
import Render

/// How activation values map to colours.
public enum Normalization: String, CaseIterable, Sendable {
    /// Each channel stretched over its own min...max.
    case perChannel = "channel"
    /// Every channel over the layer's min...max, so channels compare.
    case perLayer = "layer"
}

/// Summary numbers of one channel.
public struct ChannelStatistics: Equatable, Sendable {
    public var minimum: Float
    public var maximum: Float
    public var mean: Float

    /// Over the finite values only: NaN has no order (a range bounded by it traps), and
    /// finite weights can still overflow to an infinity or NaN.
    init(_ values: ArraySlice<Float>) {
        let finite = values.lazy.filter(\.isFinite)
        minimum = finite.min() ?? 0
        maximum = finite.max() ?? 0
        let count = finite.count
        mean = count == 0 ? 0 : finite.reduce(0, +) / Float(count)
    }
}

/// One layer's output for one image, seen as channels of pictures.
public struct FeatureMaps: Sendable {
    public var shape: Shape
    public var values: ArraySlice<Float>

    /// Layer `layer`'s output for image `image` of a forward pass.
    public init(_ result: ForwardResult, layer: Int, image: Int = 0, shape: Shape) {
        let all = result.layerOutputs[layer]
        let count = all.count / result.batch
        self.shape = shape
        values = all[(image * count)..<((image + 1) * count)]
    }

    /// Image outputs have their channels; a flat output is one row.
    public var channels: Int { shape.isImage ? shape.channels : 1 }
    public var width: Int { shape.isImage ? shape.width : shape.count }
    public var height: Int { shape.isImage ? shape.height : 1 }

    public func channel(_ index: Int) -> ArraySlice<Float> {
        let plane = width * height
        let start = values.startIndex + index * plane
        return values[start..<(start + plane)]
    }

    public func statistics(channel index: Int) -> ChannelStatistics { ChannelStatistics(channel(index)) }

    public var layerRange: ClosedRange<Float> {
        let finite = values.lazy.filter(\.isFinite)
        let low = finite.min() ?? 0, high = finite.max() ?? 0
        return low...max(low, high)
    }

    /// The values a channel's colours span.
    public func range(channel index: Int, normalization: Normalization) -> ClosedRange<Float> {
        switch normalization {
        case .perLayer: return layerRange
        case .perChannel:
            let stats = statistics(channel: index)
            return stats.minimum...max(stats.minimum, stats.maximum)
        }
    }

    /// One channel as a picture, each value a `scale × scale` block.
    public func picture(channel index: Int, normalization: Normalization, colormap: Colormap, scale: Int = 1) -> Raster {
        let raster = heatmap(channel(index), width: width, height: height,
                             range: range(channel: index, normalization: normalization), colormap: colormap)
        return raster.scaled(by: scale)
    }

    /// Compare mode's picture: this channel, the other image's, and their difference
    /// (diverging colours around zero), side by side.
    public func comparison(with other: FeatureMaps, channel index: Int, normalization: Normalization,
                           colormap: Colormap, scale: Int) -> Raster {
        let left = picture(channel: index, normalization: normalization, colormap: colormap, scale: scale)
        let right = other.picture(channel: index, normalization: normalization, colormap: colormap, scale: scale)
        let difference = zip(channel(index), other.channel(index)).map { $0 - $1 }
        let bound = max(difference.map(abs).max() ?? 0, Float.leastNormalMagnitude)
        let diff = heatmap(difference, width: width, height: height, range: -bound...bound, colormap: .diverging).scaled(by: scale)
        return Raster.sideBySide(Raster.sideBySide(left, right, gap: 2 * scale), diff, gap: 2 * scale)
    }

    /// Tiles per row of a grid of `count` channels: as square as the count allows.
    package static func gridColumns(_ count: Int) -> Int { Int(Double(count).squareRoot().rounded(.up)) }

    /// Channels `range` as a grid of pictures, as square as the count allows.
    public func grid(channels range: Range<Int>, normalization: Normalization, colormap: Colormap, scale: Int = 1, columns: Int? = nil) -> Raster {
        let tiles = range.map { picture(channel: $0, normalization: normalization, colormap: colormap, scale: scale) }
        let columns = columns ?? FeatureMaps.gridColumns(range.count)
        return Raster.grid(tiles, columns: columns, gap: max(1, scale / 4))
    }
}

extension Raster {
    /// Nearest-neighbour enlargement, so small maps stay crisp.
    public func scaled(by factor: Int) -> Raster {
        guard factor > 1 else { return self }
        var scaled = Raster(width: width * factor, height: height * factor)
        for y in 0..<scaled.height {
            for x in 0..<scaled.width { scaled[x, y] = self[x / factor, y / factor] }
        }
        return scaled
    }

    /// A network input image (CHW floats in [0, 1]) as a picture.
    public init(_ image: Image) {
        self.init(width: image.width, height: image.height)
        for y in 0..<image.height {
            for x in 0..<image.width {
                func sample(_ c: Int) -> UInt8 {
                    UInt8((min(max(image[x, y, min(c, image.channels - 1)], 0), 1) * 255).rounded())
                }
                self[x, y] = RGB(sample(0), sample(1), sample(2))
            }
        }
    }
}
