// quill-bench gemm: one training-step product, C (M, N) = A · B, two ways on one thread: OpenBLAS sgemm (what
// matmulForward/Backward ran before smallGemm) and smallGemm (register tiles: 6 × 64 in AVX-512 builds, 6 × 16 in
// AVX2 builds). It prints the medians of the timed runs, and the best of them (steadier on a shared machine). --op
// names the product as the training step uses it: nn (forward, inp · W), nt (dinp = dout · Wᵀ), tn (dW += inpᵀ ·
// dout, accumulating).
import ArgumentParser
import CBLAS
import Foundation
import QuillTensor

struct GemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm", abstract: "Time one small matrix product, OpenBLAS against smallGemm; prints one JSON line.")

    @Option(help: "Rows of C.") var m = 256
    @Option(help: "Columns of C.") var n = 192
    @Option(help: "The summed dimension.") var k = 64
    @Option(help: "nn, nt or tn.") var op = "nn"
    @Option(help: "Products per timed run (0: about 50 ms of work).") var iterations = 0
    @Option(help: "Timed runs (the median counts).") var repeats = 7

    func validate() throws {
        guard m >= 1, n >= 1, k >= 1, iterations >= 0, repeats >= 1 else {
            throw ValidationError("m, n, k, repeats must be >= 1 and iterations >= 0")
        }
        guard ["nn", "nt", "tn"].contains(op) else { throw ValidationError("--op must be nn, nt or tn, not \(op)") }
    }

    func run() throws {
        Parallel.configureBLAS()
        let M = m, N = n, K = k
        let a = allocateFloats(M * K), b = allocateFloats(K * N), c1 = allocateFloats(M * N), c2 = allocateFloats(M * N)
        defer { [a, b, c1, c2].forEach(freeFloats) }
        var rng = SplitMix64(seed: 1)
        for buf in [a, b] { for i in 0..<buf.count { buf[i] = Float(rng.next() % 2001) / 1000 - 1 } }
        // Storage: nn A (M, K), B (K, N); nt B stored (N, K); tn A stored (K, M).
        let accumulate = op == "tn"
        let blasA = op == "tn" ? CblasTrans : CblasNoTrans, blasB = op == "nt" ? CblasTrans : CblasNoTrans
        let lda = op == "tn" ? M : K, ldb = op == "nt" ? K : N
        let reps = iterations > 0 ? iterations : max(1, Int(5e9 / Double(2 * M * N * K)))
        func blas() {
            cblas_sgemm(CblasRowMajor, blasA, blasB, Int32(M), Int32(N), Int32(K), 1, a.ptr, Int32(lda), b.ptr, Int32(ldb),
                        accumulate ? 1 : 0, c1.ptr, Int32(N))
        }
        func tiles() {
            smallGemm(M: M, N: N, K: K, a.ptr, rs: op == "tn" ? 1 : K, ks: op == "tn" ? M : 1, b.ptr, ldb: ldb,
                      transposedB: op == "nt", c2.ptr, ldc: N, accumulate: accumulate)
        }
        c1.ptr.update(repeating: 0, count: M * N); c2.ptr.update(repeating: 0, count: M * N)
        blas(); tiles()
        var maxDiff: Float = 0
        for i in 0..<M * N { maxDiff = max(maxDiff, abs(c1[i] - c2[i])) }
        let tb = timedRuns(repeats) { for _ in 0..<reps { blas() } }
        let tt = timedRuns(repeats) { for _ in 0..<reps { tiles() } }
        let flops = Double(2 * M * N * K * reps)
        printJSON([
            "mode": "gemm", "op": op, "m": M, "n": N, "k": K, "tiles_compiled": smallGemmAvailable, "tile": smallGemmTile,
            "openblas_gflops": round1(flops / tb[repeats / 2] / 1e9),
            "small_gemm_gflops": round1(flops / tt[repeats / 2] / 1e9),
            "openblas_gflops_best": round1(flops / tb.min()! / 1e9),
            "small_gemm_gflops_best": round1(flops / tt.min()! / 1e9),
            "max_abs_diff": Double(maxDiff),
        ])
    }
}
