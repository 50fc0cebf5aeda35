import ArgumentParser
import Darknet
import Explorer
import Microscope
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a Darknet classifier on labelled images, as Darknet's train_network does.",
        discussion: """
            DATA is a folder with one folder of .jpg or .png images per label (DATA/LABEL/*.jpg), the \
            labels in name order, or a Darknet data file (train= the list of images, valid= the images \
            to validate on, labels= the label names, backup= the output folder), where a label must be \
            a whole folder or file-name part of an image's path (Darknet matches any substring). Starts \
            from WEIGHTS, or from random weights (--seed) without it. Each batch of [net]'s batch images \
            (in subdivisions passes) is one SGD update with [net]'s learning rate policy, momentum and \
            decay. Each image is augmented as Darknet does by [net]'s min_crop, max_crop, angle, aspect, \
            hue, saturation and exposure, and flipped half the time (flip=0: never), seeded by --seed; \
            --no-augment only resizes it to the input. \
            In a terminal, a full-screen view shows the loss curve and its running average, progress, \
            images per second, time left, the validations and the batch's images with their guesses \
            (q or Ctrl-C stops after the batch under way and writes the backup). Otherwise, or with \
            --lines, it prints a line per batch as Darknet does (batch, epoch: loss, average loss, \
            learning rate, the batch's seconds, images seen), or with --json a JSON object per batch. \
            After each epoch it validates on the valid images (--valid, or the data file's valid=). \
            Writes NAME_final.weights (NAME: the cfg's name) to --backup, never over an existing file \
            without --force; NAME.backup every --backup-every batches and when stopped by Ctrl-C, q or \
            SIGTERM (exit 130, 0 or 143), which a later run given it as WEIGHTS resumes from.
            """)

    @Argument(help: "A folder of label folders, or a Darknet data file.")
    var data: String

    @Argument(help: "The network's .cfg file; it must end in a softmax.")
    var cfg: String

    @Argument(help: "Weights to start from (default: random weights, --seed).")
    var weights: String?

    @Option(help: "Batches (updates) to train for (default: [net]'s max_batches).")
    var maxBatches: Int?

    @Option(help: "Seed of the random weights, the images' order and their augmentation.")
    var seed: UInt64 = 1

    @Flag(help: "Take the images in list order, round and round, instead of at random.")
    var inOrder = false

    @Flag(help: "Only resize the images to the input: no crop, rotation, flip or colour change.")
    var noAugment = false

    @Option(help: "Images to validate on after each epoch: a folder of label folders or a data file's valid= list (default: the data file's valid=).")
    var valid: String?

    @Option(help: "Folder for the weights (default: the data file's backup=, else the current folder).")
    var backup: String?

    @Option(help: "Write NAME.backup every N batches.")
    var backupEvery = 100

    @Flag(help: "Overwrite existing weights files.")
    var force = false

    @Flag(help: "Print a line per batch even in a terminal, instead of the full-screen view.")
    var lines = false

    @Flag(help: "Print a JSON object per batch (and per validation) instead.")
    var json = false

    @OptionGroup var screen: ScreenOptions

    @Option(help: "Threads (default: one per processor).")
    var threads: Int?

    func validate() throws {
        if let maxBatches, maxBatches < 1 { throw ValidationError("--max-batches must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if backupEvery < 1 { throw ValidationError("--backup-every must be at least 1") }
        if lines && json { throw ValidationError("give --lines or --json, not both") }
    }

    func run() throws {
        var network = try Network(cfg: cfg)
        network.warnings.forEach(Output.warn)
        let data = try TrainingData(path: data)
        let validation = try validationData()
        if let weights { try network.loadWeights(path: weights) } else { try network.randomize(seed: seed) }
        let trainer = try Trainer(network: network, threads: threads)
        let classes = trainer.network.outputCount
        for (name, set) in [(self.data, data)] + (validation.map { [(valid ?? self.data, $0)] } ?? []) where set.labels.count != classes {
            throw DarknetError.usage("\(name) has \(set.labels.count) labels but \(cfg) outputs \(classes) classes")
        }
        let batches = maxBatches ?? network.training.maxBatches
        guard batches > 0 else { throw DarknetError.usage("\(cfg) gives no max_batches; say how long to train with --max-batches") }
        let name = URL(fileURLWithPath: cfg).deletingPathExtension().lastPathComponent
        let folder = backup ?? data.backup ?? FileManager.default.currentDirectoryPath
        let output = (folder as NSString).appendingPathComponent("\(name)_final.weights")
        let backupPath = (folder as NSString).appendingPathComponent("\(name).backup")
        // Refused before any training, not after it; the backup it resumes from is its own to replace.
        for path in [output, backupPath] where !force && FileManager.default.fileExists(atPath: path) {
            guard let weights, path == backupPath,
                  URL(fileURLWithPath: weights).standardizedFileURL == URL(fileURLWithPath: path).standardizedFileURL else {
                throw DarknetError.usage("\(path) exists; darkscope never overwrites weights without --force")
            }
        }
        let run = TrainingRun(trainer: trainer, data: data, validation: validation, seed: seed, inOrder: inOrder, augments: !noAugment)
        let session = Session(run: run, lastBatch: batches, backupPath: backupPath, backupEvery: backupEvery)
        let stop: TrainingStop?
        if !lines && !json && TrainingMonitor.canRun {
            let progress = TrainingProgress(
                title: "darkscope train \(URL(fileURLWithPath: cfg).lastPathComponent) · \(URL(fileURLWithPath: self.data).lastPathComponent): \(data.labels.count) labels, \(data.examples.count) images → \(URL(fileURLWithPath: output).lastPathComponent)",
                labels: data.labels, lastBatch: batches, firstBatch: trainer.batches, seen: trainer.seen,
                at: Date().timeIntervalSinceReferenceDate)
            stop = try TrainingMonitor.run(progress, pixelMode: screen.format, colors: screen.colors) { report, stop in
                try session.train(report: report, stop: stop)
            }
            for skipped in session.skipped { Output.warn("skipped an image: \(skipped)") }
        } else {
            let signals = StopSignals()
            let format = json ? Session.json : Session.darknetLine
            stop = try session.train(report: { report in
                for skipped in report.skipped { Output.warn("skipped an image: \(skipped)") }
                Output.line(format(report, session))
                fflush(stdout)
            }, stop: { signals.received.map(TrainingStop.signal) })
        }
        guard let stop else {
            try session.save(to: output)
            say("wrote \(output)")
            return
        }
        try session.save(to: backupPath)
        let why = switch stop {
        case let .signal(number): number == SIGINT ? "SIGINT" : number == SIGTERM ? "SIGTERM" : "SIGHUP"
        case .quitKey: "q"
        }
        say("stopped by \(why) after batch \(trainer.batches): wrote \(backupPath); train from it to go on")
        try Output.finish()
        if case let .signal(number) = stop { Darkscope.exit(withError: ExitCode(128 + number)) }
    }

    /// What became of the weights: on standard output, but on standard error under --json,
    /// whose output is JSON only.
    private func say(_ text: String) {
        if json { fputs(text + "\n", stderr) } else { Output.line(text) }
    }

    /// `--valid`, else the data file's `valid=` list, if it has one.
    private func validationData() throws -> TrainingData? {
        try valid.map { try TrainingData(path: $0, list: "valid") } ?? TrainingData.validation(of: data)
    }
}

/// A run's loop, shared by the full-screen view (on its training thread) and the printed lines.
private final class Session: @unchecked Sendable {
    let run: TrainingRun
    let lastBatch: Int, backupPath: String, backupEvery: Int
    /// When the batch under way began, for its seconds; images that could not be read.
    private(set) var batchSeconds = 0.0
    private(set) var skipped: [String] = []

    init(run: TrainingRun, lastBatch: Int, backupPath: String, backupEvery: Int) {
        (self.run, self.lastBatch, self.backupPath, self.backupEvery) = (run, lastBatch, backupPath, backupEvery)
    }

    /// Trains until the last batch or a stop, writing the backup every `backupEvery` batches;
    /// returns the stop, if one came.
    func train(report: (BatchReport) -> Void, stop: () -> TrainingStop?) throws -> TrainingStop? {
        while run.trainer.batches < lastBatch {
            if let stop = stop() { return stop }
            let start = Date()
            let batch = try run.nextBatch()
            batchSeconds = Date().timeIntervalSince(start)
            skipped += batch.skipped
            report(batch)
            if batch.batch % backupEvery == 0 { try save(to: backupPath) }
        }
        return nil
    }

    /// Writes the weights as trained so far; a file in the way was checked at the start.
    func save(to path: String) throws {
        let trained = run.trainer.network
        try WeightsFile.write(path: path, header: trained.weightsHeader ?? WeightsHeader(), overwrite: true) { put in
            try trained.parameters.withUnsafeBytes { try put($0) }
        }
    }

    /// Darknet's line for a batch, and one for a validation after it.
    static func darknetLine(_ report: BatchReport, _ session: Session) -> String {
        var line = String(format: "%ld, %.3f: %f, %f avg, %f rate, %lf seconds, %ld images", report.batch, report.epoch,
                          report.loss, report.averageLoss, report.rate, session.batchSeconds, report.seen)
        if let v = report.validation {
            line += String(format: "\nvalidation after epoch %d: top-1 %.4f, top-%d %.4f (%d images)", Int(report.epoch),
                           v.top1Accuracy, v.k, v.topKAccuracy, v.images)
        }
        return line
    }

    /// The batch as a JSON object, its validation (if any) included.
    static func json(_ report: BatchReport, _ session: Session) -> String {
        struct Line: Encodable {
            var batch: Int, epoch: Double, loss: Float, avg_loss: Float, rate: Float, seconds: Double, images: UInt64
            var validation: Validation?
            struct Validation: Encodable { var top1: Double, topK: Double, k: Int, images: Int }
        }
        let validation = report.validation.map { v in
            Line.Validation(top1: v.top1Accuracy, topK: v.topKAccuracy, k: v.k, images: v.images)
        }
        let line = Line(batch: report.batch, epoch: report.epoch, loss: report.loss, avg_loss: report.averageLoss, rate: report.rate,
                        seconds: session.batchSeconds, images: report.seen, validation: validation)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try! encoder.encode(line), as: UTF8.self)
    }
}

/// SIGINT and SIGTERM while training: taken note of, so that the batch under way finishes
/// and a backup is written before the process exits.
final class StopSignals: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var signal: Int32?

    init() {
        for number in [SIGINT, SIGTERM] {
            // Ignored by the default handler, so that only the source sees it.
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.note(number) }
            source.resume()
            sources.append(source)
        }
    }

    private func note(_ number: Int32) { lock.withLock { signal = signal ?? number } }

    /// The first stop signal received, if any.
    var received: Int32? { lock.withLock { signal } }
}
