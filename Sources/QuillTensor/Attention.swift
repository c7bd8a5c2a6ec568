// Causal multi-head self-attention, forward and backward, over the fused qkv activations (llm.c
// attention_forward/backward). Per (sample, head): S = Q Kᵀ / √hs, A = softmax(S) under the causal mask,
// optional dropout on A, Y = A V. Products run on register tiles (MicroGemm.swift) that skip the masked half.

/// Scratch floats one attention call needs (per worker): Kᵀ or Vᵀ (hs x Tp) and three Tp x Tp planes.
public func attentionScratchCount(T: Int, headSize hs: Int) -> Int {
    let tp = (T + 7) & ~7
    return hs * tp + 3 * tp * tp
}

@inline(__always) private func roundUp8(_ x: Int) -> Int { (x + 7) & ~7 }

// MARK: - Shared steps

/// out (T, tp) = A (T, hs) · Bᵀ over causal columns (row tile i0 gets columns 0..<i0+4, rounded up to 8), through
/// Bᵀ (hs, tp) built in `scratch` and zero-padded past T so the tiles can run whole vectors.
@inline(__always)
private func causalProductWithTranspose(_ out: UnsafeMutablePointer<Float>, _ a: UnsafeMutablePointer<Float>, lda: Int,
                                        _ b: UnsafeMutablePointer<Float>, ldb: Int, scratch bT: UnsafeMutablePointer<Float>,
                                        T: Int, hs: Int) {
    let tp = roundUp8(T)
    transpose(bT, ldd: tp, b, lds: ldb, rows: T, cols: hs)
    if tp > T { for d in 0..<hs { for t in T..<tp { bT[d * tp + t] = 0 } } }
    var i0 = 0
    while i0 < T {
        let r = min(4, T - i0)
        gemmTile(rows: r, n: roundUp8(i0 + r), k0: 0, k1: hs, a + i0 * lda, lda: lda, bT, ldb: tp,
                 out + i0 * tp, ldc: tp, accumulate: false)
        i0 += 4
    }
}

/// P (T, T) = A with the dropout mask applied on and below the diagonal, zero above.
@inline(__always)
private func applyCausalDropout(_ P: UnsafeMutablePointer<Float>, _ A: UnsafeMutablePointer<Float>, _ m: DropoutMask, T: Int) {
    for t in 0..<T {
        for t2 in 0...t { P[t * T + t2] = A[t * T + t2] * m.factor(t * T + t2) }
        for t2 in (t + 1)..<T { P[t * T + t2] = 0 }
    }
}

// MARK: - Forward

/// out (B, T, C): attention output, heads side by side;  att (B, NH, T, T): softmax weights (before dropout),
/// zero above the diagonal, saved for backward;  inp (B, T, 3C): q, k, v side by side.
/// dropout: applied to att inside the product with V; stream per (sampleOffset + b, head).
/// segments (B, T): where each token's document starts in its row (`documentSegments`); a token then attends to
/// its own document only (a block-diagonal causal mask). nil: one document per row. Backward needs no mask of its
/// own: the weights outside a document are exact zeros, and so are their gradients.
/// threads > 1: the (sample, head) pairs are split over that many threads, each with its own part of `scratch`
/// (threads × attentionScratchCount); for a pass with a single worker, whose cores would otherwise wait.
public func attentionForward(_ out: FloatBuffer, _ att: FloatBuffer, _ inp: FloatBuffer, scratch: FloatBuffer,
                             B: Int, T: Int, C: Int, NH: Int,
                             dropout: DropoutMask? = nil, sampleOffset: Int = 0, segments: TokenBuffer? = nil,
                             threads: Int = 1) {
    let hs = C / NH, C3 = 3 * C, tp = roundUp8(T)
    let per = attentionScratchCount(T: T, headSize: hs)
    precondition(hs * NH == C && out.count >= B * T * C && att.count >= B * NH * T * T && inp.count >= B * T * C3)
    let parts = max(1, min(threads, B * NH, scratch.count / max(1, per)))
    precondition(scratch.count >= per, "attentionForward: scratch")
    let scale = 1 / Float(hs).squareRoot()
    Parallel.forEach(parts) { part in
    let kT = scratch.ptr + part * per    // (hs, tp)
    let S = kT + hs * tp                 // (T, tp) scores
    let AD = S + tp * tp                 // (T, T) weights after dropout
    for pair in Parallel.range(part, of: parts, total: B * NH) {
        let b = pair / NH, h = pair % NH
        do {
            let q = inp.ptr + b * T * C3 + h * hs
            let k = q + C, v = q + 2 * C
            let A = att.ptr + (b * NH + h) * T * T
            let y = out.ptr + b * T * C + h * hs
            causalProductWithTranspose(S, q, lda: C3, k, ldb: C3, scratch: kT, T: T, hs: hs)
            if let segments {
                let st = segments.baseAddress! + b * T
                for t in 0..<T { softmaxCausalRow(A + t * T, S + t * tp, from: Int(st[t]), t: t, T: T, scale: scale) }
            } else {
                for t in 0..<T { softmaxCausalRow(A + t * T, S + t * tp, from: 0, t: t, T: T, scale: scale) }
            }
            var P = A
            if let dropout {
                applyCausalDropout(AD, A, dropout.stream(UInt64((sampleOffset + b) * NH + h)), T: T)
                P = AD
            }
            // Y = P V: row tile i0 reads P columns (= V rows) 0..<i0+4 only.
            var i0 = 0
            while i0 < T {
                let r = min(4, T - i0)
                gemmTile(rows: r, n: hs, k0: 0, k1: min(i0 + r, T), P + i0 * T, lda: T, v, ldb: C3,
                         y + i0 * C, ldc: C, accumulate: false)
                i0 += 4
            }
        }
    }
    }
}

