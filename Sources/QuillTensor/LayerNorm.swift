// Layer normalisation over the last dimension, forward and backward (llm.c layernorm_forward/backward).
// Mean and reciprocal standard deviation are saved for the backward pass; eps = 1e-5 as in GPT-2.

public let layerNormEps: Float = 1e-5

/// out (N, C) = (inp - mean) * rstd * weight + bias;  mean, rstd (N) saved.  bias nil for bias-free models.
public func layerNormForward(_ out: FloatBuffer, _ mean: FloatBuffer, _ rstd: FloatBuffer, _ inp: FloatBuffer,
                             _ weight: FloatBuffer, _ bias: FloatBuffer?, rows N: Int, C: Int) {
    precondition(out.count >= N * C && inp.count >= N * C && mean.count >= N && rstd.count >= N && weight.count >= C)
    let w = weight.ptr
    let bp = bias?.ptr
    for r in 0..<N {
        let x = inp.ptr + r * C, o = out.ptr + r * C
        // Two passes (mean, then variance of the centred values): stable for rows with a large offset.
        var s8 = Float8(), c = 0
        while c + 8 <= C { s8 += load8(x + c); c += 8 }
        var s = hsum(s8)
        while c < C { s += x[c]; c += 1 }
        let m = s / Float(C)
        let m8 = Float8(repeating: m)
        var v8 = Float8()
        c = 0
        while c + 8 <= C { let d = load8(x + c) - m8; v8 = fma(d, d, v8); c += 8 }
        var v = hsum(v8)
        while c < C { let d = x[c] - m; v += d * d; c += 1 }
        let rs = 1 / (v / Float(C) + layerNormEps).squareRoot()
        let rs8 = Float8(repeating: rs)
        c = 0
        if let bp {
            while c + 8 <= C { store8(fma((load8(x + c) - m8) * rs8, load8(w + c), load8(bp + c)), o + c); c += 8 }
            while c < C { o[c] = (x[c] - m) * rs * w[c] + bp[c]; c += 1 }
        } else {
            while c + 8 <= C { store8((load8(x + c) - m8) * rs8 * load8(w + c), o + c); c += 8 }
            while c < C { o[c] = (x[c] - m) * rs * w[c]; c += 1 }
        }
        mean[r] = m
        rstd[r] = rs
    }
}

/// dinp (N, C) += ...;  dweight (C) += Σ norm·dout;  dbias (C) += Σ dout
public func layerNormBackward(_ dinp: FloatBuffer, _ dweight: FloatBuffer, _ dbias: FloatBuffer?,
                              _ dout: FloatBuffer, _ inp: FloatBuffer, _ weight: FloatBuffer,
                              _ mean: FloatBuffer, _ rstd: FloatBuffer, rows N: Int, C: Int) {
    precondition(dinp.count >= N * C && dout.count >= N * C && inp.count >= N * C && dweight.count >= C)
    let w = weight.ptr, dw = dweight.ptr
    let db = dbias?.ptr
    let invC = 1 / Float(C)
    for r in 0..<N {
        let x = inp.ptr + r * C, g = dout.ptr + r * C, dx = dinp.ptr + r * C
        let m8 = Float8(repeating: mean[r]), rs8 = Float8(repeating: rstd[r])
        let m = mean[r], rs = rstd[r]
        // Two reductions: mean(dnorm) and mean(dnorm · norm), where dnorm = w · dout.
        var a8 = Float8(), b8 = Float8(), c = 0
        while c + 8 <= C {
            let norm = (load8(x + c) - m8) * rs8
            let dn = load8(w + c) * load8(g + c)
            a8 += dn
            b8 = fma(dn, norm, b8)
            c += 8
        }
        var a = hsum(a8), bsum = hsum(b8)
        while c < C {
            let norm = (x[c] - m) * rs
            let dn = w[c] * g[c]
            a += dn
            bsum += dn * norm
            c += 1
        }
        let dnMean = Float8(repeating: a * invC), dnNormMean = Float8(repeating: bsum * invC)
        c = 0
        while c + 8 <= C {
            let norm = (load8(x + c) - m8) * rs8
            let gg = load8(g + c)
            if let db { store8(load8(db + c) + gg, db + c) }
            store8(fma(norm, gg, load8(dw + c)), dw + c)
            let dn = load8(w + c) * gg
            store8(fma(rs8, dn - dnMean - norm * dnNormMean, load8(dx + c)), dx + c)
            c += 8
        }
        while c < C {
            let norm = (x[c] - m) * rs
            let gg = g[c]
            if let db { db[c] += gg }
            dw[c] += norm * gg
            dx[c] += rs * (w[c] * gg - a * invC - norm * bsum * invC)
            c += 1
        }
    }
}
