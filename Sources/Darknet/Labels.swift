import Foundation

/// Class names, one per line, in the order of the network's outputs.
public struct Labels: Sendable {
    public var names: [String]

    public init(names: [String]) { self.names = names }

    public init(path: String) throws {
        let data = try readRegularFile(path)
        if let (line, problem) = binaryData(in: data) {
            throw DarknetError.file(path: path, problem: "expected class names as text, found \(problem) on line \(line); is this a binary file?")
        }
        names = String(decoding: data, as: UTF8.self)
            .split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty else { throw DarknetError.file(path: path, problem: "the label list is empty") }
    }

    /// The name of class `index`, or its number when the list is shorter.
    public subscript(index: Int) -> String { index < names.count ? names[index] : "class \(index)" }
}

/// One class and its probability.
public struct Prediction: Hashable, Sendable, Codable {
    public var index: Int
    public var name: String
    public var probability: Float
}

extension Labels {
    /// The `k` most probable classes, most probable first; ties keep the lower index,
    /// as Darknet's `top_k` does.
    public func top(_ k: Int, of probabilities: some Collection<Float>) -> [Prediction] {
        let values = Array(probabilities)
        let order = values.indices.sorted { values[$0] > values[$1] || values[$0] == values[$1] && $0 < $1 }
        return order.prefix(k).map { Prediction(index: $0, name: self[$0], probability: values[$0]) }
    }
}
