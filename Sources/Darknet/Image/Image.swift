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
        var fitWidth = boxWidth, fitHeight = boxHeight
        if Float(boxWidth) / Float(width) < Float(boxHeight) / Float(height) {
            fitHeight = height * boxWidth / width
        } else {
            fitWidth = width * boxHeight / height
        }
        let fitted = resized(width: fitWidth, height: fitHeight)
        var boxed = Image(width: boxWidth, height: boxHeight, channels: channels, filledWith: 0.5)
        let left = (boxWidth - fitWidth) / 2, top = (boxHeight - fitHeight) / 2
        for c in 0..<channels {
            for y in 0..<fitHeight {
                for x in 0..<fitWidth { boxed[left + x, top + y, c] = fitted[x, y, c] }
            }
        }
        return boxed
    }
}

extension Network {
    /// An image file as this network takes it, as Darknet's `classify` prepares it:
    /// `load_image_color`, then `letterbox_image` to the network's input size.
    public func letterboxedInput(from path: String) throws -> Image {
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
        return image.letterboxed(width: input.width, height: input.height)
    }
}
