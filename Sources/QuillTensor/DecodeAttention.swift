// Attention for one query row against a KV cache: the decode step's kernel (one new token per sequence, or each
// row of a prefill, which sees the positions before it). Its naive twin is Reference.decodeAttentionRow.

/// Where key channel d of position p lies in one head's keys, laid out in blocks of 32 positions, each block
/// (head size, 32): block p / 32, then channel d, then p mod 32. One block's scores read one contiguous run of
/// hs · 128 bytes, where keys transposed over the whole capacity put each channel 4 KB or more apart (a separate
/// stream per channel, out of reach of the prefetchers once the weights' stream has evicted the cache).
@inline(__always)
public func keyOffset(position p: Int, channel d: Int, headSize hs: Int) -> Int {
    (p >> 5) * (hs << 5) + (d << 5) + (p & 31)
}

/// out (hs) = Σ_j softmax(scale · q·k_j)_j v_j over the n positions j in first ..< first + n. keys: one head's keys
/// in blocks of 32 positions (keyOffset), readable up to first + n rounded up to 32; value rows `stride` apart,
/// values pointing at position `first`. att: scratch for n + 39 scores. Blocks are computed whole, or in eights in
/// the last one, and the lanes outside the n positions ignored. Both products keep their sums in registers: scores
/// 32 positions at a time, values four positions at a time (independent FMA chains).
/// On return att[0..<n] holds the softmax numerators; the returned value is 1 / their sum.
@discardableResult
public func decodeAttentionRow(out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<Float>, keys: UnsafePointer<Float>, first: Int,
                               values: UnsafePointer<Float>, stride: Int, n: Int, hs: Int,
                               scale: Float) -> Float {
    // Scores s[j] = scale · Σ_d q[d]·k_j[d], for positions from the block holding `first` on: att[p − a0].
    let a0 = first & ~31, end = first + n
    let blockFloats = hs << 5
    let s8 = Float8(repeating: scale)
    var p = a0
    while p + 32 <= end {
        var a0v = Float8(), a1 = Float8(), a2 = Float8(), a3 = Float8()
        var row = keys + (p >> 5) * blockFloats
        for d in 0..<hs {
            let qd = Float8(repeating: q[d])
            a0v = a0v.addingProduct(qd, load8(row)); a1 = a1.addingProduct(qd, load8(row + 8))
            a2 = a2.addingProduct(qd, load8(row + 16)); a3 = a3.addingProduct(qd, load8(row + 24))
            row += 32
        }
        let o = att + (p - a0)
        store8(a0v * s8, o); store8(a1 * s8, o + 8); store8(a2 * s8, o + 16); store8(a3 * s8, o + 24)
        p += 32
    }
    while p < end {  // the last block, eight positions at a time (the last eight may run past end)
        var a0v = Float8(), a1 = Float8()
        var row = keys + (p >> 5) * blockFloats + (p & 31), d = 0
        while d + 2 <= hs {
            a0v = a0v.addingProduct(Float8(repeating: q[d]), load8(row))
            a1 = a1.addingProduct(Float8(repeating: q[d + 1]), load8(row + 32))
            row += 64; d += 2
        }
        if d < hs { a0v = a0v.addingProduct(Float8(repeating: q[d]), load8(row)) }
        store8((a0v + a1) * s8, att + (p - a0))
        p += 8
    }
    if first > a0 { att.update(from: att + (first - a0), count: n) }  // a document that starts inside a block
    // Softmax numerators; the division by their sum comes last.
    let mx = rowMax(att, n)
    let mx8 = Float8(repeating: mx)
    var e8 = Float8()
    var j = 0
    while j + 8 <= n { let e = fastExp(load8(att + j) - mx8); store8(e, att + j); e8 += e; j += 8 }
    var sum = e8.sum()
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
