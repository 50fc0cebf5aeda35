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

    public var description: String {
        switch self {
        case let .cfg(file, line, problem): "\(file):\(line): \(problem)"
        case let .weights(file, problem): "\(file): \(problem)"
        case let .image(file, problem): "\(file): \(problem)"
        case let .file(path, problem): "\(path): \(problem)"
        case let .usage(problem): problem
        }
    }
}
