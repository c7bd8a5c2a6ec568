// Matrix product with bias, forward and backward: OpenBLAS (row-major), or Quill's tiles for the small shapes of a
// training step (SmallGemm.swift's trainingGemm chooses). Weights use the Hugging Face GPT-2 (Conv1D) layout [in, out],
// so the forward is inp · W without a transpose.
import CBLAS

// MARK: - Forward

/// out (N, OC) = inp (N, IC) · weight (IC, OC) + bias (OC)
public func matmulForward(_ out: FloatBuffer, _ inp: FloatBuffer, _ weight: FloatBuffer, _ bias: FloatBuffer?,
                          rows N: Int, inChannels IC: Int, outChannels OC: Int) {
    precondition(out.count >= N * OC && inp.count >= N * IC && weight.count >= IC * OC, "matmulForward: sizes")
    if let bias { precondition(bias.count >= OC) }
    if N == 1 {
        // One row (a decode step): a matrix-vector product, which OpenBLAS runs without sgemm's packing.
        var beta: Float = 0
        if let bias { out.ptr.update(from: bias.ptr, count: OC); beta = 1 }
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(IC), Int32(OC), 1, weight.ptr, Int32(OC), inp.ptr, 1,
                    beta, out.ptr, 1)
        return
    }
    // On Quill's tiles the bias is added as they store (no pass over out first).
    trainingGemm(.nn, M: N, N: OC, K: IC, inp.ptr, rs: IC, ks: 1, weight.ptr, ldb: OC, out.ptr, ldc: OC,
                 accumulate: false, bias: bias.map { UnsafePointer($0.ptr) })
}

// MARK: - Backward

/// dinp (N, IC) += dout · weightᵀ;  dweight (IC, OC) += inpᵀ · dout;  dbias (OC) += Σ_rows dout.
/// dinp may be nil when the input needs no gradient. overwriteInput: dinp = (not +=) dout · weightᵀ, which
/// saves zeroing a fresh gradient buffer first; accumulateWeights false: the same for dweight and dbias.
public func matmulBackward(_ dinp: FloatBuffer?, _ dweight: FloatBuffer, _ dbias: FloatBuffer?,
                           _ dout: FloatBuffer, _ inp: FloatBuffer, _ weight: FloatBuffer,
                           rows N: Int, inChannels IC: Int, outChannels OC: Int, overwriteInput: Bool = false,
                           accumulateWeights: Bool = true) {
    precondition(dout.count >= N * OC && inp.count >= N * IC && dweight.count >= IC * OC, "matmulBackward: sizes")
    if let dinp {
        precondition(dinp.count >= N * IC)
        trainingGemm(.nt, M: N, N: IC, K: OC, dout.ptr, rs: OC, ks: 1, weight.ptr, ldb: OC, transposedB: true,
                     dinp.ptr, ldc: IC, accumulate: !overwriteInput)
    }
    trainingGemm(.tn, M: IC, N: OC, K: N, inp.ptr, rs: 1, ks: IC, dout.ptr, ldb: OC, dweight.ptr, ldc: OC,
                 accumulate: accumulateWeights)
    if let dbias {
        precondition(dbias.count >= OC)
        if !accumulateWeights { dbias.ptr.update(repeating: 0, count: OC) }
        columnSumAccumulate(dbias.ptr, dout.ptr, rows: N, cols: OC)
    }
}

/// acc (cols) += Σ_r m[r, :]
@inline(__always)
func columnSumAccumulate(_ acc: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
    var j = 0
    // 32 columns at a time in 4 registers, rows streamed in order: each row contributes one 128-byte run.
    while j + 32 <= cols {
        var s0 = load8(acc + j), s1 = load8(acc + j + 8), s2 = load8(acc + j + 16), s3 = load8(acc + j + 24)
        var p = m + j
        for _ in 0..<rows {
            s0 += load8(p); s1 += load8(p + 8); s2 += load8(p + 16); s3 += load8(p + 24)
            p += cols
        }
        store8(s0, acc + j); store8(s1, acc + j + 8); store8(s2, acc + j + 16); store8(s3, acc + j + 24)
        j += 32
    }
    while j + 8 <= cols {
        var s = load8(acc + j)
        var r = 0
        while r < rows { s += load8(m + r * cols + j); r += 1 }
        store8(s, acc + j)
        j += 8
    }
    while j < cols {
        var s = acc[j]
        for r in 0..<rows { s += m[r * cols + j] }
        acc[j] = s
        j += 1
    }
}

