import Darknet
import Render

extension AttributionMap {
    /// The values the heatmap's colours span: from no evidence (0) to the map's largest value,
    /// so that evidence against the class (negative values) shows as none.
    public var displayRange: ClosedRange<Float> { 0...max(range.upperBound, Float.leastNormalMagnitude) }

    /// The map blended over `image`, the original image it covers, at the image's own size.
    public func picture(over image: Image, colormap: Colormap = .viridis) -> Raster {
        Raster(image).overlaid(values, width: cols, height: rows, range: displayRange, colormap: colormap)
    }
}
