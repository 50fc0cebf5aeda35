import Foundation

/// One `key=value` line of a cfg section.
public struct CfgOption: Hashable, Sendable {
    public var key: String
    public var value: String
    public var line: Int
}

/// One `[type]` section of a cfg file and its options, in file order.
///
/// Readers take Darknet's default when a key is absent and record which keys were
/// read, so that the rest can be reported as unused, as Darknet does.
public struct CfgSection: Sendable {
    public var type: String
    public var line: Int
    public var file: String
    public var options: [CfgOption]
    private(set) var readKeys: Set<String> = []

    init(type: String, line: Int, file: String, options: [CfgOption] = []) {
        self.type = type
        self.line = line
        self.file = file
        self.options = options
    }

    /// Darknet's `option_find` takes the first occurrence of a key.
    private mutating func option(_ key: String) -> CfgOption? {
        readKeys.insert(key)
        return options.first { $0.key == key }
    }

    func error(_ problem: String, line: Int? = nil) -> DarknetError {
        .cfg(file: file, line: line ?? self.line, problem: problem)
    }

    public mutating func has(_ key: String) -> Bool { option(key) != nil }

    /// The absolute index of the earlier layer `key` names (relative when negative), for a
    /// layer at `index`, as `[shortcut]` and `[scale_channels]` read `from`.
    mutating func earlierLayer(_ key: String, index: Int) throws -> Int {
        guard has(key) else { throw error("[\(type)] needs \(key)=, the earlier layer it reads") }
        return try earlierLayer(key, given: try int(key, default: 0), index: index, line: line(of: key))
    }

    /// The absolute indices of the earlier layers a list names (`[route]`'s `layers`, AlexeyAB's
    /// `[shortcut]` `from`), each as `earlierLayer` reads one; nil when the key is absent.
    mutating func earlierLayers(_ key: String, index: Int) throws -> [Int]? {
        guard let (values, line) = try intList(key) else { return nil }
        return try values.map { try earlierLayer(key, given: $0, index: index, line: line) }
    }

    private func earlierLayer(_ key: String, given: Int, index: Int, line: Int?) throws -> Int {
        let layer = given < 0 ? index + given : given
        guard layer >= 0, layer < index else {
            throw error("[\(type)] \(key)=\(given) points at layer \(layer), but only layers 0...\(index - 1) come before layer \(index)", line: line)
        }
        return layer
    }

    /// Refuses keys of AlexeyAB's dialect that darkscope does not compute yet, where they
    /// would change the result: each key given with a value other than its neutral one
    /// (nil: any value). A silent default would compute another network.
    mutating func refuseAlexeyABKeys(_ neutral: KeyValuePairs<String, String?>) throws {
        for (key, value) in neutral {
            guard let option = option(key) else { continue }
            if let value, option.value == value || Int(option.value).map(String.init) == value { continue }
            throw error("[\(type)] \(key)=\(excerpt(option.value)) is AlexeyAB's, and darkscope does not compute it yet", line: option.line)
        }
    }

    /// Gives `key` the value `value` (its first occurrence, or a new option on the section's line):
    /// for a layer read with another setting than its cfg's, as antialiasing reads its host at stride 1.
    mutating func replace(_ key: String, with value: String) {
        if let index = options.firstIndex(where: { $0.key == key }) {
            options[index].value = value
        } else {
            options.append(CfgOption(key: key, value: value, line: line))
        }
    }

    /// The line a key is on (its first occurrence), to point an error at it.
    func line(of key: String) -> Int? { options.first { $0.key == key }?.line }

    public mutating func int(_ key: String, default value: Int) throws -> Int {
        guard let option = option(key) else { return value }
        guard let number = Int(option.value) else {
            throw error("[\(type)] \(key): expected a whole number, got '\(excerpt(option.value))'", line: option.line)
        }
        // Darknet reads every whole number into a C int.
        guard let _ = Int32(exactly: number) else {
            throw error("[\(type)] \(key): expected a whole number from \(Int32.min) to \(Int32.max), got \(number)", line: option.line)
        }
        return number
    }

    /// The product of `factors`, refused past Darknet's C `int`, where its counts overflow,
    /// instead of trapping or allocating without end.
    func count(of what: String, _ factors: Int...) throws -> Int {
        var product = 1
        for factor in factors {
            let (next, overflow) = product.multipliedReportingOverflow(by: factor)
            guard !overflow, Int32(exactly: next) != nil else {
                throw error("[\(type)] \(what) would be more than \(Int32.max) values (\(factors.map(String.init).joined(separator: " x ")))")
            }
            product = next
        }
        return product
    }

    public mutating func float(_ key: String, default value: Float) throws -> Float {
        guard let option = option(key) else { return value }
        guard let number = Float(option.value), number.isFinite else {
            throw error("[\(type)] \(key): expected a number, got '\(excerpt(option.value))'", line: option.line)
        }
        return number
    }

    public mutating func string(_ key: String, default value: String) -> String {
        option(key)?.value ?? value
    }

    /// A comma-separated list of whole numbers, or nil when the key is absent.
    public mutating func intList(_ key: String) throws -> (values: [Int], line: Int)? {
        guard let option = option(key) else { return nil }
        // Darknet's atoi skips the spaces before each number.
        let parts = option.value.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.count == parts.count else {
            throw error("[\(type)] \(key): expected whole numbers separated by commas, got '\(excerpt(option.value))'", line: option.line)
        }
        return (values, option.line)
    }

