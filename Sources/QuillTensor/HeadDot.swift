// The tied LM head for decode steps: logits (N, V) = x (N, C) · wteᵀ with few rows, reading wte (V, C) as it lies,
// one vocabulary row after another. OpenBLAS's sgemv does this too, but the kernel it picks on some CPUs (a VM
// that reports an unknown model gets SSE3's "Prescott" kernels) read wte at 9 GB/s on a core where this loop reads
// 12; at GPT-2's size the head is 154 MB of the 500 MB a decode step reads. AVX-512 builds run head_dot.c's
// register tiles instead (up to 8 input rows × 2 to 8 vocabulary rows, wte prefetched into L2, the tile's dot
// products reduced by one permute tree): on one Zen 4 core they read wte as fast as the block matrices' panels at
// 1 row and 1.1–2.2× faster at 2 to 16 rows (`quill-bench matmul --in 768 --out 50257`, head_rows against packed).
// The naive twin is the triple loop (Reference.lmHeadForward).
import CBLAS
import CQuillKernels

/// Rows at most for which `lmHeadForward(…, workers:)` runs this kernel (above: one sgemm per vocabulary range).
public let headDotMaxRows = 16

/// logits[r · V + v] = Σ_c x[r · C + c] · wte[v · C + c] for v in `vocab` and every r < N (N ≤ 4 per call).
@inline(__always)
func headDotRows(_ logits: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ wte: UnsafeMutablePointer<Float>,
                 rows N: Int, C: Int, V: Int, vocab: Range<Int>, prefetch: Bool) {
    precondition(N >= 1 && N <= 4)
    let body = C & ~15
    for v in vocab {
        let w = wte + v * C
        // The row 8 rows ahead (C floats each) is asked for while this one is summed, by the first group of rows
        // only: the others find the chunk in cache.
        if prefetch {
            let ahead = UnsafeRawPointer(w + 8 * C)
            var line = 0
            while line < C * 4 { quill_prefetch(ahead + line); line += 64 }
        }
        var a0 = Float8(), a1 = Float8(), b0 = Float8(), b1 = Float8()
        var c0 = Float8(), c1 = Float8(), d0 = Float8(), d1 = Float8()
        var k = 0
        while k < body {
            let w0 = load8(w + k), w1 = load8(w + k + 8)
            a0 = a0.addingProduct(w0, load8(x + k)); a1 = a1.addingProduct(w1, load8(x + k + 8))
            if N > 1 { b0 = b0.addingProduct(w0, load8(x + C + k)); b1 = b1.addingProduct(w1, load8(x + C + k + 8)) }
            if N > 2 { c0 = c0.addingProduct(w0, load8(x + 2 * C + k)); c1 = c1.addingProduct(w1, load8(x + 2 * C + k + 8)) }
            if N > 3 { d0 = d0.addingProduct(w0, load8(x + 3 * C + k)); d1 = d1.addingProduct(w1, load8(x + 3 * C + k + 8)) }
            k += 16
        }
        var s = SIMD4<Float>((a0 + a1).sum(), (b0 + b1).sum(), (c0 + c1).sum(), (d0 + d1).sum())
        while k < C {
            for r in 0..<N { s[r] += w[k] * x[r * C + k] }
            k += 1
        }
        for r in 0..<N { logits[r * V + v] = s[r] }
    }
}

/// Bytes of wte that one chunk of vocabulary rows spans: every group of 4 input rows runs over a chunk before the
/// next chunk is read, so that with more than 4 rows wte still comes from memory once (from L2 for the later
/// groups). Without it, 8 rows read GPT-2's 154 MB head twice a step.
let headDotChunkBytes = 128 << 10

/// logits (N, V) = x (N, C) · wteᵀ for the vocabulary rows `vocab`: in AVX-512 builds 8 input rows at a time by
/// head_dot.c's register tiles, elsewhere 4 at a time by headDotRows. With more rows than one group, the vocabulary
/// goes in chunks that every group runs over before the next chunk is read.
func headDotForward(_ logits: FloatBuffer, _ x: FloatBuffer, _ wte: FloatBuffer, rows N: Int, C: Int, V: Int,
                    vocab: Range<Int>) {
    let group = headDotTiles ? 8 : 4
    let chunk = N <= group ? vocab.count : max(8, headDotChunkBytes / (4 * max(1, C)))
    var v0 = vocab.lowerBound
    while v0 < vocab.upperBound {
        let part = v0..<min(vocab.upperBound, v0 + chunk)
        var r = 0
        while r < N {
            let n = min(group, N - r)
            if headDotTiles {
                quill_head_dot_f32(x.ptr + r * C, Int32(n), Int32(C), wte.ptr, V, part.lowerBound, part.upperBound,
                                   logits.ptr + r * V, r == 0 ? 1 : 0)
            } else {
                headDotRows(logits.ptr + r * V, x.ptr + r * C, wte.ptr, rows: n, C: C, V: V, vocab: part, prefetch: r == 0)
            }
            r += n
        }
        v0 = part.upperBound
    }
}

/// Whether the head runs head_dot.c's AVX-512 tiles: in AVX-512 builds (QUILL_AVX512), which run only on such CPUs.
#if QUILL_AVX512
let headDotTiles = true
#else
let headDotTiles = false
#endif
