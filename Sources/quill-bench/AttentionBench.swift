// quill-bench attention: causal self-attention's forward and backward over one worker's share of a training batch
// (B sequences of T tokens, C channels in NH heads), on one thread, as Worker.forward/backward call them. It prints
// the medians of the timed runs and the best of them (steadier on a shared machine), in microseconds per call and
// in GFLOP/s of the causal work (the products below the diagonal: 2·T(T+1)/2·hs multiply-adds per head and product,
// two products forward and four backward).
import ArgumentParser
import Foundation
import QuillTensor

struct AttentionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention", abstract: "Time causal attention forward and backward on one thread; prints one JSON line.")

    @Option(help: "Sequences.") var batchSize = 8
    @Option(help: "Tokens per sequence.") var blockSize = 32
    @Option(help: "Channels.") var nEmbd = 64
    @Option(help: "Heads.") var nHead = 4
    @Option(help: "Calls per timed run.") var iterations = 20
    @Option(help: "Timed runs (the median counts).") var repeats = 101

    func validate() throws {
        guard batchSize >= 1, blockSize >= 1, nHead >= 1, nEmbd >= nHead, nEmbd % nHead == 0, iterations >= 1, repeats >= 1
        else { throw ValidationError("sizes, iterations and repeats must be >= 1, and n-embd a multiple of n-head") }
    }

    func run() throws {
        Parallel.configureBLAS()   // OpenBLAS's idle threads would otherwise spin on the other cores
        let B = batchSize, T = blockSize, C = nEmbd, NH = nHead, hs = C / NH
        let qkv = allocateFloats(B * T * 3 * C), out = allocateFloats(B * T * C), att = allocateFloats(B * NH * T * T)
        let dout = allocateFloats(B * T * C), dqkv = allocateFloats(B * T * 3 * C)
        let scratch = allocateFloats(attentionScratchCount(T: T, headSize: hs))
        defer { [qkv, out, att, dout, dqkv, scratch].forEach(freeFloats) }
        var rng = SplitMix64(seed: 1)
        for buf in [qkv, dout] { for i in 0..<buf.count { buf[i] = Float(rng.next() % 2001) / 1000 - 1 } }
        func forward() { attentionForward(out, att, qkv, scratch: scratch, B: B, T: T, C: C, NH: NH) }
        func backward() {
            attentionBackward(dqkv, dout, att, qkv, scratch: scratch, B: B, T: T, C: C, NH: NH, overwrite: true)
        }
        forward(); backward()
        let tf = timedRuns(repeats) { for _ in 0..<iterations { forward() } }
        let tb = timedRuns(repeats) { for _ in 0..<iterations { backward() } }
        let causal = Double(B * NH) * Double(T * (T + 1) / 2) * Double(hs) * 2   // FLOPs of one causal product
        func us(_ t: Double) -> Double { round1(t / Double(iterations) * 1e6) }
        func gflops(_ t: Double, products: Double) -> Double { round1(causal * products * Double(iterations) / t / 1e9) }
        printJSON([
            "mode": "attention", "batch": B, "block_size": T, "n_embd": C, "n_head": NH,
            "forward_us": us(tf[repeats / 2]), "forward_us_best": us(tf.min()!),
            "backward_us": us(tb[repeats / 2]), "backward_us_best": us(tb.min()!),
            "forward_gflops_best": gflops(tf.min()!, products: 2), "backward_gflops_best": gflops(tb.min()!, products: 4),
        ])
    }
}
