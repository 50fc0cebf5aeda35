import Foundation

/// How a classifier does on labelled images, as Darknet's `validate_classifier_single`
/// counts it: top-1 and top-k accuracy, and which label each image was taken for.
public struct Validation: Sendable {
    public var labels: [String]
    /// How many of the best guesses count for `topK`.
    public let k: Int
    public private(set) var images = 0, top1 = 0, topK = 0
    /// `confusion[truth][guess]`: images of label `truth` whose best guess was `guess`.
    public private(set) var confusion: [[Int]]
    /// Images that could not be read, with why.
    public private(set) var skipped: [String] = []

    /// The share of the images whose label was the best guess, and one of the best `k`: 0 without images.
    public var top1Accuracy: Double { images > 0 ? Double(top1) / Double(images) : 0 }
    public var topKAccuracy: Double { images > 0 ? Double(topK) / Double(images) : 0 }

    /// Runs every example of `data` through `network` (a batch of 8 at a time), each image
    /// resized to the input as `darkscope train` takes it.
    public init(network: Network, data: TrainingData, top: Int, threads: Int? = nil) throws {
        let classes = network.outputCount
        guard data.labels.count == classes else {
            throw DarknetError.usage("the data has \(data.labels.count) labels but \(network.cfgPath) outputs \(classes) classes")
        }
        labels = data.labels
        k = min(max(top, 1), classes)
        confusion = Array(repeating: Array(repeating: 0, count: classes), count: classes)
        let predictor = Predictor(network: network, threads: threads), size = network.input
        var batch: [Float] = [], truths: [Int] = []
        for (index, example) in data.examples.enumerated() {
            do {
                batch += try Image(contentsOf: example.path).resized(width: size.width, height: size.height).values
                truths.append(example.label)
            } catch let error as DarknetError {
                skipped.append("\(error)")
            }
            guard truths.count == 8 || index == data.examples.count - 1, !truths.isEmpty else { continue }
            let result = try predictor.forward(batch, batch: truths.count, keepingLayerOutputs: false)
            for (image, truth) in truths.enumerated() {
                count(Array(result.prediction(image: image)), truth: truth)
            }
            (batch, truths) = ([], [])
        }
    }

    private mutating func count(_ probabilities: [Float], truth: Int) {
        let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] || probabilities[$0] == probabilities[$1] && $0 < $1 }
        images += 1
        if ranked[0] == truth { top1 += 1 }
        if ranked.prefix(k).contains(truth) { topK += 1 }
        confusion[truth][ranked[0]] += 1
    }
}
