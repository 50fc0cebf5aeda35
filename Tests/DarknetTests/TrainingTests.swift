import Darknet
import Foundation
import Render
import XCTest

/// Training against Debian's libdarknet: `train_network` from the same weights on the same
/// batch (the oracle's `train` mode), and Darknet's learning-rate policies.
final class TrainingTests: XCTestCase {
    /// One SGD step of Tiny Darknet (batch norm on two photos' statistics, leaky, maxpool,
    /// avgpool, softmax with cost) from its real weights.
    func testOneStepOfTinyDarknetMatchesTrainNetwork() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cfg = directory.appendingPathComponent("tiny.cfg").path
        try String(contentsOfFile: "\(Oracle.share)/cfg/tiny.cfg", encoding: .utf8)
            .replacingOccurrences(of: "batch=128", with: "batch=2")
            .write(toFile: cfg, atomically: true, encoding: .utf8)
        var network = try Network(cfg: cfg)
        XCTAssertEqual(network.training.batch, 2)
        XCTAssertEqual(network.training.policy, .poly)
        // The published weights have seen 1.6 × 10⁸ images, past max_batches: poly's rate would be nonsense.
        try network.loadWeights(path: Repo.requireTinyWeights())
        let images = try Self.photos(["dog.jpg", "eagle.jpg"], size: 224)
        try checkStep(network, cfg: cfg, images: images, labels: [258, 22], in: directory)
    }

    /// The same for Darknet Reference (darknet.cfg: eight convolutions, seven with batch norm,
    /// six maxpools, avgpool, softmax) at 64 × 64 with random weights, batch 2, and no burn-in
    /// (its burn_in=1000 would make the first rate 1e-12 of the learning rate): the keys put
    /// first in [net] win, as in Darknet.
    func testOneStepOfDarknetReferenceMatchesTrainNetwork() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cfg = directory.appendingPathComponent("darknet.cfg").path
        try String(contentsOfFile: "\(Oracle.share)/cfg/darknet.cfg", encoding: .utf8)
            .replacingOccurrences(of: "[net]", with: "[net]\nbatch=2\nsubdivisions=1\nwidth=64\nheight=64\nburn_in=0")
            .write(toFile: cfg, atomically: true, encoding: .utf8)
        var network = try Network(cfg: cfg)
        XCTAssertEqual(network.training.batch, 2)
        XCTAssertEqual(network.input.width, 64)
        try network.randomize(seed: 2)
        let images = try Self.photos(["dog.jpg", "horses.jpg"], size: 64)
        try checkStep(network, cfg: cfg, images: images, labels: [5, 998], in: directory)
    }

    /// Darknet's photos, letterboxed to `size` × `size`, one after another.
    private static func photos(_ names: [String], size: Int) throws -> [Float] {
        try names.flatMap { try Image(contentsOf: "\(Oracle.share)/data/\($0)").letterboxed(width: size, height: size).values }
    }

    /// The same for a crop (a random window, mirrored at random) and connected layers with
    /// and without batch norm, dropout (both drawing from C's `rand()`, seeded alike on both sides), a route of two layers, a shortcut, strided and grouped
    /// convolutions, over two steps of batch 4 (the second with the first's momentum), from
    /// random weights. Not batch 2: batch norm over two values
    /// normalizes each to ±0.71 whatever their difference, and its gradient grows as that
    /// difference shrinks: there a connected layer's rolling mean came 1.5e-4 from Darknet's,
    /// where every other block stayed within 1e-4.
    func testStepsOfCropConnectedRoutesAndShortcutsMatchTrainNetwork() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cfg = directory.appendingPathComponent("mixed.cfg").path
        try """
            [net]
            batch=4
            width=23
            height=22
            channels=3
            learning_rate=0.05
            momentum=0.9
            decay=0.0005
            policy=steps
            steps=1
            scales=0.5
            [crop]
            crop_width=20
            crop_height=20
            flip=1
            [convolutional]
            batch_normalize=1
            filters=8
            size=3
            pad=1
            activation=leaky
            [convolutional]
            filters=8
            size=3
            stride=2
            pad=1
            groups=2
            activation=relu
            [route]
            layers=-1
            [convolutional]
            batch_normalize=1
            filters=8
            size=3
            pad=1
            activation=linear
            [shortcut]
            from=-2
            activation=leaky
            [route]
            layers=-1,-3
            [maxpool]
            size=2
            stride=2
            [connected]
            output=24
            batch_normalize=1
            activation=leaky
            [dropout]
            probability=0.3
            [connected]
            output=10
            activation=linear
            [softmax]
            """.write(toFile: cfg, atomically: true, encoding: .utf8)
        var network = try Network(cfg: cfg)
        try network.randomize(seed: 4)
        let images = (0..<(8 * network.input.count)).map { Float(($0 * 7919) % 1000) / 1000 }
        try checkStep(network, cfg: cfg, images: images, labels: [3, 7, 1, 9, 0, 2, 7, 5], in: directory)
    }

    /// Trains `network` (the cfg at `cfg`, its weights with `seen` cleared) on `images` with
    /// `labels` by darkscope and by libdarknet's `train_network`: every updated weight, bias,
    /// scale and rolling statistic within 1e-4 of Darknet's, relative to its block's largest,
    /// and the loss within 1e-5. The steps must move the parameters far more than that, or
    /// the comparison proves nothing.
    private func checkStep(_ network: Network, cfg: String, images: [Float], labels: [Int], in directory: URL) throws {
        var network = network
        let start = network.parameters
        let weights = directory.appendingPathComponent("start.weights").path
        try WeightsFile(path: weights, header: WeightsHeader(), values: start).write(overwrite: true)
        try network.loadWeights(path: weights)
        let imagesPath = directory.appendingPathComponent("images.f32").path
        let labelsPath = directory.appendingPathComponent("labels.i32").path
        FileManager.default.createFile(atPath: imagesPath, contents: images.withUnsafeBytes { Data($0) })
        FileManager.default.createFile(atPath: labelsPath, contents: labels.map(Int32.init).withUnsafeBytes { Data($0) })
        let trained = directory.appendingPathComponent("trained.weights").path
        let result = try runProcess(Oracle.helper(), ["train", cfg, weights, imagesPath, labelsPath, trained, "7"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let darknetLoss = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("loss ") }.flatMap { Float($0.dropFirst(5)) })
        let expected = try WeightsFile(path: trained)
        XCTAssertEqual(expected.header.seen, UInt64(labels.count))

        let trainer = try Trainer(network: network, seed: 7)
        let loss = try trainer.train(images: images, labels: labels)
        XCTAssertEqual(trainer.seen, UInt64(labels.count))
        XCTAssertLessThanOrEqual(abs(loss - darknetLoss) / darknetLoss, 1e-5, "loss \(loss) against Darknet's \(darknetLoss)")
        let ours = trainer.network.parameters
        XCTAssertEqual(ours.count, expected.values.count)
        var offset = 0, moved = 0, blocks = 0, still: [String] = []
        for (index, layer) in network.layers.enumerated() {
            for block in layer.parameterBlocks {
                let range = offset..<(offset + block.count)
                offset += block.count
                let error = relativeError(ours[range], expected.values[range])
                let change = relativeError(start[range], expected.values[range])
                XCTAssertLessThanOrEqual(error, 1e-4, "layer \(index) \(block.kind.name): \(error) (the step moved it \(change))")
                blocks += 1
                if change > 100 * max(error, 1e-6) { moved += 1 } else { still.append("\(index) \(block.kind.name) \(change)") }
            }
        }
        XCTAssertGreaterThan(moved, blocks * 3 / 4, "the step moved too few blocks; not: \(still.joined(separator: ", "))")
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

    /// What cannot be trained says so in one line, before any pass (a convolution whose
    /// weights the file holds input-major, `flipped=1`, would be written back otherwise).
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
        XCTAssertEqual(try refusal("[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\nfilters=2\nsize=1\nflipped=1\n[avgpool]\n[softmax]\n"),
                       "test.cfg:1: layer 0 ([convolutional]) cannot be trained by darkscope yet")
    }

    /// A small classifier with a connected layer, for `darkscope train` on a folder.
    /// A folder of 16×16 horizontal and vertical stripes in ten colours (two labels, ten images
    /// each), and `stripesCfg` beside it.
    static func stripes(in directory: URL) throws -> (data: URL, cfg: String) {
        let data = directory.appendingPathComponent("stripes")
        for (label, horizontal) in [("horizontal", true), ("vertical", false)] {
            let folder = data.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for shade in 0..<10 {
                var raster = Raster(width: 16, height: 16)
                for y in 0..<16 {
                    for x in 0..<16 where (horizontal ? y : x) % 4 < 2 {
                        raster[x, y] = RGB(UInt8(25 * shade), UInt8(255 - 20 * shade), UInt8(60 + 10 * shade))
                    }
                }
                try raster.writePNG(to: folder.appendingPathComponent("\(shade).png").path)
            }
        }
        let cfg = directory.appendingPathComponent("stripes.cfg").path
        try Self.stripesCfg.write(toFile: cfg, atomically: true, encoding: .utf8)
        return (data, cfg)
    }

    static let stripesCfg = """
        [net]
        batch=8
        width=16
        height=16
        channels=3
        learning_rate=0.05
        momentum=0.9
        decay=0.0005
        max_batches=60
        [convolutional]
        batch_normalize=1
        filters=8
        size=3
        pad=1
        activation=leaky
        [maxpool]
        size=2
        stride=2
        [convolutional]
        batch_normalize=1
        filters=16
        size=3
        pad=1
        activation=leaky
        [avgpool]
        [connected]
        output=2
        activation=linear
        [softmax]
        """

    /// `darkscope train` as a person runs it: a folder of two labels (horizontal and vertical
    /// stripes of many shades) learnt from scratch in 60 batches, a line per batch as
    /// Darknet prints it, weights that Debian's Darknet reads and classifies with as darkscope
    /// does, never written over without --force, a backup on Ctrl-C that a later run goes on
    /// from; and bad data refused in one line.
    func testTrainCommandLearnsAFolderAndDarknetReadsItsWeights() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (data, cfg) = try Self.stripes(in: directory)
        let run = try darkscope("train", data.path, cfg, "--backup", directory.path)
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = run.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 61, run.stdout)
        XCTAssertTrue(lines[0].hasPrefix("1, 0.400: "), String(lines[0]))
        XCTAssertTrue(lines[59].hasPrefix("60, 24.000: ") && lines[59].hasSuffix("480 images"), String(lines[59]))
        func average(_ line: Substring) -> Float? { line.split(separator: " ").dropFirst(3).first.flatMap { Float($0) } }
        let first = try XCTUnwrap(average(lines[0])), last = try XCTUnwrap(average(lines[59]))
        XCTAssertLessThan(last, first / 5, "the average loss fell from \(first) to \(last)")
        let weights = directory.appendingPathComponent("stripes_final.weights").path
        XCTAssertEqual(lines[60], "wrote \(weights)")
        XCTAssertEqual(try WeightsFile(path: weights).header.seen, 480)

        // Both classify the two kinds as the labels say, with the same probabilities.
        let names = directory.appendingPathComponent("names.txt").path
        try "horizontal\nvertical\n".write(toFile: names, atomically: true, encoding: .utf8)
        let dataFile = directory.appendingPathComponent("stripes.data").path
        try "classes=2\nnames=\(names)\ntop=2\n".write(toFile: dataFile, atomically: true, encoding: .utf8)
        try Oracle.requireDarknet()
        for (label, image) in [("horizontal", "horizontal/3.png"), ("vertical", "vertical/7.png")] {
            let path = data.appendingPathComponent(image).path
            let ours = try darkscope("classify", cfg, weights, path, "--labels", names, "--top", "2")
            let theirs = try runProcess(Oracle.darknet, ["classifier", "predict", dataFile, cfg, weights, path])
            XCTAssertEqual(ours.status, 0, ours.stderr)
            let top = ours.stdout.split(separator: "\n").map(String.init)
            XCTAssertTrue(top.first?.hasSuffix(": \(label)") == true, ours.stdout)
            XCTAssertEqual(theirs.stdout.split(separator: "\n").suffix(2).map(String.init), top, theirs.stdout + theirs.stderr)
        }

        // darkscope valid on the same folder: every image right, counted in the matrix.
        let valid = try darkscope("valid", data.path, cfg, weights, "--json")
        XCTAssertEqual(valid.status, 0, valid.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(valid.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(report["images"] as? Int, 20)
        XCTAssertEqual(report["k"] as? Int, 2)
        XCTAssertEqual(report["top1"] as? Double, 1)
        XCTAssertEqual(report["confusion"] as? [[Int]], [[10, 0], [0, 10]])
        XCTAssertEqual(report["labels"] as? [String], ["horizontal", "vertical"])

        // Never over a file it did not write in this run.
        let before = try Data(contentsOf: URL(fileURLWithPath: weights))
        let again = try darkscope("train", data.path, cfg, "--backup", directory.path, "--max-batches", "1")
        XCTAssertEqual(again.status, 1)
        XCTAssertEqual(again.stderr, "darkscope: \(weights) exists; darkscope never overwrites weights without --force\n")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: weights)), before)
        let forced = try darkscope("train", data.path, cfg, weights, "--backup", directory.path, "--max-batches", "61", "--force")
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(forced.stdout.hasPrefix("61, 24.400: "), "resumed from the weights' 480 images: \(forced.stdout)")

        // --json: an object per batch, and nothing else on standard output.
        let json = try darkscope("train", data.path, cfg, "--backup", directory.path, "--max-batches", "3", "--force", "--json")
        XCTAssertEqual(json.status, 0, json.stderr)
        let objects = try json.stdout.split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertEqual(objects.map { $0["batch"] as? Int }, [1, 2, 3])
        XCTAssertEqual(objects.last?["images"] as? Int, 24)
        XCTAssertNotNil(objects.first?["avg_loss"] as? Double)
        XCTAssertEqual(json.stderr, "wrote \(weights)\n")

        // Ctrl-C: the batch under way ends, NAME.backup is written, and a run from it goes on
        // from the batch after (the backup it resumes from it may replace without --force).
        let long = try runProcess("/usr/bin/timeout", ["--preserve-status", "-s", "INT", "1.5", Repo.binary, "train", data.path, cfg,
                                                       "--backup", directory.path, "--max-batches", "100000000", "--force"])
        XCTAssertEqual(long.status, 130, long.stderr)
        let backup = directory.appendingPathComponent("stripes.backup").path
        let stopped = try XCTUnwrap(long.stdout.split(separator: "\n").last.map(String.init))
        XCTAssertTrue(stopped.hasPrefix("stopped by SIGINT after batch ") && stopped.hasSuffix("wrote \(backup); train from it to go on"), stopped)
        let done = try XCTUnwrap(Int(stopped.dropFirst("stopped by SIGINT after batch ".count).prefix { $0 != ":" }))
        XCTAssertGreaterThan(done, 0)
        XCTAssertEqual(try WeightsFile(path: backup).header.seen, UInt64(8 * done))
        let resumed = try darkscope("train", data.path, cfg, backup, "--backup", directory.path, "--max-batches", "\(done + 1)", "--force")
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.hasPrefix("\(done + 1), "), resumed.stdout)

        // An image that fails to decode mid-run: a warning naming it, and training goes on.
        let corrupt = data.appendingPathComponent("vertical/corrupt.png").path
        FileManager.default.createFile(atPath: corrupt, contents: Data("not a picture".utf8))
        let warned = try darkscope("train", data.path, cfg, "--backup", directory.path, "--max-batches", "20", "--force", "--in-order")
        XCTAssertEqual(warned.status, 0, warned.stderr)
        XCTAssertTrue(warned.stderr.hasPrefix("darkscope: warning: skipped an image: \(corrupt)"), warned.stderr)
        XCTAssertEqual(warned.stderr.split(separator: "\n").count, 1, "warned once, then left out: \(warned.stderr)")
        XCTAssertTrue(warned.stdout.contains("\n20, "), warned.stdout)
        try FileManager.default.removeItem(atPath: corrupt)

        // Bad data: one line each, non-zero exit.
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty.appendingPathComponent("cat"), withIntermediateDirectories: true)
        let missingList = directory.appendingPathComponent("missing.data").path
        try "classes=2\ntrain=\(directory.path)/nowhere.txt\nlabels=\(names)\n".write(toFile: missingList, atomically: true, encoding: .utf8)
        for (arguments, message) in [
            ([directory.appendingPathComponent("none").path, cfg], "no such file or folder"),
            ([empty.path, cfg], "the label 'cat' has no .jpg or .png images"),
            ([missingList, cfg], "nowhere.txt (train= of \(missingList)): cannot be read as text"),
        ] {
            let result = try runProcess(Repo.binary, ["train"] + arguments)
            XCTAssertEqual(result.status, 1, arguments.joined(separator: " "))
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
            XCTAssertTrue(result.stderr.contains(message), result.stderr)
        }
    }

    /// The full-screen view in a real terminal: the loss curve appears and moves, the batch's
    /// pictures change, a validation is shown after an epoch; Ctrl-C writes the backup and
    /// restores the terminal, and a run from the backup goes on from the batch it stopped at.
    func testTrainScreenShowsTheCurveMoveAndStopsWithABackup() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (data, cfg) = try Self.stripes(in: directory)
        let command = "'\(Repo.binary)' train '\(data.path)' '\(cfg)' --backup '\(directory.path)' --valid '\(data.path)' --max-batches 100000000 --threads 1"
        let session = try TmuxSession(command: command, columns: 100, rows: 30)
        let first = try session.waitFor("images seen", "validation after epoch", "q or Ctrl-C")
        func chart(_ screen: String) -> [String] { Array(screen.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[4..<18]) }
        func batch(_ screen: String) -> Int? {
            screen.split(separator: "\n").first { $0.hasPrefix("batch ") }.flatMap { Int($0.dropFirst(6).prefix { $0 != "/" }) }
        }
        let braille = { (line: String) in line.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) } }
        XCTAssertGreaterThan(chart(first).filter(braille).count, 3, first)
        XCTAssertTrue(first.contains("✓ horizontal") || first.contains("✓ vertical") || first.contains("✗ "), first)
        // The batch's pictures: symbols over the rows above their captions. The monitor writes
        // them right after each refresh of its text, so a capture can fall between the two.
        let drawn = { (screen: String) in
            screen.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[22..<28]
                .allSatisfy { $0.contains { !$0.isWhitespace } }
        }
        var pictured = first
        let deadline = Date().addingTimeInterval(10)
        while !drawn(pictured) && Date() < deadline {
            usleep(50_000)
            pictured = try session.screen()
        }
        XCTAssertTrue(drawn(pictured), pictured)
        sleep(2)
        let second = try session.screen()
        XCTAssertNotEqual(chart(first), chart(second), "the curve did not move:\n\(first)\n\(second)")
        XCTAssertGreaterThan(try XCTUnwrap(batch(second)), try XCTUnwrap(batch(first)), second)

        try session.keys("C-c")
        let stopped = try session.waitFor("EXITED 130", "BEFORE-DARKSCOPE", absent: ["avg loss"])
        let line = try XCTUnwrap(stopped.split(separator: "\n").first { $0.hasPrefix("stopped by SIGINT after batch ") }, stopped)
        let done = try XCTUnwrap(Int(line.dropFirst("stopped by SIGINT after batch ".count).prefix { $0 != ":" }))
        let backup = directory.appendingPathComponent("stripes.backup").path
        XCTAssertEqual(try WeightsFile(path: backup).header.seen, UInt64(8 * done))

        let resumed = try TmuxSession(command: command.replacingOccurrences(of: "--backup", with: "'\(backup)' --backup"), columns: 100, rows: 30)
        let again = try resumed.waitFor("resumed at batch \(done)", "images seen")
        XCTAssertGreaterThan(try XCTUnwrap(batch(again)), done, again)
        try resumed.keys("q")
        let quit = try resumed.waitFor("EXITED 0", absent: ["avg loss"])
        XCTAssertTrue(quit.contains("stopped by q after batch "), quit)
    }

    /// The README's demonstration: scripts/digits-demo trains scripts/digits.cfg from scratch on
    /// scikit-learn's digits (Debian's python3-sklearn) and reaches 95 % validation top-1
    /// on the fifth held out, in well under 5 minutes.
    func testDigitsDemonstrationReachesNinetyFivePercent() throws {
        guard (try? runProcess("/usr/bin/python3", ["-c", "import sklearn"]).status) == 0 else {
            if Repo.isCI { throw DarknetError.usage("python3-sklearn is missing; CI must install it (scripts/setup-debian)") }
            throw XCTSkip("Debian's python3-sklearn is not installed")
        }
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let start = Date()
        let run = try runProcess("/usr/bin/env", ["DARKSCOPE=\(Repo.binary)", Repo.path("scripts/digits-demo"), directory.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 300)
        // darkscope valid's lines: "top-1: 97.50% (351/360)", then top-5 and the confusion matrix.
        let line = try XCTUnwrap(run.stdout.split(separator: "\n").first { $0.hasPrefix("top-1: ") }, run.stdout)
        let percent = try XCTUnwrap(Double(line.dropFirst(7).prefix { $0 != "%" }), String(line))
        XCTAssertGreaterThanOrEqual(percent, 95, run.stdout)
        XCTAssertTrue(line.hasSuffix("/360)"), String(line))
        XCTAssertTrue(run.stdout.contains("truth \\ guess"), run.stdout)
    }

    /// `darkscope partial` writes what Darknet's `partial` writes, byte for byte: seen 0 and
    /// the first N layers' parameters of Tiny Darknet.
    func testPartialWritesDarknetsFile() throws {
        try Oracle.requireDarknet()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = try Repo.requireTinyWeights(), cfg = Repo.path("cfg/tiny.cfg")
        let ours = directory.appendingPathComponent("ours.weights").path, theirs = directory.appendingPathComponent("theirs.weights").path
        let run = try darkscope("partial", cfg, weights, ours, "9")
        XCTAssertEqual(run.status, 0, run.stderr)
        let darknet = try runProcess(Oracle.darknet, ["partial", cfg, weights, theirs, "9"], currentDirectory: Oracle.share)
        XCTAssertEqual(darknet.status, 0, darknet.stderr)
        let mine = try Data(contentsOf: URL(fileURLWithPath: ours))
        XCTAssertEqual(mine, try Data(contentsOf: URL(fileURLWithPath: theirs)))
        var network = try Network(cfg: cfg)
        let floats = network.layers.prefix(9).reduce(0) { $0 + $1.parameterCount }
        XCTAssertEqual(mine.count, 20 + 4 * floats)
        XCTAssertLessThan(floats, network.parameterCount)
        try network.loadWeights(path: weights)
        // Refused: an existing file, and more layers than the network has.
        XCTAssertEqual(try darkscope("partial", cfg, weights, ours, "9").status, 1)
        let tooMany = try darkscope("partial", cfg, weights, directory.appendingPathComponent("x.weights").path, "99")
        XCTAssertEqual(tooMany.stderr, "darkscope: the network has \(network.layers.count) layers; N must be 0...\(network.layers.count), not 99\n")
    }

    /// `darkscope data check` lists the images Darknet's substring match labels otherwise
    /// (pjreddie/darknet #1916): `cat` inside `classification/`, a path naming no label.
    func testDataCheckListsWhatDarknetsSubstringMatchGetsWrong() throws {
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let names = directory.appendingPathComponent("names.txt").path, list = directory.appendingPathComponent("train.txt").path
        try "cat\ndog\n".write(toFile: names, atomically: true, encoding: .utf8)
        try "/data/classification/dog/1.jpg\n/data/cat/2.jpg\n/data/bird/3.jpg\n/data/pets/dog_4.png\n".write(toFile: list, atomically: true, encoding: .utf8)
        let data = directory.appendingPathComponent("pets.data").path
        try "classes=2\ntrain=\(list)\nlabels=\(names)\n".write(toFile: data, atomically: true, encoding: .utf8)
        let run = try darkscope("data", "check", data)
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertEqual(run.stdout, """
            \(list): /data/classification/dog/1.jpg: Darknet gives cat, dog; darkscope gives dog
            \(list): /data/bird/3.jpg: Darknet gives no label; darkscope gives no label
            2 of 4 images labelled otherwise by Darknet or not at all

            """)
        // Training refuses the image that names no label, in one line.
        let cfg = directory.appendingPathComponent("stripes.cfg").path
        try Self.stripesCfg.write(toFile: cfg, atomically: true, encoding: .utf8)
        let train = try darkscope("train", data, cfg)
        XCTAssertEqual(train.status, 1)
        XCTAssertEqual(train.stderr, "darkscope: /data/bird/3.jpg (in \(list)): names no label of \(names); a label must be a folder or a part of the file name\n")
    }
}
