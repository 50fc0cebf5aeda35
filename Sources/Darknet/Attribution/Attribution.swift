/// How an attribution map finds the evidence for a class in an image.
public enum AttributionMethod: String, CaseIterable, Hashable, Sendable {
    /// Grad-CAM (Selvaraju et al. 2017): a layer's channels weighted by their mean gradient.
    case gradCAM = "gradcam"
    /// Grad-CAM++ (Chattopadhay et al. 2018): the channels weighted by their positive
    /// gradients, each pixel's weighed by second- and third-order terms.
    case gradCAMPlusPlus = "gradcam++"
    /// The input gradient's largest magnitude over the colour channels (Simonyan et al. 2014).
    case gradient
    /// The input gradient times the input, summed over the colour channels.
    case gradientTimesInput = "gradient-x-input"
    /// The gradient's magnitude averaged over noisy copies of the image (Smilkov et al. 2017).
    case smoothGrad = "smoothgrad"
    /// The gradient integrated along the straight path from a baseline (Sundararajan et al. 2017).
    case integratedGradients = "integrated-gradients"
    /// The drop of the class's probability when a grey patch hides each place (Zeiler and Fergus 2014).
    case occlusion

    /// Whether the map is read from a layer's output (and `AttributionSettings.layer` applies).
    public var readsLayer: Bool { self == .gradCAM || self == .gradCAMPlusPlus }
}

/// What Integrated Gradients starts from.
public enum IntegrationBaseline: String, CaseIterable, Hashable, Sendable {
    /// All zeros.
    case black
    /// The image blurred (a Gaussian of `AttributionSettings.blurRadius` input pixels).
    case blurred
}

/// Each method's knobs, with the defaults `darkscope explain` uses. Part of a map's identity.
public struct AttributionSettings: Hashable, Sendable {
    /// Grad-CAM's layer; nil: the last convolutional layer whose output is at least 7x7.
    public var layer: Int?
    /// SmoothGrad's noisy copies, and their noise's standard deviation as a fraction of the
    /// input's range (Smilkov et al. found 10-20 % best).
    public var samples = 16
    public var noise: Float = 0.15
    /// Integrated Gradients' steps and baseline.
    public var steps = 32
    public var baseline = IntegrationBaseline.black
    public var blurRadius: Float = 8
    /// Seeds SmoothGrad's noise and Integrated Gradients' points within each step.
    public var seed: UInt64 = 1
    /// Occlusion's square patch and its stride, in network input pixels.
    public var patch = 32
    public var stride = 16

    public init(layer: Int? = nil) { self.layer = layer }
}

/// What a map is made for: a method, a class (nil: the top-1), and the settings.
public struct AttributionRequest: Hashable, Sendable {
    public var method: AttributionMethod
    public var classIndex: Int?
    public var settings: AttributionSettings

    public init(method: AttributionMethod, classIndex: Int? = nil, settings: AttributionSettings = AttributionSettings()) {
        self.method = method
        self.classIndex = classIndex
        self.settings = settings
    }
}

/// How far a computation is, in passes: handed to the caller between passes.
public struct AttributionProgress: Hashable, Sendable {
    public var completed: Int
    public var total: Int

    public var fraction: Double { total > 0 ? Double(completed) / Double(total) : 1 }
}

/// Evidence for one class over the original image: `rows` rows of `cols` values, row after
/// row, from the image's top-left corner to its bottom-right (the letterbox margins cut away,
/// rows and cols in the image's proportions); larger means more evidence for the class.
public struct AttributionMap: Hashable, Sendable {
    /// What it was made for, as asked (`classIndex` nil: the top-1), to key it by.
    public var request: AttributionRequest
    /// The class it maps: the one asked for, or the image's top-1.
    public var classIndex: Int
    /// The layer the map was read from (Grad-CAM's); nil for maps over the input.
    public var layer: Int?
    /// The class's probability for the image.
    public var probability: Float
    public var rows: Int
    public var cols: Int
    public var values: [Float]

    public var method: AttributionMethod { request.method }

    public subscript(row: Int, col: Int) -> Float { values[row * cols + col] }

    /// The smallest and largest value (0...0 for an empty map).
    public var range: ClosedRange<Float> {
        let low = values.min() ?? 0
        return low...max(low, values.max() ?? 0)
    }
}

/// A plane of values over the whole network input, `width × height` cells of equal size.
struct InputPlane {
    var width: Int
    var height: Int
    var values: [Float]

    /// The plane over `letterbox`'s image, in cells of `cellSize` input pixels (default: the
    /// plane's own), each sampled bilinearly at its centre: where the cells are the plane's,
    /// its values exactly.
    func covering(_ letterbox: Letterbox, cellSize: Double? = nil) -> (rows: Int, cols: Int, values: [Float]) {
        let xScale = Double(width) / Double(letterbox.boxWidth), yScale = Double(height) / Double(letterbox.boxHeight)
        let size = cellSize ?? 1 / xScale
        let cols = max(1, Int((Double(letterbox.width) / size).rounded()))
        let rows = max(1, Int((Double(letterbox.height) / size).rounded()))
        var out = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            // The cell centre in input pixels, then in plane cells (centres at i + 0.5).
            let y = Double(letterbox.top) + (Double(r) + 0.5) * Double(letterbox.height) / Double(rows)
            let (y0, y1, fy) = Self.neighbours(y * yScale - 0.5, count: height)
            for c in 0..<cols {
                let x = Double(letterbox.left) + (Double(c) + 0.5) * Double(letterbox.width) / Double(cols)
                let (x0, x1, fx) = Self.neighbours(x * xScale - 0.5, count: width)
                let top = Double(values[y0 * width + x0]) * (1 - fx) + Double(values[y0 * width + x1]) * fx
                let bottom = Double(values[y1 * width + x0]) * (1 - fx) + Double(values[y1 * width + x1]) * fx
                out[r * cols + c] = Float(top * (1 - fy) + bottom * fy)
            }
        }
        return (rows, cols, out)
    }

    /// The two cells either side of `position` (clamped to the plane) and the weight of the second.
    private static func neighbours(_ position: Double, count: Int) -> (Int, Int, Double) {
        let clamped = min(max(position, 0), Double(count - 1))
        let low = Int(clamped)
        return (low, min(low + 1, count - 1), clamped - Double(low))
    }
}
