extension Raster {
    /// The picture with a plane of values (`width × height`, row after row, covering the whole
    /// picture) drawn over it through `colormap`, `range` mapped onto [0, 1]: the plane stretched
    /// bilinearly to the picture's size, each pixel's colour mixed in by `opacity` times its
    /// value's place in the range, so the picture shows through where values are low.
    public func overlaid(_ values: [Float], width planeWidth: Int, height planeHeight: Int, range: ClosedRange<Float>,
                         colormap: Colormap, opacity: Float = 0.75) -> Raster {
        precondition(values.count == planeWidth * planeHeight && !values.isEmpty, "a plane's values do not match its size")
        var result = self
        let span = range.upperBound - range.lowerBound
        func sample(_ position: Float, _ count: Int) -> (Int, Int, Float) {
            let clamped = min(max(position, 0), Float(count - 1))
            let low = Int(clamped)
            return (low, min(low + 1, count - 1), clamped - Float(low))
        }
        for y in 0..<height {
            let (y0, y1, fy) = sample((Float(y) + 0.5) * Float(planeHeight) / Float(height) - 0.5, planeHeight)
            for x in 0..<width {
                let (x0, x1, fx) = sample((Float(x) + 0.5) * Float(planeWidth) / Float(width) - 0.5, planeWidth)
                let top = values[y0 * planeWidth + x0] * (1 - fx) + values[y0 * planeWidth + x1] * fx
                let bottom = values[y1 * planeWidth + x0] * (1 - fx) + values[y1 * planeWidth + x1] * fx
                let value = top * (1 - fy) + bottom * fy
                let t = span > 0 ? min(max((value - range.lowerBound) / span, 0), 1) : 0
                let heat = colormap.color(t), under = self[x, y], alpha = opacity * t
                func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Float(a) * (1 - alpha) + Float(b) * alpha).rounded()) }
                result[x, y] = RGB(mix(under.red, heat.red), mix(under.green, heat.green), mix(under.blue, heat.blue))
            }
        }
        return result
    }
}
