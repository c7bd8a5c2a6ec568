// GELU with GPT-2's tanh approximation, forward and backward:
// gelu(x) = 0.5 x (1 + tanh(u)), u = √(2/π) (x + 0.044715 x³).
// Computed through the identity 0.5 (1 + tanh(u)) = σ(2u) = 1 / (1 + e^{-2u}): one exp and one division, and
// it saturates correctly at both ends without special cases.

let geluScale: Float = 0.797_884_56  // √(2/π)

/// gelu(x) and gelu'(x) for 8 lanes: s = σ(2u) = 1 / (1 + e^{-2u}), gelu = x s, gelu' = s + x s (1 - s) · 2u'(x) with
/// 2u'(x) = 2√(2/π) (1 + 3·0.044715 x²). The forward and both backwards all go through it, lane by lane, so the
/// gelu' that geluForward saves is the one geluBackward would compute from the input, float for float.
@inline(__always) func geluWithDerivative(_ x: Float8) -> (gelu: Float8, derivative: Float8) {
    let x2 = x * x
    let s = 1 / (1 + fastExp(Float8(repeating: -2 * geluScale) * fma(Float8(repeating: 0.044_715) * x, x2, x)))
    let d = fma(x * s * (1 - s), Float8(repeating: 2 * geluScale) * fma(Float8(repeating: 3 * 0.044_715), x2,
                                                                       Float8(repeating: 1)), s)
    return (x * s, d)
}

/// out (N) = gelu(inp);  derivative (N), when given, saves gelu'(inp), so that the backward pass is one product
/// (geluBackward(_:derivative:_:count:overwrite:)) and needs neither the input nor an exp. Training keeps only
/// these two per layer: the matrix product's output can then be scratch shared by every layer.
/// Every element goes through the 8-lane formula, the last few too (in a zero-padded vector), so that what an
/// element gets does not depend on where a call's range starts or ends.
public func geluForward(_ out: FloatBuffer, _ inp: FloatBuffer, count N: Int, derivative: FloatBuffer? = nil) {
    precondition(out.count >= N && inp.count >= N && (derivative?.count ?? N) >= N)
    let out = out.ptr, inp = inp.ptr, dp = derivative?.ptr
    var i = 0
    // Two loops, so that neither tests for the saved derivative per vector.
    if let dp {
        while i + 8 <= N {
            let (g, d) = geluWithDerivative(load8(inp + i))
            store8(g, out + i)
            store8(d, dp + i)
            i += 8
        }
    } else {
        while i + 8 <= N {
            store8(geluWithDerivative(load8(inp + i)).gelu, out + i)
            i += 8
        }
    }
    guard i < N else { return }
    var x = Float8()
    for l in 0..<(N - i) { x[l] = inp[i + l] }
    let (g, d) = geluWithDerivative(x)
    for l in 0..<(N - i) {
        out[i + l] = g[l]
        dp?[i + l] = d[l]
    }
}

/// dinp (N) += gelu'(inp) · dout  (= with overwrite), gelu' as geluWithDerivative computes it.
public func geluBackward(_ dinp: FloatBuffer, _ inp: FloatBuffer, _ dout: FloatBuffer, count N: Int,
                         overwrite: Bool = false) {
    precondition(dinp.count >= N && inp.count >= N && dout.count >= N)
    let d = dinp.ptr, x = inp.ptr, o = dout.ptr
    var i = 0
    while i + 8 <= N {
        let g = geluWithDerivative(load8(x + i)).derivative * load8(o + i)
        store8(overwrite ? g : g + load8(d + i), d + i)
        i += 8
    }
    guard i < N else { return }
    var xv = Float8()
    for l in 0..<(N - i) { xv[l] = x[i + l] }
    let local = geluWithDerivative(xv).derivative
    for l in 0..<(N - i) {
        let g = local[l] * o[i + l]
        d[i + l] = overwrite ? g : g + d[i + l]
    }
}

/// dinp (N) += derivative · dout  (= with overwrite), with the gelu'(x) that geluForward(…, derivative:) saved: the
/// same floats as geluBackward(_:_:_:count:overwrite:) computes from the input.
public func geluBackward(_ dinp: FloatBuffer, derivative: FloatBuffer, _ dout: FloatBuffer, count N: Int,
                         overwrite: Bool = false) {
    precondition(dinp.count >= N && derivative.count >= N && dout.count >= N)
    let d = dinp.ptr, g = derivative.ptr, o = dout.ptr
    var i = 0
    if overwrite {
        while i + 8 <= N { store8(load8(g + i) * load8(o + i), d + i); i += 8 }
        while i < N { d[i] = g[i] * o[i]; i += 1 }
    } else {
        while i + 8 <= N { store8(load8(g + i) * load8(o + i) + load8(d + i), d + i); i += 8 }
        while i < N { d[i] = g[i] * o[i] + d[i]; i += 1 }
    }
}
