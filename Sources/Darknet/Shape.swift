/// The size of one layer's output for one image, in Darknet's terms.
///
/// Layers that produce an image (`Convolutional`, `MaxPool`, …) have a width,
/// height and channel count; flat ones (`Softmax`, `Cost`) have only a count,
/// as in Darknet, where their `out_w`/`out_h`/`out_c` stay zero.
public struct Shape: Hashable, Sendable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public var channels: Int
    /// Number of values for one image (`outputs` in Darknet).
    public var count: Int

    public init(width: Int, height: Int, channels: Int) {
        self.width = width
        self.height = height
        self.channels = channels
        // No values unless every side is positive, so an impossible shape is empty
        // rather than negative; a count past Int.max is held as Int.max, for callers to refuse.
        let (area, areaOverflows) = width.multipliedReportingOverflow(by: height)
        let (volume, volumeOverflows) = area.multipliedReportingOverflow(by: channels)
        if width <= 0 || height <= 0 || channels <= 0 {
            self.count = 0
        } else {
            self.count = areaOverflows || volumeOverflows ? .max : volume
        }
    }

    public static func flat(_ count: Int) -> Shape {
        var shape = Shape(width: 0, height: 0, channels: 0)
        shape.count = count
        return shape
    }

    /// Whether the next layer may treat this as an image (Darknet checks `h && w && c`).
    public var isImage: Bool { width > 0 && height > 0 && channels > 0 }

    /// Pixels in one channel.
    public var spatial: Int { width * height }

    public var description: String {
        isImage ? "\(width)x\(height)x\(channels)" : "\(count)"
    }
}
