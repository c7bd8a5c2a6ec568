// Attention for one query row against a KV cache: the decode step's kernel (one new token per sequence, or each
// row of a prefill, which sees the positions before it). Its naive twin is Reference.decodeAttentionRow.

/// out (hs) = Σ_j softmax(scale · q·k_j)_j v_j over j in 0..<n. Keys transposed: k_j[d] = keysT[d·keyStride + j];
/// value rows `stride` apart. att: scratch for n scores rounded up to 8. Key rows must be readable up to n rounded up
/// to 8 (KVCache.stride): the last block of scores is computed whole and its extra lanes ignored. Both products keep
/// their sums in registers: scores 32 positions at a time, values four positions at a time (independent FMA chains).
/// On return att[0..<n] holds the softmax numerators; the returned value is 1 / their sum.
@discardableResult
public func decodeAttentionRow(out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>,
                               q: UnsafeMutablePointer<Float>, keysT: UnsafeMutablePointer<Float>, keyStride: Int,
                               values: UnsafeMutablePointer<Float>, stride: Int, n: Int, hs: Int,
                               scale: Float) -> Float {
    // Scores s[j] = scale · Σ_d q[d]·kᵀ[d][j].
    var j = 0
    while j + 32 <= n {
        var a0 = Float8(), a1 = Float8(), a2 = Float8(), a3 = Float8()
        var row = keysT + j
        for d in 0..<hs {
            let qd = Float8(repeating: q[d])
            a0 = a0.addingProduct(qd, load8(row)); a1 = a1.addingProduct(qd, load8(row + 8))
            a2 = a2.addingProduct(qd, load8(row + 16)); a3 = a3.addingProduct(qd, load8(row + 24))
            row += keyStride
        }
        let s8 = Float8(repeating: scale)
        store8(a0 * s8, att + j); store8(a1 * s8, att + j + 8); store8(a2 * s8, att + j + 16); store8(a3 * s8, att + j + 24)
        j += 32
    }
    while j < n {  // the last block may run past n into the padding
        var a0 = Float8(), a1 = Float8()
        var row = keysT + j, d = 0
        while d + 2 <= hs {
            a0 = a0.addingProduct(Float8(repeating: q[d]), load8(row))
            a1 = a1.addingProduct(Float8(repeating: q[d + 1]), load8(row + keyStride))
            row += 2 * keyStride; d += 2
        }
        if d < hs { a0 = a0.addingProduct(Float8(repeating: q[d]), load8(row)) }
        store8((a0 + a1) * Float8(repeating: scale), att + j)
        j += 8
    }
    // Softmax numerators; the division by their sum comes last.
    let mx = rowMax(att, n)
    let mx8 = Float8(repeating: mx)
    var s8 = Float8()
    j = 0
    while j + 8 <= n { let e = fastExp(load8(att + j) - mx8); store8(e, att + j); s8 += e; j += 8 }
    var sum = s8.sum()
    while j < n { let e = fastExp(att[j] - mx); att[j] = e; sum += e; j += 1 }
    let inv = 1 / sum
    // out = Σ_j p_j v_j, 16 channels at a time (each value row read once when hs is 16), positions in fours.
    var i = 0
    while i + 16 <= hs {
        var c0 = Float8(), c1 = Float8(), c2 = Float8(), c3 = Float8()
        var d0 = Float8(), d1 = Float8(), d2 = Float8(), d3 = Float8()
        var vp = values + i
        j = 0
        while j + 4 <= n {
            let p0 = Float8(repeating: att[j]), p1 = Float8(repeating: att[j + 1])
            let p2 = Float8(repeating: att[j + 2]), p3 = Float8(repeating: att[j + 3])
            c0 = c0.addingProduct(p0, load8(vp)); d0 = d0.addingProduct(p0, load8(vp + 8))
            c1 = c1.addingProduct(p1, load8(vp + stride)); d1 = d1.addingProduct(p1, load8(vp + stride + 8))
            c2 = c2.addingProduct(p2, load8(vp + 2 * stride)); d2 = d2.addingProduct(p2, load8(vp + 2 * stride + 8))
            c3 = c3.addingProduct(p3, load8(vp + 3 * stride)); d3 = d3.addingProduct(p3, load8(vp + 3 * stride + 8))
            vp += 4 * stride; j += 4
        }
        while j < n {
            let p0 = Float8(repeating: att[j])
            c0 = c0.addingProduct(p0, load8(vp)); d0 = d0.addingProduct(p0, load8(vp + 8))
            vp += stride; j += 1
        }
        let inv8 = Float8(repeating: inv)
        store8(((c0 + c1) + (c2 + c3)) * inv8, out + i)
        store8(((d0 + d1) + (d2 + d3)) * inv8, out + i + 8)
        i += 16
    }
    while i + 8 <= hs {
        var c0 = Float8(), c1 = Float8(), c2 = Float8(), c3 = Float8()
        var vp = values + i
        j = 0
        while j + 4 <= n {
            c0 = c0.addingProduct(Float8(repeating: att[j]), load8(vp))
            c1 = c1.addingProduct(Float8(repeating: att[j + 1]), load8(vp + stride))
            c2 = c2.addingProduct(Float8(repeating: att[j + 2]), load8(vp + 2 * stride))
            c3 = c3.addingProduct(Float8(repeating: att[j + 3]), load8(vp + 3 * stride))
            vp += 4 * stride; j += 4
        }
        while j < n { c0 = c0.addingProduct(Float8(repeating: att[j]), load8(vp)); vp += stride; j += 1 }
        store8(((c0 + c1) + (c2 + c3)) * Float8(repeating: inv), out + i)
        i += 8
    }
    while i < hs {
        var acc: Float = 0
        for j in 0..<n { acc += att[j] * values[j * stride + i] }
        out[i] = acc * inv
        i += 1
    }
    return inv
}
