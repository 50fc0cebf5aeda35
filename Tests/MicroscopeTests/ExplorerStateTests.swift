import Darknet
import Microscope
import Render
import XCTest

/// A folder of the test's own with two small networks and images, and analyses computed
/// for real on them.
final class Fixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let folder: URL
    let catalog: NetworkCatalog

    init() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("microscope-\(UUID().uuidString)")
        self.folder = folder
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, filters) in [("a.cfg", 4), ("b.cfg", 6)] {
            let cfg = """
                [net]
                width=16
                height=16
                channels=3

                [convolutional]
                filters=\(filters)
                size=3
                stride=1
                pad=1
                activation=leaky

                [maxpool]
                size=2
                stride=2

                [avgpool]

                [softmax]
                """
            try cfg.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        for name in ["dog.jpg", "eagle.jpg"] {
            try FileManager.default.copyItem(at: Fixture.root.appendingPathComponent("assets/\(name)"), to: folder.appendingPathComponent(name))
        }
        catalog = NetworkCatalog(cfgs: ["a.cfg", "b.cfg"].map { folder.appendingPathComponent($0).path },
                                 findWeights: { _ in nil }, labels: { network in Labels(names: (0..<network.outputCount).map { "class \($0)" }) })
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    func state(images: [String] = ["dog.jpg"]) throws -> ExplorerState {
        let paths = images.map(path)
        return ExplorerState(network: try catalog.open(path("a.cfg")), images: paths, imageList: [path("dog.jpg"), path("eagle.jpg")])
    }

    /// The analysis the worker would make for slot `slot`, computed here.
    func analysis(_ state: ExplorerState, slot: Int) throws -> Analysis {
        let key = state.key(slot: slot)
        let image = try state.network.letterboxedInput(from: key.image.path)
        return Analysis(key: key, input: image, result: try Predictor(network: state.network, threads: 1).forward(image.values))
    }

    /// Replaces a file's contents with another's (a new size and time, as `cp` does).
    func overwrite(_ name: String, with other: String) throws {
        let data = try Data(contentsOf: folder.appendingPathComponent(other))
        try data.write(to: folder.appendingPathComponent(name))
    }
}

extension ExplorerState {
    func stamps() -> [String: FileStamp] { FileStamp.of(watchedPaths) }
}

final class ExplorerStateTests: XCTestCase {
    func testAnImageReplacedOnDiskIsAnalysedAgainAndItsOldAnalysisNeverShown() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        XCTAssertEqual(state.missing, [0])
        state.accept(try fixture.analysis(state, slot: 0))
        XCTAssertEqual(state.missing, [])
        let before = state.key(slot: 0)
        XCTAssertEqual(state.observe(state.stamps()), .infer)
        XCTAssertEqual(state.key(slot: 0), before, "an unchanged file keeps its key")

        try fixture.overwrite("dog.jpg", with: "eagle.jpg")
        _ = state.observe(state.stamps())
        XCTAssertNotEqual(state.key(slot: 0), before)
        XCTAssertNil(state.analysis(slot: 0), "the dog's analysis must not stand for the eagle")
        XCTAssertEqual(state.missing, [0])
        XCTAssertTrue(state.predictions(slot: 0).isEmpty)

