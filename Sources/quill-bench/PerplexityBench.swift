// quill-bench perplexity: a text's perplexity under a checkpoint, computed by the decode engine in f32 or q8, the
// way llama.cpp's llama-perplexity computes it, so the two can be set side by side on the same model: the tokens
// are cut into chunks of --ctx, each chunk is one prefill into a fresh cache, and only the predictions of its
// second half count (each of them then has at least ctx/2 tokens of context). q8 scores with the engine's
// arithmetic: in VNNI builds every product quantizes its activations to 8 bits, as llama.cpp's q8_0 products do;
// --float-activations keeps them in floats (the arithmetic of builds without VNNI).
import ArgumentParser
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTensor

struct PerplexityBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a text under a checkpoint (llama-perplexity's chunks); prints one JSON line.")

    @Option(help: "A Quill checkpoint or Hugging Face GPT-2 folder.") var checkpoint: String
    @Option(help: "The text file to score.") var text: String
    @Option(help: "Weights in the engine: f32 or q8.") var weights = "f32"
    @Option(help: "Tokens per chunk (default: the model's context window).") var ctx: Int?
    @Option(help: "Chunks to score at most (default: all).") var chunks: Int?
    @Option(help: "Worker threads (default: all cores, or QUILL_THREADS).") var threads: Int?
    @Flag(help: """
        With q8: products keep their activations in floats (dequantized weights), where VNNI builds by default \
        quantize them to 8 bits in every product, as the server's prefill and decode steps and llama.cpp's q8_0 do.
        """)
    var floatActivations = false

    func validate() throws {
        guard WeightPrecision(rawValue: weights) != nil else { throw ValidationError("--weights must be f32 or q8, not \(weights)") }
        if let ctx, ctx < 4 { throw ValidationError("--ctx must be at least 4") }
        if let chunks, chunks < 1 { throw ValidationError("--chunks must be at least 1") }
        if floatActivations && weights != "q8" {
            throw ValidationError("--float-activations needs --weights q8")
        }
    }

    func run() throws {
        let workers = threads ?? Parallel.defaultWorkers
        let precision = WeightPrecision(rawValue: weights) ?? .f32
        let engine: InferenceEngine
        let tokens: [Int32]
        do {
            let mapped = try MappedModel.open(path: checkpoint)
            let weights = try mapped.inferenceWeights(precision: precision,
                                                      activations: floatActivations ? .float : .preferred)
            engine = InferenceEngine(weights: weights, workers: workers)
            guard let data = FileManager.default.contents(atPath: text), let body = String(data: data, encoding: .utf8) else {
                throw ValidationError("cannot read \(text) as UTF-8 text")
            }
            tokens = try mapped.tokenizer.makeTokenizer().encode(body).map(Int32.init)
        } catch let error as CheckpointError {
            throw ValidationError(error.description)
        }
        let window = engine.config.blockSize
        let n = ctx ?? window
        guard n <= window else { throw ValidationError("--ctx \(n) exceeds the model's context window (\(window))") }
        let available = tokens.count / n
        guard available >= 1 else { throw ValidationError("\(text) has \(tokens.count) tokens, fewer than one chunk of \(n)") }
        let count = min(available, chunks ?? available)
        let first = n / 2
        var sum = 0.0, scored = 0
        let start = Date()
        for c in 0..<count {
            let nll = try engine.score(tokens: Array(tokens[(c * n)..<((c + 1) * n)]))
            for i in first..<(n - 1) { sum += Double(nll[i]) }
            scored += n - 1 - first
        }
        let seconds = Date().timeIntervalSince(start)
        let mean = sum / Double(scored)
        let activations = precision == .q8 && !floatActivations && Q8Weights.integerKernels ? "int8" : "float"
        printJSON([
            "mode": "perplexity", "weights": precision.rawValue,
            "activations": activations, "threads": workers, "ctx": n, "chunks": count,
            "text_tokens": tokens.count, "tokens_scored": scored, "nll_mean": (mean * 1e6).rounded() / 1e6,
            "perplexity": (exp(mean) * 1e4).rounded() / 1e4, "seconds": (seconds * 100).rounded() / 100,
            "tokens_per_s": round1(Double(count * n) / seconds),
        ])
    }
}
