import ArgumentParser
import Darknet
import Explorer
import Foundation
import Render

@main
struct Darkscope: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "darkscope",
        abstract: "A terminal microscope for Darknet image classifiers.",
        version: "0.1.0",
        subcommands: [Explore.self, Classify.self, Layers.self, Show.self, Explain.self, Visualize.self, NightmareCommand.self, IndexCommand.self, Train.self, Valid.self, Partial.self, DataCommand.self, WeightsCommand.self, Benchmark.self, Models.self],
        defaultSubcommand: Explore.self
    )

    /// Runs a command as darkscope does every one: a broken pipe is an error, not a signal,
    /// OpenBLAS's idle threads stopped before they spin, and a failure is one line on stderr
    /// with a non-zero exit.
    static func main() {
        signal(SIGPIPE, SIG_IGN)
        OpenBLAS.useCallingThread()
        do {
            var command = try parseAsRoot()
            try InstructionSet.checkEnvironment()
            try command.run()
            try Output.finish()
        } catch let error as DarknetError {
            Output.fail("\(error)")
        } catch let error as TerminalUnusable {
            Output.fail("\(error)")
        } catch let error as RenderError {
            Output.fail("\(error)")
        } catch {
            exit(withError: error)
        }
    }
}