    /// A comma-separated list of numbers, or nil when the key is absent.
    public mutating func floatList(_ key: String) throws -> (values: [Float], line: Int)? {
        guard let option = option(key) else { return nil }
        let parts = option.value.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }.filter(\.isFinite)
        guard !parts.isEmpty, values.count == parts.count else {
            throw error("[\(type)] \(key): expected numbers separated by commas, got '\(excerpt(option.value))'", line: option.line)
        }
        return (values, option.line)
    }

    /// Marks keys Darknet reads but that do not change inference (training settings).
    public mutating func ignore(_ keys: [String]) {
        readKeys.formUnion(keys)
    }

    /// Options never read, in file order: Darknet warns of them as "Unused field".
    /// A repeated key counts as read only at its first occurrence, the one Darknet takes.
    public var unusedOptions: [CfgOption] {
        options.enumerated().filter { index, option in
            !readKeys.contains(option.key) || options.firstIndex { $0.key == option.key } != index
        }.map(\.element)
    }
}

/// A cfg file split into sections, in Darknet's INI dialect.
public struct CfgFile: Sendable {
    public var path: String
    public var sections: [CfgSection]

    public static func load(path: String) throws -> CfgFile {
        return try parse(try readRegularFile(path), file: path)
    }

    /// Parses a cfg file's bytes, refusing binary data; `file` names it in errors.
    public static func parse(_ bytes: Data, file: String) throws -> CfgFile {
        var data = bytes
        // A UTF-8 byte-order mark (Notepad writes one) is not part of the first line.
        if data.starts(with: [0xEF, 0xBB, 0xBF]) { data.removeFirst(3) }
        try checkText(data, file: file)
        return try parse(String(decoding: data, as: UTF8.self), file: file)
    }

    /// Refuses binary data (invalid UTF-8, or control bytes other than white space)
    /// at the line where it starts, rather than quoting it back in an error.
    static func checkText(_ data: Data, file: String) throws {
        if let (line, what) = binaryData(in: data) {
            throw DarknetError.cfg(file: file, line: line, problem: "expected a text cfg file, found \(what); is this a binary file?")
        }
    }

    /// Parses cfg text. As in Darknet, all white space inside a line is dropped
    /// (so `size = 3` is `size=3`) and lines starting with `#` or `;` are comments.
    public static func parse(_ text: String, file: String) throws -> CfgFile {
        var sections: [CfgSection] = []
        var number = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            number += 1
            let line = String(rawLine.filter { !$0.isWhitespace })
            guard let first = line.first, first != "#", first != ";" else { continue }
            if first == "[" {
                guard line.last == "]", line.count > 2 else {
                    throw DarknetError.cfg(file: file, line: number, problem: "expected a section header like [convolutional], got '\(excerpt(line))'")
                }
                sections.append(CfgSection(type: String(line.dropFirst().dropLast()), line: number, file: file))
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw DarknetError.cfg(file: file, line: number, problem: "expected key=value, got '\(excerpt(line))'")
            }
            let key = String(line[..<equals])
            // A '#' after a value starts a comment, as Darknet's atoi and atof read it
            // ("filters=40#32" is 40: AlexeyAB's efficientnet-lite3.cfg writes such lines).
            let value = String(line[line.index(after: equals)...].prefix { $0 != "#" })
            guard !key.isEmpty else {
                throw DarknetError.cfg(file: file, line: number, problem: "missing key before '=' in '\(excerpt(line))'")
            }
            guard !sections.isEmpty else {
                throw DarknetError.cfg(file: file, line: number, problem: "option '\(excerpt(key))' comes before any section; the file must start with [net]")
            }
            sections[sections.count - 1].options.append(CfgOption(key: key, value: value, line: number))
        }
        return CfgFile(path: file, sections: sections)
    }
}

/// The first line of `data` that is not text, and what is wrong with it: invalid UTF-8,
/// or a control byte other than white space. Lines are counted as `CfgFile.parse`
/// counts them, where \r, \r\n and other line breaks also end lines.
func binaryData(in data: Data) -> (line: Int, problem: String)? {
    let bytes = [UInt8](data)
    var start = 0
    while start < bytes.count {
        let end = bytes[start...].firstIndex { (0x0A...0x0D).contains($0) } ?? bytes.count
        let line = bytes[start..<end]
        var problem: String?
        if let control = line.first(where: { $0 < 0x20 && !(0x09...0x0D).contains($0) || $0 == 0x7F }) {
            problem = String(format: "control byte 0x%02X", control)
        } else if String(validating: line, as: UTF8.self) == nil {
            problem = "bytes that are not UTF-8"
        }
        if let problem {
            let number = String(decoding: bytes[..<start], as: UTF8.self)
                .split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).count
            return (number, problem)
        }
        start = end + 1
    }
    return nil
}

/// Text quoted back in an error or warning, cut to its first 80 characters: a line of a
/// cfg can be megabytes long.
func excerpt(_ text: some StringProtocol) -> String {
    let limit = 80
    guard let end = text.index(text.startIndex, offsetBy: limit, limitedBy: text.endIndex), end < text.endIndex else {
        return String(text)
    }
    return "\(text[..<end])… (\(text.count) characters)"
}
