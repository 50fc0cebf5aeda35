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

    /// A network of one [net] and a softmax, with `options` in [net].
    private func settings(_ options: String) throws -> TrainingSettings {
        try Network(cfg: CfgFile.parse("[net]\ninputs=4\n\(options)\n[softmax]\n", file: "test.cfg")).training
    }

    /// Each of Darknet's policies, against `get_current_rate`'s formulas worked by hand.
    func testLearningRatePoliciesAreDarknets() throws {
        let constant = try settings("learning_rate=0.5")
        XCTAssertEqual(constant.rate(afterBatches: 1000), 0.5)
        XCTAssertEqual(try settings("").rate(afterBatches: 0), 0.001)
        let burn = try settings("learning_rate=0.5\nburn_in=100\npower=2")
        XCTAssertEqual(burn.rate(afterBatches: 50), 0.5 * 0.25, accuracy: 1e-7)
        XCTAssertEqual(burn.rate(afterBatches: 100), 0.5)
        let step = try settings("learning_rate=1\npolicy=step\nstep=10\nscale=0.5")
        XCTAssertEqual(step.rate(afterBatches: 9), 1)
        XCTAssertEqual(step.rate(afterBatches: 25), 0.25)
        let steps = try settings("learning_rate=1\npolicy=steps\nsteps=10,20\nscales=0.1,0.5")
        XCTAssertEqual(steps.rate(afterBatches: 9), 1)
        XCTAssertEqual(steps.rate(afterBatches: 10), 0.1, accuracy: 1e-7)
        XCTAssertEqual(steps.rate(afterBatches: 30), 0.05, accuracy: 1e-7)
        XCTAssertEqual(try settings("learning_rate=2\npolicy=exp\ngamma=0.5").rate(afterBatches: 3), 0.25)
        let poly = try settings("learning_rate=1\npolicy=poly\npower=2\nmax_batches=100")
        XCTAssertEqual(poly.rate(afterBatches: 50), 0.25, accuracy: 1e-7)
        XCTAssertEqual(try settings("learning_rate=1\npolicy=random\npower=2").rate(afterBatches: 7) { 0.5 }, 0.25)
        let sigmoid = try settings("learning_rate=1\npolicy=sigmoid\ngamma=0.1\nstep=20")
        XCTAssertEqual(sigmoid.rate(afterBatches: 20), 0.5)
        XCTAssertEqual(sigmoid.rate(afterBatches: 30), Float(1 / (1 + exp(1.0))), accuracy: 1e-7)
        // Darknet's unsigned batch count wraps before the step: the rate is 0 there.
        XCTAssertEqual(sigmoid.rate(afterBatches: 10), 0)
        XCTAssertThrowsError(try settings("policy=cosine")) { error in
            XCTAssertEqual("\(error)", "test.cfg:3: [net] unknown policy 'cosine'; expected constant, step, steps, exp, poly, random or sigmoid")
        }
        XCTAssertThrowsError(try settings("policy=steps\nsteps=1,2\nscales=0.1"))
    }

    /// What cannot be trained says so in one line, before any pass.
    func testWhatCannotBeTrainedIsRefused() throws {
        func refusal(_ cfg: String) throws -> String {
            var network = try Network(cfg: CfgFile.parse(cfg, file: "test.cfg"))
            try network.randomize(seed: 1)
            do {
                _ = try Trainer(network: network)
                return "trained"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(try refusal("[net]\ninputs=4\n[connected]\noutput=2\n"),
                       "test.cfg:1: the network has no [softmax] layer; darkscope trains classifiers by softmax with cost")
        XCTAssertEqual(try refusal("[net]\nbatch=3\nsubdivisions=2\ninputs=4\n[softmax]\n"),
                       "test.cfg:2: [net] batch=3 must be positive and a multiple of subdivisions=2 to train")
        XCTAssertEqual(try refusal("[net]\ninputs=4\n[dropout]\n[softmax]\n"),
                       "test.cfg:1: layer 0 ([dropout]) cannot be trained by darkscope yet")
    }
}
