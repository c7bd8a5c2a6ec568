// quill-train: train a GPT or bigram model on a text file, evaluate it, and sample from it.
// The executable prints and exits; QuillTraining does the work and throws typed errors.
import ArgumentParser
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTensor
import QuillTokenizers
import QuillTraining

@main
struct QuillTrain: ParsableCommand {

    /// OpenBLAS's kernels first (BLASKernels: a CPU newer than the library gets slow fallback kernels).
    static func main() {
        BLASKernels.reexecIfFallback()
        self.main(nil)
    }
    static let configuration = CommandConfiguration(
        commandName: "quill-train",
        abstract: "Train a small GPT on any text, evaluate it, sample from it.",
        subcommands: [Train.self, Prepare.self, Eval.self, Sample.self, ExportCommand.self, Plot.self])
}

/// One line on stderr, then exit 1 — the CLI's answer to bad input.
func fail(_ message: String) -> Never { exitWithError(message) }

func exitWithError(_ message: String) -> Never {
    FileHandle.standardError.write(Data("quill-train: error: \(message)\n".utf8))
    exit(1)
}

func printLine(_ s: String) {
    FileHandle.standardOutput.write(Data((s + "\n").utf8))
}

func jsonLine(_ object: [String: Any]) -> String {
    String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
}
