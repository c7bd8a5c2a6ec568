// GELU with GPT-2's tanh approximation, forward and backward:
// gelu(x) = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))).

let geluScale: Float = 0.797_884_56  // √(2/π)

/// out (N) = gelu(inp)
public func geluForward(_ out: FloatBuffer, _ inp: FloatBuffer, count N: Int) {
    precondition(out.count >= N && inp.count >= N)
    let k = Float8(repeating: geluScale), c3 = Float8(repeating: 0.044_715)
    var i = 0
    while i + 8 <= N {
        let x = load8(inp.ptr + i)
        let u = k * fma(c3 * x, x * x, x)
        store8(0.5 * x * (1 + fastTanh(u)), out.ptr + i)
        i += 8
    }
    while i < N {
        let x = inp[i]
        out[i] = 0.5 * x * (1 + fastTanh(geluScale * (x + 0.044_715 * x * x * x)))
        i += 1
    }
}

/// dinp (N) += gelu'(inp) · dout
public func geluBackward(_ dinp: FloatBuffer, _ inp: FloatBuffer, _ dout: FloatBuffer, count N: Int) {
    precondition(dinp.count >= N && inp.count >= N && dout.count >= N)
    let k = Float8(repeating: geluScale), c3 = Float8(repeating: 0.044_715)
    var i = 0
    while i + 8 <= N {
        let x = load8(inp.ptr + i)
        let x2 = x * x
        let th = fastTanh(k * fma(c3 * x, x2, x))
        let sech2 = 1 - th * th
        let local = 0.5 * (1 + th) + 0.5 * x * sech2 * k * fma(3 * c3, x2, Float8(repeating: 1))
        store8(fma(local, load8(dout.ptr + i), load8(dinp.ptr + i)), dinp.ptr + i)
        i += 8
    }
    while i < N {
        let x = inp[i]
        let th = fastTanh(geluScale * (x + 0.044_715 * x * x * x))
        let local = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * geluScale * (1 + 3 * 0.044_715 * x * x)
        dinp[i] += local * dout[i]
        i += 1
    }
}
