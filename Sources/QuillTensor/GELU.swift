// GELU with GPT-2's tanh approximation, forward and backward:
// gelu(x) = 0.5 x (1 + tanh(u)), u = √(2/π) (x + 0.044715 x³).
// Computed through the identity 0.5 (1 + tanh(u)) = σ(2u) = 1 / (1 + e^{-2u}): one exp and one division, and
// it saturates correctly at both ends without special cases.

let geluScale: Float = 0.797_884_56  // √(2/π)

/// out (N) = gelu(inp);  sigmoid (N), when given, saves σ(2u) so that the backward pass needs no exp.
public func geluForward(_ out: FloatBuffer, _ inp: FloatBuffer, count N: Int, sigmoid: FloatBuffer? = nil) {
    precondition(out.count >= N && inp.count >= N && (sigmoid?.count ?? N) >= N)
    let k2 = Float8(repeating: -2 * geluScale), c3 = Float8(repeating: 0.044_715)
    let sp = sigmoid?.ptr
    var i = 0
    // Two loops, so that neither tests for the saved σ per vector.
    if let sp {
        while i + 8 <= N {
            let x = load8(inp.ptr + i)
            let s = 1 / (1 + fastExp(k2 * fma(c3 * x, x * x, x)))  // σ(2u) = 1 / (1 + e^{-2u})
            store8(x * s, out.ptr + i)
            store8(s, sp + i)
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
        sp?[i] = s
        i += 1
    }
}

/// dinp (N) += gelu'(inp) · dout  (= with overwrite), where gelu'(x) = s + 2 x s (1 - s) u'(x), s = σ(2u).
/// sigmoid: the σ(2u) saved by the forward pass, or nil to recompute it.
public func geluBackward(_ dinp: FloatBuffer, _ inp: FloatBuffer, _ dout: FloatBuffer, count N: Int,
                         sigmoid: FloatBuffer? = nil, overwrite: Bool = false) {
    precondition(dinp.count >= N && inp.count >= N && dout.count >= N && (sigmoid?.count ?? N) >= N)
    let sp = sigmoid?.ptr
    let k2 = Float8(repeating: -2 * geluScale), c3 = Float8(repeating: 0.044_715)
    let du = Float8(repeating: 2 * geluScale), c33 = Float8(repeating: 3 * 0.044_715)
    var i = 0
    while i + 8 <= N {
        let x = load8(inp.ptr + i)
        let x2 = x * x
        let s = sp.map { load8($0 + i) } ?? 1 / (1 + fastExp(k2 * fma(c3 * x, x2, x)))
        // 2 u'(x) = 2√(2/π) (1 + 3·0.044715 x²)
        let local = fma(x * s * (1 - s), du * fma(c33, x2, Float8(repeating: 1)), s)
        let g = local * load8(dout.ptr + i)
        store8(overwrite ? g : g + load8(dinp.ptr + i), dinp.ptr + i)
        i += 8
    }
    while i < N {
        let x = inp[i]
        let s = sp?[i] ?? 1 / (1 + fastExp(-2 * geluScale * (x + 0.044_715 * x * x * x)))
        let local = s + x * s * (1 - s) * 2 * geluScale * (1 + 3 * 0.044_715 * x * x)
        dinp[i] = (overwrite ? 0 : dinp[i]) + local * dout[i]
        i += 1
    }
}
