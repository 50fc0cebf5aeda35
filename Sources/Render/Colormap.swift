/// Maps a value in [0, 1] to a colour.
public enum Colormap: String, CaseIterable, Sendable {
    case grayscale
    /// Perceptually uniform, dark blue to yellow.
    case viridis
    /// Blue through white to red, for signed values centred on 0.5.
    case diverging

    /// Stops sampled evenly over [0, 1]; colours between them are interpolated.
    private var stops: [RGB] {
        switch self {
        case .grayscale: [RGB(0, 0, 0), RGB(255, 255, 255)]
        case .viridis: [
            RGB(68, 1, 84), RGB(72, 36, 117), RGB(65, 68, 135), RGB(53, 95, 141), RGB(42, 120, 142),
            RGB(33, 145, 140), RGB(34, 168, 132), RGB(68, 191, 112), RGB(122, 209, 81), RGB(189, 223, 38), RGB(253, 231, 37),
        ]
        case .diverging: [RGB(59, 76, 192), RGB(141, 176, 254), RGB(221, 221, 221), RGB(244, 154, 123), RGB(180, 4, 38)]
        }
    }

    public func color(_ value: Float) -> RGB {
        let stops = stops
        let t = value.isNaN ? 0 : min(max(value, 0), 1) * Float(stops.count - 1)
        let low = min(Int(t), stops.count - 2)
        let f = t - Float(low)
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Float(a) * (1 - f) + Float(b) * f).rounded()) }
        let a = stops[low], b = stops[low + 1]
        return RGB(mix(a.red, b.red), mix(a.green, b.green), mix(a.blue, b.blue))
    }

    public var next: Colormap {
        let all = Colormap.allCases
        return all[(all.firstIndex(of: self)! + 1) % all.count]
    }
}

/// A plane of values (row after row) drawn through a colormap, `range` mapped onto [0, 1].
public func heatmap(_ values: some Collection<Float>, width: Int, height: Int, range: ClosedRange<Float>, colormap: Colormap) -> Raster {
    var raster = Raster(width: width, height: height)
    let span = range.upperBound - range.lowerBound
    for (i, value) in values.prefix(width * height).enumerated() {
        let t = span > 0 ? (value - range.lowerBound) / span : 0.5
        raster[i % width, i / width] = colormap.color(t)
    }
    return raster
}
