import Foundation
import XCTest

/// The fuzz seeds (Tests/Fuzz/corpus) replayed through the parsers' target as a normal
/// build makes it: every input parsed or refused, none crashed; and the seeds that are
/// valid files, as they must be to lead the fuzzer into the code past the checks, taken.
final class FuzzCorpusTests: XCTestCase {
    func testSeedsReplayAndTheValidOnesAreTaken() throws {
        let binary = URL(fileURLWithPath: Repo.binary).deletingLastPathComponent().appendingPathComponent("darkscope-fuzz").path
        // Six cfg seeds are Tests/Corpus cases, which must be refused (route-forward.cfg and others).
        let refused = ["cfg": 6, "weights": 0, "image": 0]
        for (parser, refusedCount) in refused.sorted(by: { $0.key < $1.key }) {
            let folder = Repo.path("Tests/Fuzz/corpus/\(parser)")
            let count = try FileManager.default.contentsOfDirectory(atPath: folder).count
            let result = try runProcess(binary, ["--parser=\(parser)", folder])
            XCTAssertFalse(result.signalled, "\(parser): killed by signal \(result.status)\n\(result.stderr)")
            XCTAssertEqual(result.status, 0, "\(parser): \(result.stderr)")
            XCTAssertEqual(result.stdout, "\(parser): \(count) inputs, \(count - refusedCount) accepted, \(refusedCount) refused, none crashed\n")
        }
    }
}
