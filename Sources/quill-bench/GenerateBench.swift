// quill-bench generate: decode throughput with the flags of ../shared/bench/torch_gpt.py generate: a batch of
// random prompts, greedy, with KV caches (or --no-cache: the whole context through the model for every token).
import ArgumentParser
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTensor

struct GenerateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Time greedy generation; prints one JSON line.")

    @Option(name: .customLong("n-layer")) var nLayer = 8
    @Option(name: .customLong("n-head")) var nHead = 8
    @Option(name: .customLong("n-embd")) var nEmbd = 128
    @Option(name: .customLong("block-size")) var blockSize = 128
    @Option(help: "Vocabulary size.") var vocab = 65
    @Option(help: "Sequences decoded together.") var batch = 1
    @Option(help: "Prompt length in tokens.") var prompt = 16
    @Option(help: "New tokens per sequence (past the window, sessions slide as the server does).") var new = 100
    @Option(help: "Timed repeats (the median counts).") var repeats = 3
    @Option(help: "Seed for weights and prompts.") var seed: UInt64 = 1337
    @Option(help: "Worker threads (default: all cores, or QUILL_THREADS).") var threads: Int?
    @Flag(name: .customLong("no-cache"), help: "Recompute the whole context for every token (the notebooks' way).")
    var noCache = false
    @Option(help: "Weights in the engine: f32, or q8 (8-bit blocks of 32 with an f16 scale).") var weights = "f32"
    @Option(help: "A Quill checkpoint or Hugging Face GPT-2 folder to decode with (its shape replaces the --n-* flags), mapped from disk as quill-server maps it.")
    var checkpoint: String?

    func validate() throws {
        guard WeightPrecision(rawValue: weights) != nil else { throw ValidationError("--weights must be f32 or q8, not \(weights)") }
        guard noCache == false || weights == "f32" else { throw ValidationError("--no-cache runs the training forward, in f32 only") }
        guard batch >= 1, prompt >= 1, new >= 1, repeats >= 1 else { throw ValidationError("batch, prompt, new, repeats must be >= 1") }
        // With caches, generation past the window slides (context shifts, as in the server); torch_gpt.py and the
        // recompute path need it to fit.
        guard checkpoint != nil || prompt <= blockSize, checkpoint != nil || noCache == false || prompt + new <= blockSize else {
            throw ValidationError("prompt + new must fit the context window (\(blockSize)) with --no-cache; the prompt must fit it always")
        }
    }

    func run() throws {
        let workers = threads ?? Parallel.defaultWorkers
        let precision = WeightPrecision(rawValue: weights) ?? .f32
        let model: GPT
        let engine: InferenceEngine
        if let checkpoint {
            do {
                let mapped = try MappedModel.open(path: checkpoint)
                if noCache {
                    guard let gpt = try mapped.checkpoint().makeModel(workers: workers) as? GPT else {
                        throw ValidationError("\(checkpoint) does not hold a GPT")
                    }
                    model = gpt
                    engine = InferenceEngine(model: gpt, workers: workers)
                } else {
                    let weights = try mapped.inferenceWeights(precision: precision)
                    // The recompute path is not run; a 1-layer stand-in keeps `model` defined for it.
                    model = try GPT(config: GPTConfig(vocabSize: 1, blockSize: 1, nLayer: 1, nHead: 1, nEmbd: 1), workers: 1)
                    engine = InferenceEngine(weights: weights, workers: workers)
                }
            } catch let error as CheckpointError {
                throw ValidationError(error.description)
            }
        } else {
            let config = GPTConfig(vocabSize: vocab, blockSize: blockSize, nLayer: nLayer, nHead: nHead, nEmbd: nEmbd)
            do { model = try GPT(config: config, seed: seed, workers: workers) } catch { throw ValidationError(error.description) }
            engine = InferenceEngine(weights: InferenceWeights(model: model, precision: precision), workers: workers)
        }
        model.isTraining = false
        let config = engine.config
        guard prompt <= config.blockSize, noCache == false || prompt + new <= config.blockSize else {
            throw ValidationError("prompt + new must fit the model's context (\(config.blockSize)) with --no-cache; the prompt must fit it always")
        }
        let vocab = config.vocabSize
        var rng = SplitMix64(seed: seed)
        let prompts = (0..<batch).map { _ in (0..<prompt).map { _ in Int32(rng.next() % UInt64(vocab)) } }

        func runCached() throws {
            let sessions = try prompts.map {
                try GenerationSession(prompt: $0, config: config, options: DecodingOptions(strategy: .greedy), maxTokens: new)
            }
            _ = try engine.generate(sessions)
        }
        func runRecompute() throws {
            var contexts = prompts
            for _ in 0..<new {
                let T = contexts[0].count
                try model.forward(inputs: contexts.flatMap { $0 }, targets: nil, batchSize: batch, sequenceLength: T)
                for b in 0..<batch {
                    let l = model.logits(sample: b, position: T - 1)
                    contexts[b].append(Int32(l.indices.max { l[$0] < l[$1] }!))
                }
            }
        }
        let fn = noCache ? runRecompute : runCached
        try fn()
        let times = try timedRuns(repeats, fn)
        let med = times[repeats / 2]
        // Prefill alone: every prompt into a fresh cache in one pass (llama-bench's pp).
        let prefill = try timedRuns(repeats) {
            _ = try engine.extend(prompts.map { (KVCache(config: config), $0) })
        }
        printJSON([
            "mode": "generate", "impl": noCache ? "quill-recompute" : "quill-kvcache", "threads": workers,
            "weights": precision.rawValue,
            "params": GPT.layout(for: config).count, "batch": batch, "prompt": prompt, "new": new,
            "seconds_median": (med * 1e4).rounded() / 1e4, "tokens_per_s": round1(Double(batch * new) / med),
            "tokens_per_s_best": round1(Double(batch * new) / times[0]),
            "prefill_tokens_per_s": round1(Double(batch * prompt) / prefill[repeats / 2]),
        ])
    }
}