/// a[0..<T] = softmax(scale · s[from...t]) with zeros before `from` and after t. Max subtracted for stability.
/// The last partial group of eight is one masked vector, not a scalar loop (whose exps, one Float8 each, were most
/// of the forward's own time at T = 32): s0 must be readable up to 7 floats past t (in the scratch planes, always).
@inline(__always)
private func softmaxCausalRow(_ a0: UnsafeMutablePointer<Float>, _ s0: UnsafeMutablePointer<Float>,
                              from: Int, t: Int, T: Int, scale: Float) {
    for z in 0..<from { a0[z] = 0 }
    let a = a0 + from, s = s0 + from
    let n = t + 1 - from, full = n & ~7, rem = n - full
    let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
    let past = lanes .>= SIMD8<Int32>(repeating: Int32(rem))   // tail lanes beyond t
    let ninf = Float8(repeating: -.infinity)
    var m8 = ninf
    var j = 0
    while j < full { m8 = vmax(m8, load8(s + j)); j += 8 }
    if rem > 0 { m8 = vmax(m8, load8(s + full).replacing(with: ninf, where: past)) }
    let mx = hmax(m8)
    let mxs = Float8(repeating: mx * scale), sc = Float8(repeating: scale)
    var sum8 = Float8()
    j = 0
    while j < full {
        let e = fastExp(fma(load8(s + j), sc, -mxs))
        store8(e, a + j)
        sum8 += e
        j += 8
    }
    var tail = Float8()
    if rem > 0 {
        tail = fastExp(fma(load8(s + full), sc, -mxs)).replacing(with: 0, where: past)
        sum8 += tail
    }
    let inv8 = Float8(repeating: 1 / hsum(sum8))
    j = 0
    while j < full { store8(load8(a + j) * inv8, a + j); j += 8 }
    var zeroFrom = t + 1
    if rem > 0 {
        tail *= inv8
        if from + full + 8 <= T {   // the whole vector fits in the row: its masked lanes are the zeros after t
            store8(tail, a + full)
            zeroFrom = from + full + 8
        } else {
            for l in 0..<rem { a[full + l] = tail[l] }
        }
    }
    for z in zeroFrom..<max(zeroFrom, T) { a0[z] = 0 }
}

/// ds[0..<n] = scale · a ⊙ (da − Σ a·da): the softmax Jacobian applied to da.
@inline(__always)
private func softmaxBackwardRow(_ ds: UnsafeMutablePointer<Float>, _ a: UnsafeMutablePointer<Float>,
                                _ da: UnsafeMutablePointer<Float>, n: Int, scale: Float) {
    var d8 = Float8(), j = 0
    while j + 8 <= n { d8 = fma(load8(a + j), load8(da + j), d8); j += 8 }
    var dot = hsum(d8)
    while j < n { dot += a[j] * da[j]; j += 1 }
    let dot8 = Float8(repeating: dot), sc8 = Float8(repeating: scale)
    j = 0
    while j + 8 <= n { store8(load8(a + j) * (load8(da + j) - dot8) * sc8, ds + j); j += 8 }
    while j < n { ds[j] = a[j] * (da[j] - dot) * scale; j += 1 }
}

