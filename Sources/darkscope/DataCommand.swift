import ArgumentParser
import Darknet

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Check training data.",
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the images of a Darknet data file whose labels Darknet's substring match gets wrong.",
            discussion: """
                Darknet labels an image by every label name found anywhere in its path (fill_truth's \
                strstr), so that a label cat also matches classification/, and an image can get two \
                labels or none. For each image of the data file's train= and valid= lists where that \
                differs from darkscope's match (a whole folder or file-name part), prints \
                'LIST: PATH: Darknet gives A, B; darkscope gives C', then a count. Exits 1 if any \
                image is listed.
                """)

        @Argument(help: "A Darknet data file (labels=, train=, valid=).")
        var data: String

        func run() throws {
            let (labels, lists) = try TrainingData.lists(of: data)
            func names(_ indices: [Int]) -> String { indices.isEmpty ? "no label" : indices.map { labels[$0] }.joined(separator: ", ") }
            var problems = 0, images = 0
            for list in lists {
                for path in list.images {
                    images += 1
                    let darknet = TrainingData.darknetLabels(of: path, among: labels)
                    let ours = TrainingData.labels(of: path, among: labels)
                    guard darknet != ours || darknet.count != 1 else { continue }
                    problems += 1
                    Output.line("\(list.path): \(path): Darknet gives \(names(darknet)); darkscope gives \(names(ours))")
                }
            }
            Output.line("\(problems) of \(images) images labelled otherwise by Darknet or not at all")
            if problems > 0 { throw ExitCode(1) }
        }
    }
}