// MARK: - Language-model head (weights tied to the token embedding, layout [V, C])

/// logits (N, V) = inp (N, C) · wteᵀ (wte: V, C)
public func lmHeadForward(_ logits: FloatBuffer, _ inp: FloatBuffer, _ wte: FloatBuffer, rows N: Int, C: Int, V: Int) {
    precondition(logits.count >= N * V && inp.count >= N * C && wte.count >= V * C, "lmHeadForward: sizes")
    if N == 1 {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(V), Int32(C), 1, wte.ptr, Int32(C), inp.ptr, 1, 0, logits.ptr, 1)
        return
    }
    trainingGemm(.nt, M: N, N: V, K: C, inp.ptr, rs: C, ks: 1, wte.ptr, ldb: C, transposedB: true, logits.ptr, ldc: V,
                 accumulate: false)
}

/// lmHeadForward with the vocabulary shared among `workers` threads (each a contiguous range of rows of wte, one
/// single-threaded BLAS call each), when N·V·C reaches `splitMinimumWork`. For decode at GPT-2's size the head is a
/// third of the bytes a step reads, so it must use every core too.
public func lmHeadForward(_ logits: FloatBuffer, _ inp: FloatBuffer, _ wte: FloatBuffer, rows N: Int, C: Int, V: Int,
                          workers: Int) {
    guard workers > 1, V >= 128, N * V * C >= splitMinimumWork else {
        if N <= headDotMaxRows, N * V * C >= splitMinimumWork {
            headDotForward(logits, inp, wte, rows: N, C: C, V: V, vocab: 0..<V)
        } else {
            lmHeadForward(logits, inp, wte, rows: N, C: C, V: V)
        }
        return
    }
    precondition(logits.count >= N * V && inp.count >= N * C && wte.count >= V * C, "lmHeadForward: sizes")
    let minimumRows = max(64, minimumChunkWork / (N * C))   // vocabulary rows per chunk at least
    if N <= headDotMaxRows {   // decode steps: Quill's own row kernel (HeadDot.swift)
        Parallel.forEachGuided(V, minimum: minimumRows, workers: workers) { r in
            headDotForward(logits, inp, wte, rows: N, C: C, V: V, vocab: r)
        }
        return
    }
    Parallel.forEachGuided(V, minimum: minimumRows, workers: workers) { r in
        let w = wte.ptr + r.lowerBound * C, out = logits.ptr + r.lowerBound
        if N == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(r.count), Int32(C), 1, w, Int32(C), inp.ptr, 1, 0, out, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(N), Int32(r.count), Int32(C),
                        1, inp.ptr, Int32(C), w, Int32(C), 0, out, Int32(V))
        }
    }
}

/// dinp (N, C) += dlogits · wte (= with overwriteInput);  dwte (V, C) += dlogitsᵀ · inp (= with accumulateWeights
/// false)
public func lmHeadBackward(_ dinp: FloatBuffer, _ dwte: FloatBuffer, _ dlogits: FloatBuffer, _ inp: FloatBuffer,
                           _ wte: FloatBuffer, rows N: Int, C: Int, V: Int, overwriteInput: Bool = false,
                           accumulateWeights: Bool = true) {
    precondition(dlogits.count >= N * V && dinp.count >= N * C && dwte.count >= V * C, "lmHeadBackward: sizes")
    trainingGemm(.nn, M: N, N: C, K: V, dlogits.ptr, rs: V, ks: 1, wte.ptr, ldb: C, dinp.ptr, ldc: C,
                 accumulate: !overwriteInput)
    trainingGemm(.tn, M: V, N: C, K: N, dlogits.ptr, rs: 1, ks: V, inp.ptr, ldb: C, dwte.ptr, ldc: C,
                 accumulate: accumulateWeights)
}
