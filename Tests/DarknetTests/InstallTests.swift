import Foundation
import XCTest

/// `scripts/install PREFIX`, then darkscope run from another folder, as a user runs it.
final class InstallTests: XCTestCase {
    /// The files go where the README says; the installed binary, run from a folder without
    /// darkscope's files, reads its cfg/ and assets/ from PREFIX/share/darkscope (copies marked
    /// there, so that another install, say /usr/local's, cannot pass for this one), the
    /// explorer opens, and `man` renders the page.
    func testAnInstalledDarkscopeRunsFromAnyFolder() throws {
        let weights = try Repo.requireTinyWeights()
        let directory = try Repo.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let prefix = directory.appendingPathComponent("prefix").path
        let elsewhere = directory.appendingPathComponent("elsewhere").path
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let installed = try runProcess("/usr/bin/env", ["DARKSCOPE_BINARY=\(Repo.binary)", Repo.path("scripts/install"), prefix])
        XCTAssertEqual(installed.status, 0, installed.stderr)

        let share = prefix + "/share"
        for file in ["cfg/tiny.cfg", "cfg/models.tsv", "assets/dog.jpg", "assets/imagenet1k.names"] {
            XCTAssertEqual(FileManager.default.contents(atPath: "\(share)/darkscope/\(file)"), FileManager.default.contents(atPath: Repo.path(file)), file)
        }
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: prefix + "/bin/darkscope"))
        let completions = ["bash-completion/completions/darkscope": "_darkscope", "zsh/site-functions/_darkscope": "#compdef darkscope",
                           "fish/vendor_completions.d/darkscope.fish": "complete -c 'darkscope'"]
        for (file, mark) in completions {
            let text = String(decoding: FileManager.default.contents(atPath: "\(share)/\(file)") ?? Data(), as: UTF8.self)
            XCTAssertTrue(text.contains(mark) && text.contains("classify"), "\(file) completes darkscope's commands")
        }

        // Marked copies: a class renamed in the installed labels, an extra installed cfg.
        let names = "\(share)/darkscope/assets/imagenet1k.names"
        let labels = try String(contentsOfFile: names, encoding: .utf8).replacingOccurrences(of: "\nmalamute\n", with: "\ninstalled-malamute\n")
        try labels.write(toFile: names, atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: "\(share)/darkscope/cfg/tiny.cfg", toPath: "\(share)/darkscope/cfg/installed-copy.cfg")

        let binary = prefix + "/bin/darkscope"
        let classified = try runProcess(binary, ["classify", "\(share)/darkscope/cfg/tiny.cfg", weights, "\(share)/darkscope/assets/dog.jpg"],
                                        currentDirectory: elsewhere)
        XCTAssertEqual(classified.status, 0, classified.stderr)
        XCTAssertTrue(classified.stdout.contains("installed-malamute"), "labels from PREFIX/share/darkscope/assets: \(classified.stdout)")
        let models = try runProcess(binary, ["models", "--runs", "1"], currentDirectory: elsewhere)
        XCTAssertEqual(models.status, 0, models.stderr)
        XCTAssertTrue(models.stdout.contains("installed-copy.cfg"), "cfgs from PREFIX/share/darkscope/cfg: \(models.stdout)")

        let session = try TmuxSession(command: "sh -c \"cd '\(elsewhere)' && exec '\(binary)'\"", environment: ["DARKSCOPE_WEIGHTS": weights])
        try session.waitFor("tiny.cfg", "installed-malamute", "BFLOPs")
        try session.keys("q")
        try session.waitFor("EXITED 0")

        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/man") else {
            if Repo.isCI { throw DarknetTestError("man is missing; scripts/setup-debian installs man-db") }
            throw XCTSkip("man is not installed (apt-get install man-db)")
        }
        let page = try runProcess("/usr/bin/env", ["MANWIDTH=100", "/usr/bin/man", "-P", "cat", "-M", share + "/man", "darkscope"],
                                  currentDirectory: elsewhere)
        XCTAssertEqual(page.status, 0, page.stderr)
        XCTAssertTrue(page.stdout.contains("darkscope - "), "the NAME line: \(page.stdout.prefix(300))")
        XCTAssertTrue(page.stdout.contains("--format symbols|ascii|sixel|kitty|iterm2"), "rendered, not raw roff")
    }

    /// Every option each command's --help lists is in that command's part of the man page
    /// (its `.SS` section), so that neither is left behind when the other changes.
    func testTheManPageDocumentsEveryOptionOfEveryCommand() throws {
        let page = try String(contentsOfFile: Repo.path("man/darkscope.1"), encoding: .utf8).replacingOccurrences(of: "\\-", with: "-")
        func subcommands(_ path: [String]) throws -> [String] {
            let help = try runProcess(Repo.binary, ["help"] + path).stdout
            guard let start = help.range(of: "SUBCOMMANDS:\n") else { return [] }
            return help[start.upperBound...].split(separator: "\n").compactMap { line in
                line.hasPrefix("  ") && !line.hasPrefix("   ") ? line.split(separator: " ").first.map(String.init) : nil
            }.filter { $0 != "See" }
        }
        var commands: [[String]] = []
        for command in try subcommands([]) {
            let nested = try subcommands([command])
            commands += nested.isEmpty ? [[command]] : nested.map { [command, $0] }
        }
        XCTAssertGreaterThan(commands.count, 10, "\(commands)")
        let options = try NSRegularExpression(pattern: "--[a-z][a-z0-9-]*")
        for command in commands {
            let help = try runProcess(Repo.binary, ["help"] + command).stdout
            let listed = help.range(of: "OPTIONS:").map { String(help[$0.upperBound...]) } ?? ""
            let names = Set(options.matches(in: listed, range: NSRange(listed.startIndex..., in: listed)).map { String(listed[Range($0.range, in: listed)!]) })
                .subtracting(["--help", "--version"])
            let title = ".SS \"\(command.joined(separator: " "))"
            guard let start = page.range(of: title) else {
                XCTFail("the man page has no section \(title)")
                continue
            }
            let rest = page[start.upperBound...]
            let section = rest[..<(rest.range(of: "\n.S")?.lowerBound ?? rest.endIndex)]
            for name in names.sorted() where !section.contains(name) {
                XCTFail("\(command.joined(separator: " ")) \(name) is in --help but not in the man page's \(title)\" section")
            }
        }
    }
}
