import Darknet
import Microscope
import XCTest

final class LayoutTests: XCTestCase {
    func testEverySizeThatFitsHasTheTableAndThePredictionsWithinTheScreen() {
        for rows in Layout.minimumRows...70 {
            for columns in Layout.minimumColumns...220 {
                let layout = Layout(rows: rows, columns: columns)
                XCTAssertTrue(layout.fits)
                let message = "\(columns)x\(rows)"
                XCTAssertGreaterThanOrEqual(layout.tableEntries, 3, message)
                XCTAssertGreaterThanOrEqual(layout.side.rows, 2, "the top-1 needs the image's name and a line: \(message)")
                var parts = [layout.table, layout.side]
                if let maps = layout.maps {
                    XCTAssertGreaterThanOrEqual(maps.rows, 6, message)
                    parts.append(maps)
                }
                for part in parts {
                    XCTAssertGreaterThanOrEqual(part.row, 1, message)
                    XCTAssertLessThanOrEqual(part.bottom, rows - 1, "above the status line: \(message)")
                    XCTAssertLessThanOrEqual(part.column + part.columns, columns, message)
                }
                for (i, a) in parts.enumerated() {
                    for b in parts[(i + 1)...] {
                        let apart = a.bottom <= b.row || b.bottom <= a.row || a.column + a.columns <= b.column || b.column + b.columns <= a.column
                        XCTAssertTrue(apart, "\(a) and \(b) overlap at \(message)")
                    }
                }
            }
        }
        XCTAssertFalse(Layout(rows: 11, columns: 80).fits)
        XCTAssertFalse(Layout(rows: 30, columns: 39).fits)
    }

    func testDarknetsColumnsAndTheMapsComeWithRoom() {
        XCTAssertTrue(Layout(rows: 24, columns: 80).fullTable)
        XCTAssertNotNil(Layout(rows: 24, columns: 80).maps)
        XCTAssertEqual(Layout(rows: 24, columns: 80).side.columns, Layout.sideColumns)
        XCTAssertFalse(Layout(rows: 20, columns: 60).fullTable)
        XCTAssertEqual(Layout(rows: 20, columns: 60).side.rows, 6, "the top-5 at 60x20")
        XCTAssertNil(Layout(rows: 12, columns: 40).maps)
        XCTAssertNotNil(Layout(rows: 40, columns: 60).maps, "a tall narrow terminal has room for the maps")
        XCTAssertLessThanOrEqual(LayerRow.compactHeader.count + 8, 40, "the compact table with its ms column fits 40 columns")
    }
}

final class BindingsTests: XCTestCase {
    func testEveryCommandHasAKeyAndNoKeyTwoCommands() {
        let actions = Bindings.all.flatMap(\.actions)
        XCTAssertEqual(Set(actions.map(\.command)), Set(Command.allCases))
        XCTAssertEqual(Set(actions.map(\.key)).count, actions.count, "a key bound twice")
        for action in actions { XCTAssertEqual(Bindings.command(for: action.key), action.command) }
        XCTAssertNil(Bindings.command(for: .character("z")))
    }

    private func read(_ relative: String) throws -> String {
        try String(contentsOf: Fixture.root.appendingPathComponent(relative), encoding: .utf8)
    }

    func testTheReadmesKeyTableIsTheListsOwn() throws {
        let readme = try read("README.md")
        XCTAssertTrue(readme.contains(Bindings.markdownTable), "README.md's key table must read:\n\(Bindings.markdownTable)")
    }

    /// The man page explains each key at length; its entries must name the same keys.
    func testTheManPageDocumentsEveryKeyAndNoOther() throws {
        let page = try read("man/darkscope.1")
        guard let start = page.range(of: "\n.SH KEYS\n"), let end = page.range(of: "\n.SH ", range: start.upperBound..<page.endIndex) else {
            return XCTFail("man/darkscope.1 has no KEYS section")
        }
        let lines = page[start.upperBound..<end.lowerBound].components(separatedBy: "\n")
        var documented = Set<String>()
        for (index, line) in lines.enumerated() where line == ".TP" && index + 1 < lines.count {
            let heading = lines[index + 1].replacingOccurrences(of: "\", \"", with: " ")
            for word in heading.split(separator: " ").dropFirst() { documented.insert(String(word).replacingOccurrences(of: "\\-", with: "-")) }
        }
        let names: [Key: String] = [.up: "Up", .down: "Down", .left: "Left", .right: "Right", .pageUp: "PgUp", .pageDown: "PgDn",
                                    .home: "Home", .end: "End", .tab: "Tab"]
        var bound = Set<String>()
        for action in Bindings.all.flatMap(\.actions) {
            switch action.key {
            case let .character(c): bound.insert(String(c))
            case .wheelUp, .wheelDown: bound.insert("Mouse")
            default: bound.insert(names[action.key]!)
            }
        }
        XCTAssertEqual(documented.subtracting(["Ctrl-C"]), bound)
    }
}

