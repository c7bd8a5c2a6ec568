// quill-bench matmul: the decode-step matrix product (few rows, a model's weight shapes) three ways: OpenBLAS
// sgemm, Quill's packed-panel kernel, and its 8-bit twin (Q8Weights: 32-value blocks with an f16 scale), the last
// as the engine runs it (q8), with float activations and widened bytes (q8_fused), with 8-bit activations and
// integer sums at every row count (q8_int8, VNNI builds; null elsewhere), and dequantized into float panels
// (q8_dequantized). One thread. head_rows: the tied LM head's row kernel (HeadDot.swift) over the same weights read
// as (out, in), for up to 16 rows.
import ArgumentParser
import Foundation
import QuillTensor

struct MatmulBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matmul", abstract: "Time few-row matrix products (decode steps); prints one JSON line.")

    @Option(help: "Rows (sequences in a decode step).") var rows = 8
    @Option(name: .customLong("in"), help: "Input channels.") var inChannels = 128
    @Option(name: .customLong("out"), help: "Output channels.") var outChannels = 512
    @Option(help: "Products per timed run.") var iterations = 20000
    @Option(help: "Timed runs (the median counts).") var repeats = 5

    func validate() throws {
        guard rows >= 1, inChannels >= 1, outChannels >= 1, iterations >= 1, repeats >= 1 else {
            throw ValidationError("rows, in, out, iterations, repeats must be >= 1")
        }
    }

    func run() throws {
        Parallel.configureBLAS()
        let N = rows, IC = inChannels, OC = outChannels
        let inp = allocateFloats(N * IC), w = allocateFloats(IC * OC), b = allocateFloats(OC)
        let out1 = allocateFloats(N * OC), out2 = allocateFloats(N * OC)
        defer { [inp, w, b, out1, out2].forEach(freeFloats) }
        var rng = SplitMix64(seed: 1)
        for buf in [inp, w, b] { for i in 0..<buf.count { buf[i] = Float(rng.next() % 2001) / 1000 - 1 } }
        let packed = PackedWeights(w, inChannels: IC, outChannels: OC)
        let n = iterations
        let blas = timedRuns(repeats) { for _ in 0..<n { matmulForward(out1, inp, w, b, rows: N, inChannels: IC, outChannels: OC) } }
        let pack = timedRuns(repeats) { for _ in 0..<n { packedMatmulForward(out2, inp, packed, b, rows: N) } }
        let q8 = Q8Weights(w, inChannels: IC, outChannels: OC)
        let out3 = allocateFloats(N * OC)
        defer { freeFloats(out3) }
        let quant = timedRuns(repeats) { for _ in 0..<n { q8MatmulForward(out3, inp, q8, b, rows: N) } }
        let saved = q8DequantizeAllRows
        q8DequantizeAllRows = 1 << 30
        let floatQ8 = Q8Weights(w, inChannels: IC, outChannels: OC, activations: .float)
        let fused = timedRuns(repeats) { for _ in 0..<n { q8MatmulForward(out3, inp, floatQ8, b, rows: N) } }
        let integer = Q8Weights.integerKernels
            ? timedRuns(repeats) { for _ in 0..<n { q8MatmulForward(out3, inp, q8, b, rows: N) } } : nil
        q8DequantizeAllRows = 0
        let dequant = timedRuns(repeats) { for _ in 0..<n { q8MatmulForward(out3, inp, floatQ8, b, rows: N) } }
        q8DequantizeAllRows = saved
        // The tied LM head's row kernel (HeadDot.swift) on the same shape, wte laid out (out, in) as it lies.
        let head = N <= headDotMaxRows
            ? timedRuns(repeats) { for _ in 0..<n { lmHeadForward(out3, inp, w, rows: N, C: IC, V: OC, workers: 1) } } : nil
        var maxDiff: Float = 0
        for i in 0..<N * OC { maxDiff = max(maxDiff, abs(out1[i] - out2[i])) }
        let flops = Double(2 * N * IC * OC * n)
        printJSON([
            "mode": "matmul", "rows": N, "in": IC, "out": OC,
            "openblas_gflops": round1(flops / blas[repeats / 2] / 1e9),
            "packed_gflops": round1(flops / pack[repeats / 2] / 1e9),
            "q8_gflops": round1(flops / quant[repeats / 2] / 1e9),
            "q8_fused_gflops": round1(flops / fused[repeats / 2] / 1e9),
            "q8_int8_gflops": integer.map { round1(flops / $0[repeats / 2] / 1e9) as Any } ?? NSNull(),
            "q8_dequantized_gflops": round1(flops / dequant[repeats / 2] / 1e9),
            "head_rows_gflops": head.map { round1(flops / $0[repeats / 2] / 1e9) as Any } ?? NSNull(),
            "packed_weight_gb_per_s": round1(Double(packed.bytes * n) / pack[repeats / 2] / 1e9),
            "q8_weight_gb_per_s": round1(Double(q8.bytes * n) / quant[repeats / 2] / 1e9),
            "max_abs_diff": Double(maxDiff),
        ])
    }
}