        // A late answer for the old file is kept aside, never shown.
        var stale = try fixture.analysis(state, slot: 0)
        stale.key = before
        state.accept(stale)
        XCTAssertNil(state.analysis(slot: 0))
        state.accept(try fixture.analysis(state, slot: 0))
        XCTAssertEqual(state.analysis(slot: 0)?.key.image, FileStamp.of(fixture.path("dog.jpg")))
    }

    func testADeletedImageIsNoticedAndOneCreatedAgainIsAnalysed() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        state.accept(try fixture.analysis(state, slot: 0))
        try FileManager.default.removeItem(atPath: fixture.path("dog.jpg"))
        _ = state.observe(state.stamps())
        XCTAssertFalse(state.key(slot: 0).image.exists)
        XCTAssertEqual(state.missing, [0], "a deleted image is analysed again, which reports it missing")
        state.accept(Analysis(key: state.key(slot: 0), error: "no such file"))
        XCTAssertEqual(state.analysis(slot: 0)?.error, "no such file")

        try fixture.overwrite("dog.jpg", with: "eagle.jpg")
        _ = state.observe(state.stamps())
        XCTAssertTrue(state.key(slot: 0).image.exists)
        XCTAssertEqual(state.missing, [0])
    }

    /// m then M before the other network opened: the one on screen stays, none is opened
    /// again, and the other's late answer is dropped.
    func testSteppingBackToTheNetworkOnScreenOpensNothing() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        XCTAssertEqual(state.handle(.character("m"), pageSize: 5, catalog: fixture.catalog), .openNetwork(fixture.path("b.cfg")))
        XCTAssertEqual(state.handle(.character("M"), pageSize: 5, catalog: fixture.catalog), .infer)
        XCTAssertNil(state.loadingNetwork)
        state.accept(loaded: fixture.path("b.cfg"), network: try fixture.catalog.open(fixture.path("b.cfg")), error: nil)
        XCTAssertEqual(state.networkName, "a.cfg")
        XCTAssertEqual(state.handle(.character("m"), pageSize: 5, catalog: fixture.catalog), .openNetwork(fixture.path("b.cfg")),
                       "m steps on from the network on screen")
    }

    func testSwitchingNetworksTakesOnlyTheOneAskedForAndDropsTheOldNetworksResults() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        state.accept(try fixture.analysis(state, slot: 0))
        let oldKey = state.key(slot: 0)
        XCTAssertEqual(state.handle(.character("m"), pageSize: 5, catalog: fixture.catalog), .openNetwork(fixture.path("b.cfg")))
        XCTAssertEqual(state.loadingNetwork, fixture.path("b.cfg"))
        // An answer for a network no longer wanted is dropped.
        state.accept(loaded: fixture.path("a.cfg"), network: try fixture.catalog.open(fixture.path("a.cfg")), error: nil)
        XCTAssertEqual(state.networkName, "a.cfg")
        XCTAssertNotNil(state.loadingNetwork)
        state.accept(loaded: fixture.path("b.cfg"), network: try fixture.catalog.open(fixture.path("b.cfg")), error: nil)
        XCTAssertEqual(state.networkName, "b.cfg")
        XCTAssertNil(state.loadingNetwork)
        XCTAssertNotEqual(state.key(slot: 0), oldKey)
        XCTAssertNil(state.analysis(slot: 0), "network a's maps must not be shown for network b")
        XCTAssertEqual(state.channelCount, 6)
    }

    func testACfgChangedOnDiskIsReopenedAndAFailedReopeningIsNotRetriedUntilItChangesAgain() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        let cfg = fixture.path("a.cfg")
        try "[net]\nwidth=16\n[convolutional]\nfilters=bad\n".write(toFile: cfg, atomically: false, encoding: .utf8)
        XCTAssertEqual(state.observe(state.stamps()), .openNetwork(cfg))
        XCTAssertEqual(state.observe(state.stamps()), .infer, "one opening at a time")
        state.accept(loaded: cfg, network: nil, error: "a.cfg:4: filters is not a number")
        XCTAssertEqual(state.networkProblem, "cannot open a.cfg: a.cfg:4: filters is not a number")
        XCTAssertEqual(state.observe(state.stamps()), .infer, "the same broken file is not opened again")
        try fixture.overwrite("a.cfg", with: "b.cfg")
        XCTAssertEqual(state.observe(state.stamps()), .openNetwork(cfg))
        state.accept(loaded: cfg, network: try fixture.catalog.open(cfg), error: nil)
        XCTAssertNil(state.networkProblem)
        XCTAssertEqual(state.channelCount, 6)
        XCTAssertEqual(state.observe(state.stamps()), .infer)
    }

    func testCompareModeShowsSimilaritiesOnlyForTheCurrentPair() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        XCTAssertEqual(state.handle(.character("v"), pageSize: 5, catalog: fixture.catalog), .infer)
        XCTAssertTrue(state.compare)
        XCTAssertEqual(state.keys.map(\.image.path), [fixture.path("dog.jpg"), fixture.path("eagle.jpg")])
        XCTAssertEqual(state.missing, [0, 1])
        state.accept(try fixture.analysis(state, slot: 0))
        XCTAssertTrue(state.similarities.isEmpty)
        state.accept(try fixture.analysis(state, slot: 1))
        XCTAssertEqual(state.similarities.count, state.layerCount)
        XCTAssertEqual(state.similarities.last ?? 0, 1, accuracy: 0.5)
        // The right image steps on: the similarities of the old pair are gone.
        XCTAssertEqual(state.handle(.character("]"), pageSize: 5, catalog: fixture.catalog), .infer)
        XCTAssertEqual(state.keys[1].image.path, fixture.path("dog.jpg"))
        XCTAssertTrue(state.similarities.isEmpty)
        XCTAssertEqual(state.handle(.character("v"), pageSize: 5, catalog: fixture.catalog), .none)
        XCTAssertEqual(state.keys.count, 1)
    }

    func testTheCacheKeepsTheCurrentAnalysesAndStaysWithinItsBudget() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        let one = try fixture.analysis(state, slot: 0)
        state = ExplorerState(network: try fixture.catalog.open(fixture.path("a.cfg")), images: [fixture.path("dog.jpg")],
                              imageList: [], cacheBudgetBytes: one.bytes * 3)
        for step in 0..<20 {
            var other = one
            other.key.image.version?.size += Int64(step + 1)
            state.accept(other)
        }
        state.accept(try fixture.analysis(state, slot: 0))
        XCTAssertLessThanOrEqual(state.analyses.bytes, one.bytes * 3)
        XCTAssertNotNil(state.analysis(slot: 0))
        XCTAssertLessThanOrEqual(state.analyses.count, 3)
    }

    /// An opening takes the memory of the older analyses, never of those on screen.
    func testOpeningANetworkDropsAllButTheCurrentAnalyses() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        let current = try fixture.analysis(state, slot: 0)
        var older = current
        older.key.image.version?.size += 1
        state.accept(older)
        state.accept(current)
        XCTAssertEqual(state.analyses.count, 2)
        XCTAssertEqual(state.handle(.character("m"), pageSize: 5, catalog: fixture.catalog), .openNetwork(fixture.path("b.cfg")))
        XCTAssertEqual(state.analyses.count, 1)
        XCTAssertNotNil(state.analysis(slot: 0), "the network on screen keeps its maps while the other opens")
    }

    func testTimingsOfTheCurrentAnalysisReplaceTheFirstPass() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        let analysis = try fixture.analysis(state, slot: 0)
        state.accept(analysis)
        XCTAssertEqual(state.layerSeconds, analysis.result!.layerSeconds)
        var timing = LayerTiming()
        timing.record(layerSeconds: analysis.result!.layerSeconds)
        state.accept(timing: timing, for: state.key(slot: 0))
        XCTAssertEqual(state.layerSeconds, analysis.result!.layerSeconds, "the cold pass alone is no median")
        let warm = analysis.result!.layerSeconds.map { _ in 0.5 }
        for _ in 0..<3 { timing.record(layerSeconds: warm) }
        state.accept(timing: timing, for: state.key(slot: 0))
        XCTAssertEqual(state.layerSeconds, warm)
    }

    func testKeysMoveTheSelectionWithinTheNetwork() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        for _ in 0..<10 { _ = state.handle(.character("j"), pageSize: 5, catalog: fixture.catalog) }
        XCTAssertEqual(state.selectedLayer, state.layerCount - 1)
        _ = state.handle(.character("g"), pageSize: 5, catalog: fixture.catalog)
        XCTAssertEqual(state.selectedLayer, 0)
        _ = state.handle(.tab, pageSize: 5, catalog: fixture.catalog)
        for _ in 0..<9 { _ = state.handle(.down, pageSize: 5, catalog: fixture.catalog) }
        XCTAssertEqual(state.channel, 3, "in the maps pane j moves through the 4 channels")
        XCTAssertEqual(state.handle(.character("N"), pageSize: 5, catalog: fixture.catalog), .compareNetworks)
        XCTAssertEqual(state.handle(.character("j"), pageSize: 5, catalog: fixture.catalog), .none)
        XCTAssertEqual(state.handle(.escape, pageSize: 5, catalog: fixture.catalog), .closeNetworks)
        XCTAssertNil(state.networks)
        XCTAssertEqual(state.handle(.character("q"), pageSize: 5, catalog: fixture.catalog), .quit)
    }

    /// `w` asks for the page of the selected channel, once; a new page asks again for what
    /// the last request left undone; pictures of another network are never shown; `x` asks
    /// for the selected channel's picture and examples, following the channel; flat layers
    /// have none; `w` and `x` take the maps pane in turn.
    func testChannelViewsAskForThePageAndTheChannelOnce() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        XCTAssertEqual(state.missingFeatures, [], "nothing until asked")
        XCTAssertEqual(state.handle(.character("w"), pageSize: 5, catalog: fixture.catalog), .channels)
        XCTAssertTrue(state.lookingFor)
        XCTAssertEqual(state.featurePage, 0..<4, "a.cfg's layer 0 has 4 channels")
        let page = state.missingFeatures
        XCTAssertEqual(page.map(\.channel), [0, 1, 2, 3])
        XCTAssertEqual(Set(page.map(\.layer)), [0])
        state.requested(features: page)
        XCTAssertEqual(state.missingFeatures, [], "asked once")
        let picture = Image(width: 16, height: 16, channels: 3, filledWith: 0.5)
        state.accept(feature: page[1], image: picture, error: nil)
        state.accept(featureStep: page[2], step: 7)
        XCTAssertEqual(state.featureStep?.key, page[2])
        XCTAssertEqual(state.feature(channel: 1), picture)
        XCTAssertNil(state.feature(channel: 0))
        _ = state.handle(.character("j"), pageSize: 5, catalog: fixture.catalog)
        XCTAssertEqual(state.missingFeatures.map(\.layer), [1, 1, 1, 1], "the maxpool's page")
        state.requested(features: state.missingFeatures)
        _ = state.handle(.character("k"), pageSize: 5, catalog: fixture.catalog)
        XCTAssertEqual(state.missingFeatures.map(\.channel), [0, 2, 3], "back: what the superseded request left, not channel 1")
        var other = page[0]
        other.network.convolution = other.network.convolution == .darknet ? .winograd : .darknet
        state.accept(feature: other, image: picture, error: nil)
        XCTAssertNil(state.feature(channel: 0), "a picture of another network")
        state.accept(feature: page[3], image: nil, error: "out of memory")
        XCTAssertEqual(state.featureError(channel: 3), "out of memory")
        XCTAssertFalse(state.missingFeatures.contains(page[3]), "a failure is not asked again")

        XCTAssertEqual(state.handle(.character("x"), pageSize: 5, catalog: fixture.catalog), .channels)
        XCTAssertTrue(state.showExamples)
        XCTAssertFalse(state.lookingFor)
        _ = state.handle(.character("l"), pageSize: 5, catalog: fixture.catalog)
        _ = state.handle(.character("l"), pageSize: 5, catalog: fixture.catalog)
        XCTAssertEqual(state.missingFeatures.map(\.channel), [2])
        let examples = try XCTUnwrap(state.missingExamples)
        XCTAssertEqual(examples.channel, 2)
        XCTAssertEqual(examples.folder, fixture.folder.standardizedFileURL.path)
        state.requested(examples: examples)
        XCTAssertNil(state.missingExamples)
        var indexing = ChannelExamples(key: ExamplesKey(network: examples.network, folder: examples.folder, layer: 0, channel: 0))
        indexing.progress = (1, 2)
        state.accept(indexing)
        XCTAssertEqual(state.examples?.progress?.done, 1, "the folder's indexing shows whichever channel asked")
        _ = state.handle(.character("l"), pageSize: 5, catalog: fixture.catalog)
        XCTAssertNil(state.examples, "channel 3's are not channel 2's")
        XCTAssertEqual(state.missingExamples?.channel, 3)
        for _ in 0..<3 { _ = state.handle(.character("j"), pageSize: 5, catalog: fixture.catalog) }
        XCTAssertFalse(state.layerHasChannels, "the softmax")
        XCTAssertEqual(state.missingFeatures, [])
        XCTAssertNil(state.missingExamples)
        XCTAssertEqual(state.handle(.character("x"), pageSize: 5, catalog: fixture.catalog), .none)
        XCTAssertFalse(state.showExamples)
    }

    func testExplanationsFollowTheMethodTheClassAndTheImage() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        XCTAssertEqual(state.missingExplanations, [], "nothing is explained until asked")
        XCTAssertEqual(state.handle(.character("e"), pageSize: 5, catalog: fixture.catalog), .explain)
        XCTAssertEqual(state.missingExplanations, [0])
        let gradCAM = state.explanationKey(slot: 0)
        state.requested(gradCAM)
        XCTAssertEqual(state.missingExplanations, [], "asked once")
        XCTAssertFalse(state.explanation(slot: 0)!.isFinished)
        state.accept(Explanation(key: gradCAM, error: "the map"))
        XCTAssertTrue(state.explanation(slot: 0)!.isFinished)
        // A late progress report does not undo a finished explanation.
        state.accept(Explanation(key: gradCAM))
        XCTAssertTrue(state.explanation(slot: 0)!.isFinished)

        XCTAssertEqual(state.handle(.character("E"), pageSize: 5, catalog: fixture.catalog), .explain)
        XCTAssertEqual(state.method, .gradCAMPlusPlus)
        XCTAssertNil(state.explanation(slot: 0), "Grad-CAM's map is not Grad-CAM++'s")
        XCTAssertEqual(state.missingExplanations, [0])

        XCTAssertEqual(state.handle(.character("2"), pageSize: 5, catalog: fixture.catalog), .none, "no top-5 before the analysis")
        state.accept(try fixture.analysis(state, slot: 0))
        let second = state.predictions(slot: 0)[1].index
        XCTAssertEqual(state.handle(.character("2"), pageSize: 5, catalog: fixture.catalog), .explain)
        XCTAssertEqual(state.explainedClass, second)
        XCTAssertEqual(state.explanationKey(slot: 0).request.classIndex, second)
        XCTAssertEqual(state.handle(.character("2"), pageSize: 5, catalog: fixture.catalog), .explain)
        XCTAssertNil(state.explainedClass, "the same key again: each image's top-1")

        _ = state.handle(.character("/"), pageSize: 5, catalog: fixture.catalog)
        for c in "class 3" { _ = state.handle(.character(c), pageSize: 5, catalog: fixture.catalog) }
        XCTAssertEqual(state.handle(.enter, pageSize: 5, catalog: fixture.catalog), .explain)
        XCTAssertEqual(state.explainedClass, 3)
        _ = state.handle(.character("/"), pageSize: 5, catalog: fixture.catalog)
        for c in "no such" { _ = state.handle(.character(c), pageSize: 5, catalog: fixture.catalog) }
        XCTAssertEqual(state.handle(.enter, pageSize: 5, catalog: fixture.catalog), .none)
        XCTAssertNotNil(state.message)
        XCTAssertEqual(state.explainedClass, 3)

        // Another image: the explanation of the old one is not shown.
        let before = state.explanationKey(slot: 0)
        state.requested(before)
        try fixture.overwrite("dog.jpg", with: "eagle.jpg")
        _ = state.observe(state.stamps())
        XCTAssertNotEqual(state.explanationKey(slot: 0), before)
        XCTAssertNil(state.explanation(slot: 0))
        XCTAssertEqual(state.handle(.character("e"), pageSize: 5, catalog: fixture.catalog), .none)
        XCTAssertEqual(state.missingExplanations, [])
    }
}
