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
                var t = 0
                while t + 4 <= T { softmaxCausalRows4(A + t * T, S + t * tp, t0: t, T: T, tp: tp, scale: scale); t += 4 }
                while t < T { softmaxCausalRow(A + t * T, S + t * tp, from: 0, t: t, T: T, scale: scale); t += 1 }
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

/// softmaxCausalRow(from: 0) for the four rows t0 ..< t0 + 4 (t0 a multiple of 4, rows of a at stride T, of s at
/// stride tp), side by side: their maxima, exps, sums and scalings are four independent chains in one loop, where
/// row after row each waited on its own horizontal max, sum and division (most of the attention forward's own time
/// at T = 32). Rows t0 ..< t0 + 4 span the same number of vectors, ⌈(t0 + 4) / 8⌉; only the last is masked, per row.
@inline(__always)
private func softmaxCausalRows4(_ a: UnsafeMutablePointer<Float>, _ s: UnsafeMutablePointer<Float>,
                                t0: Int, T: Int, tp: Int, scale: Float) {
    let s0 = s, s1 = s + tp, s2 = s + 2 * tp, s3 = s + 3 * tp
    let a0 = a, a1 = a + T, a2 = a + 2 * T, a3 = a + 3 * T
    let last = ((t0 + 3) >> 3) << 3         // first column of the last vector; columns before it are all ≤ t0
    let ninf = Float8(repeating: -.infinity)
    // Lanes past each row's diagonal in the last vector: column last + lane > t0 + r.
    let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) &+ SIMD8<Int32>(repeating: Int32(last))
    let p0 = lanes .> SIMD8<Int32>(repeating: Int32(t0)), p1 = lanes .> SIMD8<Int32>(repeating: Int32(t0 + 1))
    let p2 = lanes .> SIMD8<Int32>(repeating: Int32(t0 + 2)), p3 = lanes .> SIMD8<Int32>(repeating: Int32(t0 + 3))
    var m0 = load8(s0 + last).replacing(with: ninf, where: p0), m1 = load8(s1 + last).replacing(with: ninf, where: p1)
    var m2 = load8(s2 + last).replacing(with: ninf, where: p2), m3 = load8(s3 + last).replacing(with: ninf, where: p3)
    var j = 0
    while j < last {
        m0 = vmax(m0, load8(s0 + j)); m1 = vmax(m1, load8(s1 + j)); m2 = vmax(m2, load8(s2 + j)); m3 = vmax(m3, load8(s3 + j))
        j += 8
    }
    let sc = Float8(repeating: scale)
    let x0 = Float8(repeating: hmax(m0) * scale), x1 = Float8(repeating: hmax(m1) * scale)
    let x2 = Float8(repeating: hmax(m2) * scale), x3 = Float8(repeating: hmax(m3) * scale)
    var e0 = fastExp(fma(load8(s0 + last), sc, -x0)).replacing(with: 0, where: p0)
    var e1 = fastExp(fma(load8(s1 + last), sc, -x1)).replacing(with: 0, where: p1)
    var e2 = fastExp(fma(load8(s2 + last), sc, -x2)).replacing(with: 0, where: p2)
    var e3 = fastExp(fma(load8(s3 + last), sc, -x3)).replacing(with: 0, where: p3)
    var u0 = e0, u1 = e1, u2 = e2, u3 = e3
    j = 0
    while j < last {
        let f0 = fastExp(fma(load8(s0 + j), sc, -x0)), f1 = fastExp(fma(load8(s1 + j), sc, -x1))
        let f2 = fastExp(fma(load8(s2 + j), sc, -x2)), f3 = fastExp(fma(load8(s3 + j), sc, -x3))
        store8(f0, a0 + j); store8(f1, a1 + j); store8(f2, a2 + j); store8(f3, a3 + j)
        u0 += f0; u1 += f1; u2 += f2; u3 += f3
        j += 8
    }
    let i0 = Float8(repeating: 1 / hsum(u0)), i1 = Float8(repeating: 1 / hsum(u1))
    let i2 = Float8(repeating: 1 / hsum(u2)), i3 = Float8(repeating: 1 / hsum(u3))
    j = 0
    while j < last {
        store8(load8(a0 + j) * i0, a0 + j); store8(load8(a1 + j) * i1, a1 + j)
        store8(load8(a2 + j) * i2, a2 + j); store8(load8(a3 + j) * i3, a3 + j)
        j += 8
    }
    e0 *= i0; e1 *= i1; e2 *= i2; e3 *= i3
    if last + 8 <= T {   // the masked lanes are the row's zeros after its diagonal
        store8(e0, a0 + last); store8(e1, a1 + last); store8(e2, a2 + last); store8(e3, a3 + last)
        for z in (last + 8)..<max(last + 8, T) { a0[z] = 0; a1[z] = 0; a2[z] = 0; a3[z] = 0 }
    } else {
        for l in 0..<(T - last) { a0[last + l] = e0[l]; a1[last + l] = e1[l]; a2[last + l] = e2[l]; a3[last + l] = e3[l] }
    }
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

