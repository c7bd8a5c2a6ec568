// quill-bench: Quill's benchmarks. Each subcommand prints one JSON line of figures, last, so scripts can read it
// (../shared/bench/compare.sh runs these beside PyTorch's torch_gpt.py with the same flags).
import ArgumentParser
import QuillTensor

@main
struct QuillBench: ParsableCommand {

    /// OpenBLAS's kernels first (BLASKernels: a CPU newer than the library gets slow fallback kernels).
    static func main() {
        BLASKernels.reexecIfFallback()
        self.main(nil)
    }
    static let configuration = CommandConfiguration(
        commandName: "quill-bench",
        abstract: "Quill's benchmarks; each prints one JSON line.",
        subcommands: [TrainBench.self, GenerateBench.self, PerplexityBench.self, MatmulBench.self, GemmBench.self, AttentionBench.self, TokenizeBench.self, ServerBench.self])
}
