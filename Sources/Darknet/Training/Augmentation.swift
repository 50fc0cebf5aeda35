import Foundation

/// Darknet's classifier augmentation (`load_data_augment` with `[net]`'s keys): each training
/// image is scaled so that its shorter side is between `min_crop` and `max_crop` pixels (its
/// width stretched by a random aspect), rotated by up to `angle` degrees, cropped to the input
/// at a random place (outside the image: black), flipped left to right half the time, and its
/// hue shifted by up to `hue`, its saturation and value scaled by up to `saturation` and
/// `exposure` (a factor s or 1/s).
///
/// Darknet always flips; `flip=0` in `[net]` (a key of AlexeyAB's dialect) turns it off, for
/// pictures such as digits that a mirror changes.
public struct Augmentation: Equatable, Sendable {
    /// The shorter side's range, in pixels for an input `width` wide: `min_ratio` and
    /// `max_ratio` times it (by default `min_crop` and `max_crop`: the width and twice it).
    public var minRatio: Float, maxRatio: Float
    public var angle: Float, aspect: Float, hue: Float, saturation: Float, exposure: Float
    public var flip: Bool

    init(_ net: inout CfgSection, width: Int) throws {
        let width = max(width, 1)
        let maxCrop = try net.int("max_crop", default: width * 2), minCrop = try net.int("min_crop", default: width)
        maxRatio = try net.float("max_ratio", default: Float(maxCrop) / Float(width))
        minRatio = try net.float("min_ratio", default: Float(minCrop) / Float(width))
        angle = try net.float("angle", default: 0)
        aspect = try net.float("aspect", default: 1)
        saturation = try net.float("saturation", default: 1)
        exposure = try net.float("exposure", default: 1)
        hue = try net.float("hue", default: 0)
        flip = try net.int("flip", default: 1) != 0
        for (key, value) in [("min_ratio", minRatio), ("max_ratio", maxRatio), ("aspect", aspect), ("saturation", saturation), ("exposure", exposure)]
        where !(value > 0 && value.isFinite) {
            throw net.error("[net] \(key)=\(value) must be a positive number", line: net.line(of: key))
        }
        // Beyond these the draws' ranges or the crop's side overflow a float or an Int.
        for (key, value, bound) in [("min_ratio", minRatio, Float(100)), ("max_ratio", maxRatio, 100), ("angle", angle.magnitude, 360),
                                    ("hue", hue.magnitude, 1)] where value > bound {
            throw net.error("[net] \(key)=\(value) is out of range: at most \(bound.formatted())", line: net.line(of: key))
        }
    }

    /// `image` (RGB, values in [0, 1]) augmented to a `size`×`size` input, drawing as Darknet
    /// draws, in its order, from `random`.
    public func apply(to image: Image, size: Int, using random: inout some RandomNumberGenerator) -> Image {
        // random_augment_args
        let aspect = Augmentation.scale(self.aspect, using: &random)
        let low = Int(minRatio * Float(size)), high = Int(maxRatio * Float(size))
        let side = Int.random(in: min(low, high)...max(low, high), using: &random)
        let shorter = Float(image.height) < Float(image.width) * aspect ? Float(image.height) : Float(image.width) * aspect
        let scale = Float(side) / Float(Int(shorter))
        let radians = Augmentation.uniform(-angle, angle, using: &random) * 2 * .pi / 360
        let dx = Augmentation.uniform(-1, 1, using: &random) * (Float(image.width) * scale / aspect - Float(size)) / 2
        let dy = Augmentation.uniform(-1, 1, using: &random) * (Float(image.height) * scale - Float(size)) / 2
        var crop = image.rotatedCrop(radians: radians, scale: scale, size: size, dx: dx, dy: dy, aspect: aspect)
        // Drawn whether or not it flips, as Darknet draws it.
        if Bool.random(using: &random), flip { crop.flip() }
        let hueShift = Augmentation.uniform(-hue, hue, using: &random)
        let saturationScale = Augmentation.scale(saturation, using: &random)
        let exposureScale = Augmentation.scale(exposure, using: &random)
        if crop.channels == 3, hueShift != 0 || saturationScale != 1 || exposureScale != 1 {
            crop.distort(hue: hueShift, saturation: saturationScale, exposure: exposureScale)
        }
        return crop
    }

    /// Darknet's `rand_uniform`, either way round.
    private static func uniform(_ a: Float, _ b: Float, using random: inout some RandomNumberGenerator) -> Float {
        a == b ? a : Float.random(in: min(a, b)...max(a, b), using: &random)
    }

    /// Darknet's `rand_scale`: a factor between 1 and `s`, or its inverse.
    private static func scale(_ s: Float, using random: inout some RandomNumberGenerator) -> Float {
        let factor = uniform(1, s, using: &random)
        return Bool.random(using: &random) ? factor : 1 / factor
    }
}

extension Image {
    /// Mirrors the image left to right (Darknet's `flip_image`).
    mutating func flip() {
        for c in 0..<channels {
            for y in 0..<height {
                for x in 0..<(width / 2) { values.swapAt((c * height + y) * width + x, (c * height + y) * width + width - 1 - x) }
            }
        }
    }

    /// Darknet's `distort_image` on an RGB image: to HSV, saturation and value scaled, hue
    /// shifted round the circle, back to RGB, clamped to [0, 1].
    public mutating func distort(hue: Float, saturation: Float, exposure: Float) {
        let plane = width * height
        for i in 0..<plane {
            let r = values[i], g = values[plane + i], b = values[2 * plane + i]
            let high = max(r, g, b), delta = high - min(r, g, b)
            var h: Float = 0, s: Float = 0
            if high != 0 {
                s = delta / high
                h = r == high ? (g - b) / delta : g == high ? 2 + (b - r) / delta : 4 + (r - g) / delta
                if h < 0 { h += 6 }
                h /= 6
            }
            s *= saturation
            let v = high * exposure
            h += hue
            if h > 1 { h -= 1 }
            if h < 0 { h += 1 }
            var rgb: (Float, Float, Float)
            if s == 0 {
                rgb = (v, v, v)
            } else {
                let sector = 6 * h, index = Int(sector.rounded(.down)), f = sector - Float(index)
                let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
                switch index {
                case 0: rgb = (v, t, p)
                case 1: rgb = (q, v, p)
                case 2: rgb = (p, v, t)
                case 3: rgb = (p, q, v)
                case 4: rgb = (t, p, v)
                default: rgb = (v, p, q)
                }
            }
            values[i] = min(max(rgb.0, 0), 1)
            values[plane + i] = min(max(rgb.1, 0), 1)
            values[2 * plane + i] = min(max(rgb.2, 0), 1)
        }
    }
}
