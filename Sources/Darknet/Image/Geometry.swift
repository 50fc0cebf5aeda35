import Foundation

/// Darknet's image geometry (`image.c`): crops, rotations and the bilinear sampling under
/// them, in Darknet's arithmetic: coordinates in double, as C promotes them (`rotate_image`'s
/// grouped as Debian's build groups them), weights in float. Debian compiles Darknet with
/// -Ofast, which also regroups the weights' products, so a pixel may differ from its by a rounding.
extension Image {
    /// Darknet's `bilinear_interpolate`: the four pixels around (x, y), each weighted by its
    /// nearness and 0 outside the image. So is a point no transform of a real image reaches
    /// (NaN or far off, from a degenerate angle or scale).
    func bilinear(_ x: Float, _ y: Float, channel c: Int) -> Float {
        guard x.magnitude < 1e9, y.magnitude < 1e9 else { return 0 }
        let ix = Int(x.rounded(.down)), iy = Int(y.rounded(.down))
        let dx = x - Float(ix), dy = y - Float(iy)
        func pixel(_ x: Int, _ y: Int) -> Float { x >= 0 && x < width && y >= 0 && y < height ? self[x, y, c] : 0 }
        return (1 - dy) * (1 - dx) * pixel(ix, iy) + dy * (1 - dx) * pixel(ix, iy + 1)
            + (1 - dy) * dx * pixel(ix + 1, iy) + dy * dx * pixel(ix + 1, iy + 1)
    }

    /// Darknet's `rotate_image`: turned by `radians` about the centre, black where the turned
    /// picture leaves the frame.
    public func rotated(radians: Float) -> Image {
        let cx = Float(width) / 2, cy = Float(height) / 2, cosine = cos(Double(radians)), sine = sin(Double(radians))
        var result = Image(width: width, height: height, channels: channels, filledWith: 0)
        for y in 0..<height {
            for x in 0..<width {
                let u = Double(Float(x) - cx), v = Double(Float(y) - cy)
                let rx = Float(cosine * u + (Double(cx) - sine * v)), ry = Float(sine * u + (cosine * v + Double(cy)))
                for c in 0..<channels { result[x, y, c] = bilinear(rx, ry, channel: c) }
            }
        }
        return result
    }

    /// Darknet's `rotate_crop_image`: a `size`×`size` window of the image scaled by `scale`
    /// (its width by `scale / aspect`), rotated by `radians` about the centre and moved by
    /// `dx`, `dy`; black outside the image.
    public func rotatedCrop(radians: Float, scale s: Float, size: Int, dx: Float, dy: Float, aspect: Float) -> Image {
        let cx = Float(width) / 2, cy = Float(height) / 2, cosine = cos(Double(radians)), sine = sin(Double(radians))
        let half = Double(size) / 2, shiftX = Double(dx / s * aspect), shiftY = Double(dy / s)
        var crop = Image(width: size, height: size, channels: channels, filledWith: 0)
        for y in 0..<size {
            for x in 0..<size {
                let u = (Double(x) - half) / Double(s) * Double(aspect) + shiftX, v = (Double(y) - half) / Double(s) + shiftY
                let rx = Float(cosine * u - sine * v + Double(cx)), ry = Float(sine * u + cosine * v + Double(cy))
                for c in 0..<channels { crop[x, y, c] = bilinear(rx, ry, channel: c) }
            }
        }
        return crop
    }

    /// Darknet's `crop_image`: a `width` × `height` window from (`left`, `top`), which may
    /// reach outside, where the nearest edge pixel is taken.
    func cropped(left: Int, top: Int, width newWidth: Int, height newHeight: Int) -> Image {
        var result = Image(width: newWidth, height: newHeight, channels: channels, filledWith: 0)
        for c in 0..<channels {
            for y in 0..<newHeight {
                let row = min(max(y + top, 0), height - 1)
                for x in 0..<newWidth { result[x, y, c] = self[min(max(x + left, 0), width - 1), row, c] }
            }
        }
        return result
    }
}
