// quill-bench train: the training step of ../shared/bench/torch_gpt.py train (forward, zero-grad, backward,
// gradient clipping at 1.0, AdamW at lr 1e-3) on a fixed random batch, timed; same flags, same JSON fields.
import ArgumentParser
import Foundation
import QuillModel
import QuillTensor

struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Time GPT training steps; prints one JSON line.")

    @Option(name: .customLong("n-layer"), help: "Transformer blocks.") var nLayer = 8
    @Option(name: .customLong("n-head"), help: "Attention heads.") var nHead = 8
    @Option(name: .customLong("n-embd"), help: "Embedding width.") var nEmbd = 128
    @Option(name: .customLong("block-size"), help: "Context length (tokens per sequence).") var blockSize = 128
    @Option(name: .customLong("batch-size"), help: "Sequences per step.") var batchSize = 32
    @Option(help: "Vocabulary size.") var vocab = 65
    @Option(help: "Timed steps.") var steps = 10
    @Option(help: "Untimed steps first.") var warmup = 3
    @Option(help: "Seed for weights and batch.") var seed: UInt64 = 1337
    @Option(help: "Worker threads (default: all cores, or QUILL_THREADS).") var threads: Int?
    @Option(help: "Dropout probability.") var dropout: Float = 0
    @Option(name: .customLong("small-gemm"),
            help: "Products on Quill's own tiles instead of OpenBLAS: all, none, or a list of nn, nt, tn.")
    var smallGemm = "all"
    @Option(name: .customLong("small-gemm-max-work"), help: "Largest product (M·N·K) on Quill's tiles.")
    var smallGemmMaxWork: Int?

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be >= 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be >= 0") }
        _ = try products()
    }

    func products() throws -> SmallGemmProducts {
        switch smallGemm {
        case "all": return .all
        case "none": return []
        default:
            var set: SmallGemmProducts = []
            for name in smallGemm.split(separator: ",") {
                switch name {
                case "nn": set.insert(.nn)
                case "nt": set.insert(.nt)
                case "tn": set.insert(.tn)
                default: throw ValidationError("--small-gemm: \(name) is not all, none, nn, nt or tn")
                }
            }
            return set
        }
    }

    func run() throws {
        smallGemmProducts = try products()
        if let smallGemmMaxWork { smallGemmMaximumWork = smallGemmMaxWork }
        let config = GPTConfig(vocabSize: vocab, blockSize: blockSize, nLayer: nLayer, nHead: nHead, nEmbd: nEmbd,
                               dropout: dropout)
        let workers = threads ?? Parallel.defaultWorkers
        let model: GPT
        do { model = try GPT(config: config, seed: seed, workers: workers) } catch {
            throw ValidationError(error.description)
        }
        let opt = AdamW(layout: model.layout, config: AdamWConfig(weightDecay: 0.1), workers: workers)
        var rng = SplitMix64(seed: seed)
        let n = batchSize * blockSize
        let x = (0..<n).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(vocab)) }
        let y = (0..<n).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(vocab)) }

        // Phase times of each timed step (forward; backward; clipping and AdamW), for the profile.
        var phases: [[Double]] = [[], [], []]
        var timing = false
        func step() throws {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try model.forward(inputs: x, targets: y, batchSize: batchSize, sequenceLength: blockSize)
            let t1 = DispatchTime.now().uptimeNanoseconds
            try model.backward(accumulate: false)   // zero_grad(set_to_none=True), then backward
            let t2 = DispatchTime.now().uptimeNanoseconds
            let clip = clipFactor(norm: gradientNorm(model.gradients, workers: workers), maxNorm: 1.0)
            opt.update(params: model.parameters, grads: model.gradients, lr: 1e-3, gradScale: clip)
            let t3 = DispatchTime.now().uptimeNanoseconds
            if timing {
                for (i, d) in [t1 - t0, t2 - t1, t3 - t2].enumerated() { phases[i].append(Double(d) / 1e6) }
            }
        }
        for _ in 0..<warmup { try step() }
        timing = true
        let times = try timedRuns(steps, step)
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        let med = times[times.count / 2]
        let params = model.parameterCount
        // torch_gpt.py's accounting: 6N per token for the dense layers + 12·L·C·T for attention (PaLM, app. B).
        let flopsPerToken = 6.0 * Double(params) + 12.0 * Double(nLayer * nEmbd * blockSize)
        printJSON([
            "mode": "train", "impl": "quill", "threads": workers, "params": params, "blas_core": BLASKernels.coreName,
            "small_gemm": smallGemmAvailable ? smallGemm : "not compiled", "small_gemm_tile": smallGemmTile,
            "step_ms_median": round2(med * 1e3), "step_ms_min": round2(times[0] * 1e3),
            "step_ms_p10": round2(times[times.count / 10] * 1e3), "step_ms_p90": round2(times[times.count * 9 / 10] * 1e3),
            "forward_ms_median": round2(median(phases[0])), "backward_ms_median": round2(median(phases[1])),
            "optimizer_ms_median": round2(median(phases[2])),
            "tokens_per_s": round1(Double(n) / med),
            "gflops_per_s": round2(flopsPerToken * Double(n) / med / 1e9),
            "peak_rss_mb": round1(peakRSSMegabytes()),
        ])
    }
}
