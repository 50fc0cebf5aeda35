import Foundation

/// Labelled images to train on: a folder of one folder per label (`DIR/LABEL/*.jpg|png`), or
/// Darknet's data file (`train=` a list of image paths, `labels=` a file of label names).
public struct TrainingData: Sendable {
    public var labels: [String]
    /// Each image's path and label index, in list order (a folder's: by label, then by name).
    public var examples: [(path: String, label: Int)]
    /// The data file's `backup=` folder, if it gives one.
    public var backup: String?
    /// The data file's `top=`: how many of the best guesses count for top-k accuracy.
    public var top: Int?

    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Reads a folder or a data file (its `list`: `train` or `valid`); `path` says which.
    public init(path: String, list: String = "train") throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw DarknetError.usage("\(path): no such file or folder")
        }
        if isFolder.boolValue { try self.init(folder: path) } else { try self.init(dataFile: path, list: list) }
    }

    /// The images a data file's `valid=` lists; nil for a folder or a data file without one.
    public static func validation(of path: String) throws -> TrainingData? {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue,
              try options(path)["valid"] != nil else { return nil }
        return try TrainingData(dataFile: path, list: "valid")
    }

    /// One label per subfolder, named as it; its images are the files in it.
    public init(folder: String) throws {
        let fileManager = FileManager.default
        let entries = try fileManager.contentsOfDirectory(atPath: folder).sorted()
        labels = entries.filter { name in
            var isFolder: ObjCBool = false
            return !name.hasPrefix(".") && fileManager.fileExists(atPath: "\(folder)/\(name)", isDirectory: &isFolder) && isFolder.boolValue
        }
        guard !labels.isEmpty else {
            throw DarknetError.usage("\(folder): no label folders in it; training takes DIR/LABEL/*.jpg|png or a Darknet data file")
        }
        examples = []
        for (index, label) in labels.enumerated() {
            let images = try fileManager.contentsOfDirectory(atPath: "\(folder)/\(label)").sorted()
                .filter { Self.imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
            guard !images.isEmpty else { throw DarknetError.usage("\(folder)/\(label): the label '\(label)' has no .jpg or .png images") }
            examples += images.map { ("\(folder)/\(label)/\($0)", index) }
        }
        backup = nil
        top = nil
    }

    /// Darknet's data file: `labels=` names the classes, one a line; `train=` lists the images,
    /// whose label is the one named by a folder or file-name part of the path. Darknet matches a
    /// label anywhere in the path, so `cat` also matches `classification/`; here only whole
    /// parts of the path count, and an image that names two labels or none is an error.
    public init(dataFile: String, list key: String = "train") throws {
        let options = try Self.options(dataFile)
        guard let list = options[key], let names = options["labels"] else {
            throw DarknetError.usage("\(dataFile): a data file must give \(key)= (the list of images) and labels= (the label names)")
        }
        let labels = try Self.lines(names, for: "labels= of \(dataFile)")
        self.labels = labels
        guard !labels.isEmpty else { throw DarknetError.usage("\(names): no labels in it") }
        if let classes = options["classes"].flatMap(Int.init), classes != labels.count {
            throw DarknetError.usage("\(dataFile): classes=\(classes) but \(names) names \(labels.count) labels")
        }
        examples = try Self.lines(list, for: "\(key)= of \(dataFile)").map { path in
            let found = Self.labels(of: path, among: labels)
            guard found.count == 1, let label = found.first else {
                let named = found.map { labels[$0] }.joined(separator: ", ")
                throw DarknetError.usage("\(path) (in \(list)): \(found.isEmpty ? "names no label of \(names)" : "names several labels (\(named))"); a label must be a folder or a part of the file name")
            }
            return (path, label)
        }
        guard !examples.isEmpty else { throw DarknetError.usage("\(list): no images in it") }
        backup = options["backup"]
        top = options["top"].flatMap(Int.init)
    }

    /// The labels a path names, as darkscope reads them: those equal to one of its folders,
    /// to the file's name without its extension, or to a part of that name between `_` or `-`.
    public static func labels(of path: String, among labels: [String]) -> [Int] {
        let url = URL(fileURLWithPath: path), stem = url.deletingPathExtension().lastPathComponent
        let folders: [String] = Array(url.pathComponents.dropLast())
        let parts = Set(folders + [stem] + stem.split { $0 == "_" || $0 == "-" }.map(String.init))
        return labels.indices.filter { parts.contains(labels[$0]) }
    }

    /// The labels Darknet's `fill_truth` gives a path: every one it contains anywhere (`strstr`).
    public static func darknetLabels(of path: String, among labels: [String]) -> [Int] {
        labels.indices.filter { path.contains(labels[$0]) }
    }

    /// A data file's label names and the images of its `train=` and `valid=` lists, without
    /// labelling them (for `darkscope data check`).
    public static func lists(of dataFile: String) throws -> (labels: [String], lists: [(key: String, path: String, images: [String])]) {
        let options = try options(dataFile)
        guard let names = options["labels"] else { throw DarknetError.usage("\(dataFile): a data file must give labels= (the label names)") }
        let lists = try ["train", "valid"].compactMap { key in
            try options[key].map { (key, $0, try lines($0, for: "\(key)= of \(dataFile)")) }
        }
        guard !lists.isEmpty else { throw DarknetError.usage("\(dataFile): a data file must give train= or valid= (lists of images)") }
        return (try lines(names, for: "labels= of \(dataFile)"), lists)
    }

    /// `key = value` lines; `#` starts a comment.
    private static func options(_ path: String) throws -> [String: String] {
        var options: [String: String] = [:]
        for line in try lines(path, for: "the data file") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            options[key] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return options
    }

    /// The non-empty, non-comment lines of a text file.
    private static func lines(_ path: String, for what: String) throws -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DarknetError.usage("\(path) (\(what)): cannot be read as text")
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }
}
