// smallGemm (SmallGemm.swift) against a naive triple loop in double, in the three shapes the training step uses it
// in, on ragged sizes: rows past a multiple of 6, columns in a narrow last slab, k past one 128-block, rows past one block of A, strided C.
// And the C transpose it packs with, and the training products routed through it, against their twins.
import CQuillKernels
@testable import QuillTensor
import Testing

@Suite("smallGemm, the training step's own matrix product")
struct SmallGemmTests {
    enum Form: String, CaseIterable { case nn, nt, tn }

    /// C[i, j] = (acc ? C0 : 0) + Σ_k A[i, k] B[k, j] in double, from the operands as stored for `form`.
    static func naive(_ form: Form, M: Int, N: Int, K: Int, a: Buf, b: Buf, c0: Buf, ldc: Int, accumulate: Bool,
                      bias: Buf?) -> [Double] {
        var out = [Double](repeating: 0, count: M * ldc)
        for i in 0..<M {
            for j in 0..<N {
                var s = accumulate ? Double(c0[i * ldc + j]) : bias.map { Double($0[j]) } ?? 0
                for k in 0..<K {
                    let x = form == .tn ? a[k * M + i] : a[i * K + k]
                    let y = form == .nt ? b[j * K + k] : b[k * N + j]
                    s += Double(x) * Double(y)
                }
                out[i * ldc + j] = s
            }
        }
        return out
    }

    // (1100, 20, 64): more rows than one block of A on AVX2 (1,024 rows at K = 64), so a second block is packed.
    // M = 6q + 4 (64, 70, 256) ends on AVX2's 4-row tile: in place, packed Aᵀ, and (508, 24, 256) in a third block
    // of its own 4 rows (252 rows a block at K = 256, once A is past 256 KB; (256, 64, 256) is just 256 KB: in place).
    @Test("smallGemm equals the triple loop in every form, setting, adding a bias or accumulating, on ragged shapes",
          arguments: [(1, 1, 1), (5, 17, 3), (6, 64, 64), (7, 65, 129), (12, 128, 1), (13, 130, 300), (64, 48, 40),
                      (70, 33, 129), (25, 200, 257), (256, 192, 64), (256, 64, 256), (508, 24, 256),
                      (1100, 20, 64)])
    func matchesTripleLoop(shape: (Int, Int, Int)) {
        let (M, N, K) = shape
        let ldc = N + 3   // C rows wider than N: nothing past column N may be written
        for form in Form.allCases {
            for (accumulate, withBias) in [(false, false), (false, true), (true, false)] {
                let a = Buf(M * K, seed: 1), b = Buf(K * N, seed: 2), c = Buf(M * ldc, seed: 3), bias = Buf(N, seed: 4)
                let want = Self.naive(form, M: M, N: N, K: K, a: a, b: b, c0: c, ldc: ldc, accumulate: accumulate,
                                      bias: withBias ? bias : nil)
                let before = Buf(copy: c)
                smallGemm(M: M, N: N, K: K, a.b.ptr, rs: form == .tn ? 1 : K, ks: form == .tn ? M : 1, b.b.ptr,
                          ldb: form == .nt ? K : N, transposedB: form == .nt, c.b.ptr, ldc: ldc, accumulate: accumulate,
                          bias: withBias ? UnsafePointer(bias.b.ptr) : nil)
                var worst = 0.0, untouched = true
                for i in 0..<M {
                    for j in 0..<ldc {
                        if j < N {
                            worst = max(worst, abs(Double(c[i * ldc + j]) - want[i * ldc + j]) / max(1, abs(want[i * ldc + j])))
                        } else if c[i * ldc + j] != before[i * ldc + j] {
                            untouched = false
                        }
                    }
                }
                // Float sums of up to 300 products of unit normals: relative error a few 1e-6.
                #expect(worst < 2e-5, "\(form) accumulate \(accumulate) bias \(withBias): \(worst)")
                #expect(untouched, "\(form) accumulate \(accumulate) bias \(withBias) wrote past column N")
            }
        }
    }

    @Test("the C transpose equals the naive one bit for bit, on 8 × 8 blocks and ragged edges",
          arguments: [(1, 1), (3, 5), (8, 8), (9, 17), (64, 192), (65, 31)])
    func transposeMatches(shape: (Int, Int)) {
        let (rows, cols) = shape
        let lds = cols + 2, ldd = rows + 5
        let src = Buf(rows * lds, seed: 9), dst = Buf(cols * ldd)
        quill_transpose_f32(src.b.ptr, lds, Int32(rows), Int32(cols), dst.b.ptr, ldd)
        var equal = true
        for i in 0..<rows { for j in 0..<cols where dst[j * ldd + i] != src[i * lds + j] { equal = false } }
        #expect(equal)
    }