/// softmaxBackwardRow for the four rows t0 ..< t0 + 4 (t0 a multiple of 4; ds and da at stride tp, a at stride T),
/// as four independent chains (see softmaxCausalRows4). The last vector, masked per row past its diagonal, must lie
/// within the rows of a: ((t0 + 3) / 8) · 8 + 8 ≤ T. ds gets zeros in the masked lanes.
@inline(__always)
private func softmaxBackwardRows4(_ ds: UnsafeMutablePointer<Float>, _ a: UnsafeMutablePointer<Float>,
                                  _ da: UnsafeMutablePointer<Float>, t0: Int, T: Int, tp: Int, scale: Float) {
    let a0 = a, a1 = a + T, a2 = a + 2 * T, a3 = a + 3 * T
    let g0 = da, g1 = da + tp, g2 = da + 2 * tp, g3 = da + 3 * tp
    let d0 = ds, d1 = ds + tp, d2 = ds + 2 * tp, d3 = ds + 3 * tp
    let last = ((t0 + 3) >> 3) << 3
    let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) &+ SIMD8<Int32>(repeating: Int32(last))
    let p0 = lanes .> SIMD8<Int32>(repeating: Int32(t0)), p1 = lanes .> SIMD8<Int32>(repeating: Int32(t0 + 1))
    let p2 = lanes .> SIMD8<Int32>(repeating: Int32(t0 + 2)), p3 = lanes .> SIMD8<Int32>(repeating: Int32(t0 + 3))
    let z = Float8()
    let la0 = load8(a0 + last).replacing(with: z, where: p0), la1 = load8(a1 + last).replacing(with: z, where: p1)
    let la2 = load8(a2 + last).replacing(with: z, where: p2), la3 = load8(a3 + last).replacing(with: z, where: p3)
    let lg0 = load8(g0 + last), lg1 = load8(g1 + last), lg2 = load8(g2 + last), lg3 = load8(g3 + last)
    var s0 = la0 * lg0, s1 = la1 * lg1, s2 = la2 * lg2, s3 = la3 * lg3
    var j = 0
    while j < last {
        s0 = fma(load8(a0 + j), load8(g0 + j), s0); s1 = fma(load8(a1 + j), load8(g1 + j), s1)
        s2 = fma(load8(a2 + j), load8(g2 + j), s2); s3 = fma(load8(a3 + j), load8(g3 + j), s3)
        j += 8
    }
    let o0 = Float8(repeating: hsum(s0)), o1 = Float8(repeating: hsum(s1))
    let o2 = Float8(repeating: hsum(s2)), o3 = Float8(repeating: hsum(s3))
    let sc = Float8(repeating: scale)
    j = 0
    while j < last {
        store8(load8(a0 + j) * (load8(g0 + j) - o0) * sc, d0 + j); store8(load8(a1 + j) * (load8(g1 + j) - o1) * sc, d1 + j)
        store8(load8(a2 + j) * (load8(g2 + j) - o2) * sc, d2 + j); store8(load8(a3 + j) * (load8(g3 + j) - o3) * sc, d3 + j)
        j += 8
    }
    store8(la0 * (lg0 - o0) * sc, d0 + last); store8(la1 * (lg1 - o1) * sc, d1 + last)
    store8(la2 * (lg2 - o2) * sc, d2 + last); store8(la3 * (lg3 - o3) * sc, d3 + last)
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
            if let m {
                for t in 0..<T { let da = DA + t * tp; for t2 in 0...t { da[t2] *= m.factor(t * T + t2) } }
            }
            var t = 0
            while t + 4 <= T && (((t + 3) >> 3) << 3) + 8 <= T {
                softmaxBackwardRows4(DS + t * tp, A + t * T, DA + t * tp, t0: t, T: T, tp: tp, scale: scale)
                t += 4
            }
            while t < T {
                softmaxBackwardRow(DS + t * tp, A + t * T, DA + t * tp, n: t + 1, scale: scale)
                t += 1
            }
            // dSᵀ is read in 4-row tiles below: up to 3 entries past the diagonal must be zero.
            for t in 0..<T { let ds = DS + t * tp; for t2 in (t + 1)..<min(t + 4, tp) { ds[t2] = 0 } }
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
