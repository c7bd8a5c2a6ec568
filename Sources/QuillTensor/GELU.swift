// GELU with GPT-2's tanh approximation, forward and backward:
// gelu(x) = 0.5 x (1 + tanh(u)), u = √(2/π) (x + 0.044715 x³).
// Computed through the identity 0.5 (1 + tanh(u)) = σ(2u) = 1 / (1 + e^{-2u}): one exp and one division, and
// it saturates correctly at both ends without special cases.

let geluScale: Float = 0.797_884_56  // √(2/π)

/// out (N) = gelu(inp);  derivative (N), when given, saves gelu'(inp), so that the backward pass is one product
/// (geluBackward(_:derivative:_:count:overwrite:)) and needs neither the input nor an exp. Training keeps only
/// these two per layer: the matrix product's output can then be scratch shared by every layer.
public func geluForward(_ out: FloatBuffer, _ inp: FloatBuffer, count N: Int, derivative: FloatBuffer? = nil) {
    precondition(out.count >= N && inp.count >= N && (derivative?.count ?? N) >= N)
    let k2 = Float8(repeating: -2 * geluScale), c3 = Float8(repeating: 0.044_715)
    let du = Float8(repeating: 2 * geluScale), c33 = Float8(repeating: 3 * 0.044_715), one = Float8(repeating: 1)
    var i = 0
    // Two loops, so that neither tests for the saved derivative per vector.
    if let dp = derivative?.ptr {
        while i + 8 <= N {
            let x = load8(inp.ptr + i)
            let x2 = x * x
            let s = 1 / (1 + fastExp(k2 * fma(c3 * x, x2, x)))  // σ(2u) = 1 / (1 + e^{-2u})
            store8(x * s, out.ptr + i)
            // gelu'(x) = s + x s (1 - s) · 2u'(x), 2u'(x) = 2√(2/π) (1 + 3·0.044715 x²)
            store8(fma(x * s * (1 - s), du * fma(c33, x2, one), s), dp + i)
            i += 8
        }
    } else {
        while i + 8 <= N {
            let x = load8(inp.ptr + i)
            let s = 1 / (1 + fastExp(k2 * fma(c3 * x, x * x, x)))
            store8(x * s, out.ptr + i)
            i += 8
        }
    }
    while i < N {
        let x = inp[i]
        let s = 1 / (1 + fastExp(-2 * geluScale * (x + 0.044_715 * x * x * x)))
        out[i] = x * s
        derivative?[i] = s + x * s * (1 - s) * 2 * geluScale * (1 + 3 * 0.044_715 * x * x)
        i += 1
    }
}

/// dinp (N) += gelu'(inp) · dout  (= with overwrite), where gelu'(x) = s + 2 x s (1 - s) u'(x), s = σ(2u).
public func geluBackward(_ dinp: FloatBuffer, _ inp: FloatBuffer, _ dout: FloatBuffer, count N: Int,
                         overwrite: Bool = false) {
    precondition(dinp.count >= N && inp.count >= N && dout.count >= N)
    let k2 = Float8(repeating: -2 * geluScale), c3 = Float8(repeating: 0.044_715)
    let du = Float8(repeating: 2 * geluScale), c33 = Float8(repeating: 3 * 0.044_715)
    var i = 0
    while i + 8 <= N {
        let x = load8(inp.ptr + i)
        let x2 = x * x
        let s = 1 / (1 + fastExp(k2 * fma(c3 * x, x2, x)))
        let local = fma(x * s * (1 - s), du * fma(c33, x2, Float8(repeating: 1)), s)
        let g = local * load8(dout.ptr + i)
        store8(overwrite ? g : g + load8(dinp.ptr + i), dinp.ptr + i)
        i += 8
    }
    while i < N {
        let x = inp[i]
        let s = 1 / (1 + fastExp(-2 * geluScale * (x + 0.044_715 * x * x * x)))
        let local = s + x * s * (1 - s) * 2 * geluScale * (1 + 3 * 0.044_715 * x * x)
        dinp[i] = (overwrite ? 0 : dinp[i]) + local * dout[i]
        i += 1
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