    @Test("the training products take smallGemm only where the shape has whole slabs and OpenBLAS is on one thread")
    func dispatch() {
        #expect(useSmallGemm(.nn, 256, 192, 64, blasThreads: 1) == smallGemmAvailable)
        #expect(useSmallGemm(.nt, 256, 128, 64, blasThreads: 1) == smallGemmAvailable)
        #expect(useSmallGemm(.nt, 256, 200, 64, blasThreads: 1) == smallGemmAvailable)   // 8 columns in a narrow tile
        #expect(useSmallGemm(.tn, 64, 192, 256, blasThreads: 1))
        // 48 columns: three whole 16-column slabs on AVX2; on AVX-512 all of them in a narrow last slab.
        #expect(useSmallGemm(.nn, 256, 48, 64, blasThreads: 1) == (smallGemmTile == "6x16 (AVX2)"))
        #expect(!useSmallGemm(.nt, 256, 65, 64, blasThreads: 1))   // a 65-character head: 15 of 80 columns padding
        #expect(!useSmallGemm(.nn, 256, 33, 64, blasThreads: 1))    // half its columns would fall in narrow tiles
        #expect(!useSmallGemm(.tn, 8, 192, 64, blasThreads: 1))     // too few rows to pay for packing B
        #expect(!useSmallGemm(.nn, 1024, 2304, 768, blasThreads: 1))  // GPT-2-sized: OpenBLAS
        // A lone worker's products run on OpenBLAS's threads (Parallel.withBLASThreads), not on one core.
        #expect(!useSmallGemm(.nn, 256, 192, 64, blasThreads: 2))
    }

    @Test("matmul and the LM head, forward and backward, equal their twins on shapes that take smallGemm",
          arguments: [(256, 64, 192), (30, 128, 136), (200, 96, 320)])
    func trainingProducts(shape: (Int, Int, Int)) {
        let (N, IC, OC) = shape
        #expect(useSmallGemm(.nn, N, OC, IC, blasThreads: 1) == smallGemmAvailable, "a shape smallGemm takes where it exists")
        let inp = Buf(N * IC, seed: 11), w = Buf(IC * OC, seed: 12), bias = Buf(OC, seed: 13), dout = Buf(N * OC, seed: 14)
        // Both sides sum up to 320 float products of unit normals (sums near 18), in different orders: each rounds to
        // within about K · 2⁻²⁴ · 18 ≈ 3e-4 in the worst case, and a few 1e-5 in practice.
        let tolerance: Float = 5e-5
        let fast = Buf(N * OC, seed: 15), slow = Buf(N * OC)
        matmulForward(fast.b, inp.b, w.b, bias.b, rows: N, inChannels: IC, outChannels: OC)
        Reference.matmulForward(slow.b, inp.b, w.b, bias.b, rows: N, inChannels: IC, outChannels: OC)
        #expect(maxRelativeDiff(fast.b, slow.b, count: N * OC).diff < tolerance)
        for overwrite in [false, true] {
            let di1 = Buf(N * IC, seed: 16), dw1 = Buf(IC * OC, seed: 17), db1 = Buf(OC, seed: 18)
            let di2 = Buf(copy: di1), dw2 = Buf(copy: dw1), db2 = Buf(copy: db1)
            if overwrite { for i in 0..<N * IC { di2[i] = 0 } }
            matmulBackward(di1.b, dw1.b, db1.b, dout.b, inp.b, w.b, rows: N, inChannels: IC, outChannels: OC,
                           overwriteInput: overwrite)
            Reference.matmulBackward(di2.b, dw2.b, db2.b, dout.b, inp.b, w.b, rows: N, inChannels: IC, outChannels: OC)
            #expect(maxRelativeDiff(di1.b, di2.b, count: N * IC).diff < tolerance, "overwrite \(overwrite)")
            #expect(maxRelativeDiff(dw1.b, dw2.b, count: IC * OC).diff < tolerance)
            #expect(maxRelativeDiff(db1.b, db2.b, count: OC).diff < tolerance)
        }
        // The head: C = IC channels, V = OC tokens, wte (V, C).
        let (C, V) = (IC, OC)
        let wte = Buf(V * C, seed: 19), logits1 = Buf(N * V), logits2 = Buf(N * V)
        lmHeadForward(logits1.b, inp.b, wte.b, rows: N, C: C, V: V)
        Reference.lmHeadForward(logits2.b, inp.b, wte.b, rows: N, C: C, V: V)
        #expect(maxRelativeDiff(logits1.b, logits2.b, count: N * V).diff < tolerance)
        let dl = Buf(N * V, seed: 20), dx1 = Buf(N * C, seed: 21), dwte1 = Buf(V * C, seed: 22)
        let dx2 = Buf(copy: dx1), dwte2 = Buf(copy: dwte1)
        lmHeadBackward(dx1.b, dwte1.b, dl.b, inp.b, wte.b, rows: N, C: C, V: V)
        // Reference: dx += dl · wte, dwte += dlᵀ · inp, in double.
        var worst = 0.0
        for i in 0..<N {
            for c in 0..<C {
                var s = Double(dx2[i * C + c])
                for v in 0..<V { s += Double(dl[i * V + v]) * Double(wte[v * C + c]) }
                worst = max(worst, abs(Double(dx1[i * C + c]) - s) / max(1, abs(s)))
            }
        }
        for v in 0..<V {
            for c in 0..<C {
                var s = Double(dwte2[v * C + c])
                for i in 0..<N { s += Double(dl[i * V + v]) * Double(inp[i * C + c]) }
                worst = max(worst, abs(Double(dwte1[v * C + c]) - s) / max(1, abs(s)))
            }
        }
        #expect(worst < Double(tolerance))
    }
}
