import Darknet
import Foundation
import XCTest

/// Training against Debian's libdarknet: `train_network` from the same weights on the same
/// batch (the oracle's `train` mode), and Darknet's learning-rate policies.
final class TrainingTests: XCTestCase {
    /// One SGD step of Tiny Darknet (batch norm on two photos' statistics, leaky, maxpool,
    /// avgpool, softmax with cost) from its real weights: every updated weight, bias, scale and
    /// rolling statistic within 1e-4 of Darknet's, relative to its block's largest, and the loss
    /// within 1e-5. The step must move the parameters far more than that, or it proves nothing.
    func testOneStepOfTinyDarknetMatchesTrainNetwork() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cfg = directory.appendingPathComponent("tiny.cfg").path
        try String(contentsOfFile: "\(Oracle.share)/cfg/tiny.cfg", encoding: .utf8)
            .replacingOccurrences(of: "batch=128", with: "batch=2")
            .write(toFile: cfg, atomically: true, encoding: .utf8)
        // The published weights have seen 1.6 × 10⁸ images, past max_batches: poly's rate would be nonsense.
        let real = try WeightsFile(path: Repo.requireTinyWeights())
        let weights = directory.appendingPathComponent("tiny.weights").path
        try WeightsFile(path: weights, header: WeightsHeader(major: 0, minor: 2, revision: 0, seen: 0), values: real.values).write()
        var network = try Network(cfg: cfg)
        XCTAssertEqual(network.training.batch, 2)
        XCTAssertEqual(network.training.policy, .poly)
        try network.loadWeights(path: weights)
        let images = try ["dog.jpg", "eagle.jpg"].flatMap { name in
            try Image(contentsOf: "\(Oracle.share)/data/\(name)").letterboxed(width: 224, height: 224).values
        }
        let labels = [258, 22]
        let imagesPath = directory.appendingPathComponent("images.f32").path
        let labelsPath = directory.appendingPathComponent("labels.i32").path
        FileManager.default.createFile(atPath: imagesPath, contents: images.withUnsafeBytes { Data($0) })
        FileManager.default.createFile(atPath: labelsPath, contents: labels.map(Int32.init).withUnsafeBytes { Data($0) })
        let trained = directory.appendingPathComponent("trained.weights").path
        let result = try runProcess(Oracle.helper(), ["train", cfg, weights, imagesPath, labelsPath, trained])
        XCTAssertEqual(result.status, 0, result.stderr)
        let darknetLoss = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("loss ") }.flatMap { Float($0.dropFirst(5)) })
        let expected = try WeightsFile(path: trained)
        XCTAssertEqual(expected.header.seen, 2)

        let trainer = try Trainer(network: network)
        let loss = try trainer.train(images: images, labels: labels)
        XCTAssertEqual(trainer.seen, 2)
        XCTAssertLessThanOrEqual(abs(loss - darknetLoss) / darknetLoss, 1e-5, "loss \(loss) against Darknet's \(darknetLoss)")
        let ours = trainer.network.parameters
        XCTAssertEqual(ours.count, expected.values.count)
        var offset = 0, moved = 0
        for (index, layer) in network.layers.enumerated() {
            for block in layer.parameterBlocks {
                let range = offset..<(offset + block.count)
                offset += block.count
                let error = relativeError(ours[range], expected.values[range])
                let change = relativeError(real.values[range], expected.values[range])
                XCTAssertLessThanOrEqual(error, 1e-4, "layer \(index) \(block.kind.name): \(error) (the step moved it \(change))")
                if change > 100 * max(error, 1e-6) { moved += 1 }
            }
        }
        // Every block of every convolution but the rolling statistics of a few.
        XCTAssertGreaterThan(moved, 3 * network.layers.filter { $0 is Convolutional }.count, "the step moved too few blocks")
    }
}