// MARK: - Backward

/// dinp (B, T, 3C) += gradients for q, k, v (= with overwrite: every element is written exactly once);
/// dout (B, T, C);  att, inp as saved by the forward.
public func attentionBackward(_ dinp: FloatBuffer, _ dout: FloatBuffer, _ att: FloatBuffer, _ inp: FloatBuffer,
                              scratch: FloatBuffer, B: Int, T: Int, C: Int, NH: Int,
                              dropout: DropoutMask? = nil, sampleOffset: Int = 0, overwrite: Bool = false,
                              threads: Int = 1) {
    let hs = C / NH, C3 = 3 * C, tp = roundUp8(T)
    let per = attentionScratchCount(T: T, headSize: hs)
    precondition(hs * NH == C && dinp.count >= B * T * C3 && dout.count >= B * T * C && att.count >= B * NH * T * T)
    let parts = max(1, min(threads, B * NH, scratch.count / max(1, per)))
    precondition(scratch.count >= per, "attentionBackward: scratch")
    let scale = 1 / Float(hs).squareRoot()
    // Each (sample, head) pair writes its own columns of dinp: the pairs split over threads without sharing.
    Parallel.forEach(parts) { part in
    let vT = scratch.ptr + part * per    // (hs, tp)
    let DA = vT + hs * tp                // (T, tp)  dP, the gradient of the (dropped-out) weights
    let DS = DA + tp * tp                // (T, tp)  dS, the gradient of the pre-softmax scores (scaled)
    let PD = DS + tp * tp                // (T, T)   P = A after dropout
    for pair in Parallel.range(part, of: parts, total: B * NH) {
        let b = pair / NH, h = pair % NH
        do {
            let q = inp.ptr + b * T * C3 + h * hs
            let k = q + C, v = q + 2 * C
            let dq = dinp.ptr + b * T * C3 + h * hs
            let dk = dq + C, dv = dq + 2 * C
            let A = att.ptr + (b * NH + h) * T * T
            let dy = dout.ptr + b * T * C + h * hs
            let m = dropout?.stream(UInt64((sampleOffset + b) * NH + h))
            var P = A
            if let m {
                applyCausalDropout(PD, A, m, T: T)
                P = PD
            }
            // dP = dY Vᵀ, causal columns only.
            causalProductWithTranspose(DA, dy, lda: C, v, ldb: C3, scratch: vT, T: T, hs: hs)
            var i0 = 0
            // Through dropout, then softmax: dS = A ⊙ (dA - Σ A dA), times the score scale.
            for t in 0..<T {
                let da = DA + t * tp, ds = DS + t * tp, a = A + t * T
                if let m { for t2 in 0...t { da[t2] *= m.factor(t * T + t2) } }
                softmaxBackwardRow(ds, a, da, n: t + 1, scale: scale)
                // dSᵀ is read in 4-row tiles below: up to 3 entries past the diagonal must be zero.
                for t2 in (t + 1)..<min(t + 4, tp) { ds[t2] = 0 }
            }
            // dQ += dS K (k range causal);  dV += Pᵀ dY and dK += dSᵀ Q (k range t ≥ row).
            i0 = 0
            while i0 < T {
                let r = min(4, T - i0)
                gemmTile(rows: r, n: hs, k0: 0, k1: min(i0 + r, T), DS + i0 * tp, lda: tp, k, ldb: C3,
                         dq + i0 * C3, ldc: C3, accumulate: !overwrite)
                i0 += 4
            }
            i0 = 0
            while i0 < T {
                let r = min(4, T - i0)
                gemmTile(rows: r, n: hs, k0: i0, k1: T, P + i0, lda: T, transposedA: true, dy, ldb: C,
                         dv + i0 * C3, ldc: C3, accumulate: !overwrite)
                gemmTile(rows: r, n: hs, k0: i0, k1: T, DS + i0, lda: tp, transposedA: true, q, ldb: C3,
                         dk + i0 * C3, ldc: C3, accumulate: !overwrite)
                i0 += 4
            }
        }
    }
    }
}