final class InferenceWorkerTests: XCTestCase {
    func testAnswersCarryTheirKeyAndTheNewestRequestOfASlotWins() throws {
        let fixture = try Fixture()
        var state = try fixture.state()
        let worker = InferenceWorker(threads: 1)
        let dog = state.key(slot: 0)
        worker.submit(.init(slot: 0, key: dog, network: state.network))
        _ = state.handle(.character("]"), pageSize: 5, catalog: fixture.catalog)
        let eagle = state.key(slot: 0)
        worker.submit(.init(slot: 0, key: eagle, network: state.network))
        var analyses: [Analysis] = []
        var timings: [LayerTiming] = []
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && (analyses.last?.key != eagle || timings.count < 2) {
            for update in worker.takeUpdates() {
                switch update {
                case let .analysis(analysis): analyses.append(analysis)
                case let .timing(key, timing):
                    XCTAssertEqual(key, eagle, "only the current image is timed")
                    timings.append(timing)
                default: XCTFail("unexpected \(update)")
                }
            }
            usleep(10_000)
        }
        XCTAssertEqual(analyses.last?.key, eagle)
        XCTAssertLessThanOrEqual(analyses.count, 2)
        XCTAssertNil(analyses.last?.error)
        XCTAssertGreaterThanOrEqual(timings.count, 2, "warm passes are timed while the screen is quiet")
        XCTAssertEqual(timings.last?.layers.count, state.layerCount)
        XCTAssertTrue(worker.stop(waitingAtMost: 5))
    }

    /// The networks view runs the network on screen as it is open: every other network is
    /// read to plan the runs and again to run, the one on screen only to plan.
    func testTheNetworksViewRunsTheNetworkOnScreenWithoutReadingItAgain() throws {
        final class Reads: @unchecked Sendable {
            private let lock = NSLock()
            private var counts: [String: Int] = [:]
            func add(_ cfg: String) { lock.withLock { counts[URL(fileURLWithPath: cfg).lastPathComponent, default: 0] += 1 } }
            func take() -> [String: Int] { lock.withLock { defer { counts = [:] }; return counts } }
        }
        let fixture = try Fixture(), reads = Reads()
        var catalog = fixture.catalog
        catalog.findWeights = { network in reads.add(network.cfgPath); return nil }
        let onScreen = try catalog.open(fixture.path("a.cfg"))
        XCTAssertEqual(reads.take(), ["a.cfg": 1])
        let worker = InferenceWorker(threads: 1)
        worker.compare(image: FileStamp.of(fixture.path("dog.jpg")), catalog: catalog, onScreen: onScreen)
        var ran: [NetworkRun] = []
        let deadline = Date().addingTimeInterval(20)
        while ran.count < 2 && Date() < deadline {
            for case let .networkRan(_, _, run) in worker.takeUpdates() { ran.append(run) }
            usleep(10_000)
        }
        XCTAssertEqual(ran.map(\.name), ["a.cfg", "b.cfg"])
        XCTAssertTrue(ran.allSatisfy { $0.error == nil && !$0.predictions.isEmpty }, "\(ran)")
        XCTAssertEqual(reads.take(), ["a.cfg": 1, "b.cfg": 2])
        XCTAssertTrue(worker.stop(waitingAtMost: 5))
    }

    func testAnImageThatCannotBeReadIsAnsweredWithAnError() throws {
        let fixture = try Fixture()
        let state = try fixture.state()
        let worker = InferenceWorker(threads: 1)
        let missing = SubjectKey(network: state.loaded.key, image: FileStamp.of(fixture.path("none.jpg")))
        worker.submit(.init(slot: 1, key: missing, network: state.network))
        var answer: Analysis?
        let deadline = Date().addingTimeInterval(10)
        while answer == nil && Date() < deadline {
            for case let .analysis(analysis) in worker.takeUpdates() { answer = analysis }
            usleep(10_000)
        }
        XCTAssertEqual(answer?.key, missing)
        XCTAssertNotNil(answer?.error)
        XCTAssertNil(answer?.result)
        XCTAssertTrue(worker.stop(waitingAtMost: 5))
    }
}
