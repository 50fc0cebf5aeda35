/// Everything the core can refuse, each case carrying what a user needs to fix it.
public enum DarknetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A problem in a `.cfg` file, at a 1-based line.
    case cfg(file: String, line: Int, problem: String)
    /// A `.weights` file that does not fit its network or cannot be read.
    case weights(file: String, problem: String)
    /// An image that cannot be decoded.
    case image(file: String, problem: String)
    /// A file that cannot be opened or read at all.
    case file(path: String, problem: String)
    /// A request the network cannot serve (wrong input size, bad option).
    case usage(String)
    /// A class name the labels do not have, with the closest names they do have.
    case unknownClass(String, suggestions: [String])
    /// A layer whose output has no width and height to map (Grad-CAM needs a spatial one).
    case noSpatialExtent(layer: Int, output: Shape, suggestion: Int?)
    /// An occlusion patch that does not fit in the image's place in the network input.
    case patchTooLarge(patch: Int, width: Int, height: Int)

    public var description: String {
        switch self {
        case let .cfg(file, line, problem): "\(file):\(line): \(problem)"
        case let .weights(file, problem): "\(file): \(problem)"
        case let .image(file, problem): "\(file): \(problem)"
        case let .file(path, problem): "\(path): \(problem)"
        case let .usage(problem): problem
        case let .unknownClass(name, suggestions):
            "unknown class '\(name)'" + (suggestions.isEmpty ? "; give a class name from the labels or its index"
                : "; did you mean " + suggestions.map { "'\($0)'" }.joined(separator: ", ") + "?")
        case let .noSpatialExtent(layer, output, suggestion):
            "layer \(layer) outputs \(output.isImage ? "\(output)" : "\(output.count) flat values"), no width and height to map over the image"
                + (suggestion.map { "; give a layer with width and height, such as \($0)" } ?? "")
        case let .patchTooLarge(patch, width, height):
            "an occlusion patch of \(patch)x\(patch) input pixels does not fit in the image, \(width)x\(height) in the network's input; give a smaller --patch"
        }
    }
}
