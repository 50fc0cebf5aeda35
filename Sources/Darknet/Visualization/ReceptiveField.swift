/// The network input pixels an output position of a layer depends on: for output (x, y), the
/// square of `size` pixels from (`x * stride + left`, `y * stride + top`), which may reach
/// past the input's edges (into the padding).
public struct ReceptiveField: Hashable, Sendable {
    public var size: Int
    public var stride: Int
    public var left: Int
    public var top: Int

    public init(size: Int, stride: Int, left: Int, top: Int) {
        self.size = size
        self.stride = stride
        self.left = left
        self.top = top
    }

    /// The field of output (x, y), clipped to an input of `width` × `height`: x and y ranges.
    public func box(x: Int, y: Int, width: Int, height: Int) -> (x: Range<Int>, y: Range<Int>) {
        let x0 = x * stride + left, y0 = y * stride + top
        return (max(x0, 0)..<max(min(x0 + size, width), max(x0, 0)), max(y0, 0)..<max(min(y0 + size, height), max(y0, 0)))
    }

    /// Covers both `self` and `other`, whose strides are the same (layers of one size).
    func union(_ other: ReceptiveField) -> ReceptiveField {
        let left = min(self.left, other.left), top = min(self.top, other.top)
        let size = max(max(self.left + self.size, other.left + other.size) - left, max(self.top + self.size, other.top + other.size) - top)
        return ReceptiveField(size: size, stride: max(stride, other.stride), left: left, top: top)
    }

    /// Through a layer reading this field's positions by `window`.
    func through(_ window: Window) -> ReceptiveField {
        ReceptiveField(size: size + (window.size - 1) * stride, stride: stride * window.stride,
                       left: left + window.left * stride, top: top + window.top * stride)
    }
}

extension Network {
    /// Each layer's receptive field; nil where an output reads the whole input (after a
    /// global pool or a connected layer).
    public var receptiveFields: [ReceptiveField?] {
        var fields: [ReceptiveField?] = []
        let input: ReceptiveField? = self.input.isImage ? ReceptiveField(size: 1, stride: 1, left: 0, top: 0) : nil
        for (index, layer) in layers.enumerated() {
            let sources = (layer.readsPreviousLayer ? [index - 1] : []) + layer.earlierInputs
            let read = sources.map { $0 < 0 ? input : fields[$0] }
            guard let window = layer.window, let first = read.first, var field = first,
                  read.allSatisfy({ $0 != nil }) else {
                fields.append(nil)
                continue
            }
            for other in read.dropFirst() { field = field.union(other!) }
            fields.append(field.through(window))
        }
        return fields
    }
}
