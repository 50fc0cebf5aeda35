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
        // Lines split and blanks trimmed on the bytes: through Characters and Foundation's
        // trimming, ImageNet's 1000 names took 3 ms of a 60 ms `classify`.
        names = data.split { $0 == 0x0A || $0 == 0x0D }.map(Self.name)
        guard !names.isEmpty else { throw DarknetError.file(path: path, problem: "the label list is empty") }
    }

    /// One line's name: without the spaces and tabs at either end (nor other Unicode blanks).
    private static func name(_ line: Data.SubSequence) -> String {
        let isBlank = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        var start = line.startIndex, end = line.endIndex
        while start < end, isBlank(line[start]) { start += 1 }
        while end > start, isBlank(line[end - 1]) { end -= 1 }
        let name = String(decoding: line[start..<end], as: UTF8.self)
        let blankEnd = name.first?.isWhitespace == true || name.last?.isWhitespace == true
        return blankEnd ? name.trimmingCharacters(in: .whitespaces) : name
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

extension Labels {
    /// The class `text` names, by its name (case aside) or its index among `classes`.
    public func classIndex(_ text: String, classes: Int) throws -> Int {
        if let index = Int(text) {
            guard (0..<classes).contains(index) else {
                throw DarknetError.usage("class \(index) does not exist; the network has classes 0...\(classes - 1)")
            }
            return index
        }
        let wanted = text.lowercased()
        if let index = names.prefix(classes).firstIndex(where: { $0.lowercased() == wanted }) { return index }
        throw DarknetError.unknownClass(text, suggestions: closest(to: wanted, among: classes))
    }

    /// Up to three names within a few edits of `text` or containing it, closest first.
    private func closest(to text: String, among classes: Int) -> [String] {
        let scored = names.prefix(classes).map { name -> (String, Int) in
            let lower = name.lowercased()
            return (name, lower.contains(text) ? 0 : editDistance(Array(lower), Array(text)))
        }
        let limit = max(2, text.count / 3)
        return scored.filter { $0.1 <= limit }.sorted { $0.1 < $1.1 }.prefix(3).map(\.0)
    }
}

/// Levenshtein's distance: insertions, deletions and substitutions from `a` to `b`.
private func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    var previous = Array(0...b.count)
    for (i, x) in a.enumerated() {
        var current = [i + 1]
        for (j, y) in b.enumerated() {
            current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
        }
        previous = current
    }
    return previous[b.count]
}
