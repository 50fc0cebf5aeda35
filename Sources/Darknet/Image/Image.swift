/// An image as Darknet holds it: float samples in [0, 1], planar (CHW), RGB order.
public struct Image: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var values: [Float]

    public init(width: Int, height: Int, channels: Int, values: [Float]) {
        precondition(values.count == width * height * channels, "image values do not match its size")
        self.width = width
        self.height = height
        self.channels = channels
        self.values = values
    }

    public init(width: Int, height: Int, channels: Int, filledWith value: Float) {
        self.init(width: width, height: height, channels: channels,
                  values: [Float](repeating: value, count: width * height * channels))
    }

    public subscript(x: Int, y: Int, channel: Int) -> Float {
        get { values[(channel * height + y) * width + x] }
        set { values[(channel * height + y) * width + x] = newValue }
    }

    /// Darknet's `resize_image`: bilinear, corners aligned, first across then down,
    /// with its float arithmetic, so results match Darknet's bit for bit.
    /// A height of 1 takes the first row, where Darknet's scale is 0/0 or x/0.
    public func resized(width newWidth: Int, height newHeight: Int) -> Image {
        let xScale = Float(width - 1) / Float(newWidth - 1)
        let yScale = newHeight == 1 ? 0 : Float(height - 1) / Float(newHeight - 1)
        var across = Image(width: newWidth, height: height, channels: channels, filledWith: 0)
        for c in 0..<channels {
            for y in 0..<height {
                for x in 0..<newWidth {
                    if x == newWidth - 1 || width == 1 {
                        across[x, y, c] = self[width - 1, y, c]
                    } else {
                        let sx = Float(x) * xScale
                        let ix = Int(sx)
                        let dx = sx - Float(ix)
                        across[x, y, c] = (1 - dx) * self[ix, y, c] + dx * self[ix + 1, y, c]
                    }
                }
            }
        }
        var result = Image(width: newWidth, height: newHeight, channels: channels, filledWith: 0)
        for c in 0..<channels {
            for y in 0..<newHeight {
                let sy = Float(y) * yScale
                let iy = Int(sy)
                let dy = sy - Float(iy)
                for x in 0..<newWidth { result[x, y, c] = (1 - dy) * across[x, iy, c] }
                if y == newHeight - 1 || height == 1 { continue }
                for x in 0..<newWidth { result[x, y, c] += dy * across[x, iy + 1, c] }
            }
        }
        return result
    }

    /// Darknet's `letterbox_image`: resized to fit, aspect kept, centred on grey 0.5.
    public func letterboxed(width boxWidth: Int, height boxHeight: Int) -> Image {
        let box = Letterbox(imageWidth: width, imageHeight: height, boxWidth: boxWidth, boxHeight: boxHeight)
        let fitted = resized(width: box.width, height: box.height)
        var boxed = Image(width: boxWidth, height: boxHeight, channels: channels, filledWith: 0.5)
        for c in 0..<channels {
            for y in 0..<box.height {
                for x in 0..<box.width { boxed[box.left + x, box.top + y, c] = fitted[x, y, c] }
            }
        }
        return boxed
    }
}

/// Where `letterboxed` puts an image inside a box: resized to fit, aspect kept, centred;
/// the rest of the box is grey margin.
public struct Letterbox: Hashable, Sendable {
    /// The box (the network's input size).
    public var boxWidth: Int
    public var boxHeight: Int
    /// The image's place in the box.
    public var left: Int
    public var top: Int
    public var width: Int
    public var height: Int

    /// Darknet's `letterbox_image` arithmetic for an image of `imageWidth × imageHeight`.
    public init(imageWidth: Int, imageHeight: Int, boxWidth: Int, boxHeight: Int) {
        var fitWidth = boxWidth, fitHeight = boxHeight
        if Float(boxWidth) / Float(imageWidth) < Float(boxHeight) / Float(imageHeight) {
            fitHeight = imageHeight * boxWidth / imageWidth
        } else {
            fitWidth = imageWidth * boxHeight / imageHeight
        }
        self.init(boxWidth: boxWidth, boxHeight: boxHeight, left: (boxWidth - fitWidth) / 2,
                  top: (boxHeight - fitHeight) / 2, width: fitWidth, height: fitHeight)
    }

    public init(boxWidth: Int, boxHeight: Int, left: Int, top: Int, width: Int, height: Int) {
        self.boxWidth = boxWidth
        self.boxHeight = boxHeight
        self.left = left
        self.top = top
        self.width = width
        self.height = height
    }

    /// The whole box, for an input that is not a letterboxed photo.
    public init(filling input: Shape) {
        self.init(boxWidth: input.width, boxHeight: input.height, left: 0, top: 0, width: input.width, height: input.height)
    }
}

extension Network {
    /// An image file as this network takes it, as Darknet's `classify` prepares it:
    /// `load_image_color`, then `letterbox_image` to the network's input size.
    public func letterboxedInput(from path: String) throws -> Image {
        try originalImage(from: path).letterboxed(width: input.width, height: input.height)
    }

    /// An image file as loaded, before `letterbox_image`, once it is known to fit the network.
    public func originalImage(from path: String) throws -> Image {
        guard input.isImage else {
            throw DarknetError.usage("\(cfgPath): the network takes \(input.count) flat inputs, not an image")
        }
        // The letterboxed image and the two copies on the way to it.
        try Memory.require(3 * input.count * MemoryLayout<Float>.size,
                           for: "\(cfgPath): the \(input.width)x\(input.height)x\(input.channels) input's three copies")
        let image = try Image(contentsOf: path)
        guard image.channels == input.channels else {
            throw DarknetError.usage("\(cfgPath): the network takes \(input.channels)-channel images; \(path) loads as \(image.channels) channels (RGB)")
        }
        return image
    }

    /// Where `letterboxedInput` puts `image` in this network's input.
    public func letterbox(for image: Image) -> Letterbox {
        Letterbox(imageWidth: image.width, imageHeight: image.height, boxWidth: input.width, boxHeight: input.height)
    }
}
