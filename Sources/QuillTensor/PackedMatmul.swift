// Matrix products with few rows (decode steps: one row per sequence in the batch) against weights repacked once
// into 16-column panels. OpenBLAS's sgemm repacks the whole weight matrix on every call, which at 8 to 16 rows
// costs as much as the arithmetic; these panels are packed at load and read straight through.
//
// Layout: panel p holds columns [16p, 16p + 16) of W (IC, OC) for every input channel, row after row:
// panels[p·IC·16 + i·16 + j] = W[i, 16p + j], zero past OC. A 4 x 16 register tile walks one panel.

import CBLAS

/// Weights (IC, OC) in 16-column panels, for `packedMatmulForward`.
public final class PackedWeights: @unchecked Sendable {
    public let inChannels: Int
    public let outChannels: Int
    let panels: Int
    let data: FloatBuffer

    /// Copies `weight` (IC, OC) row-major into panels. Re-pack after the weights change.
    public init(_ weight: FloatBuffer, inChannels IC: Int, outChannels OC: Int) {
        precondition(weight.count >= IC * OC, "PackedWeights: sizes")
        inChannels = IC
        outChannels = OC
        panels = (OC + 15) / 16
        data = allocateFloats(panels * IC * 16)
        for p in 0..<panels {
            let cols = min(16, OC - 16 * p)
            for i in 0..<IC {
                let dst = data.ptr + p * IC * 16 + i * 16, src = weight.ptr + i * OC + 16 * p
                dst.update(from: src, count: cols)
            }
        }
    }

    /// Bytes held by the panels.
    public var bytes: Int { data.count * MemoryLayout<Float>.size }

    deinit { freeFloats(data) }
}

/// out (N, OC) = inp (N, IC) · W + bias, with W packed. Same result as matmulForward up to summation order.
public func packedMatmulForward(_ out: FloatBuffer, _ inp: FloatBuffer, _ w: PackedWeights, _ bias: FloatBuffer?,
                                rows N: Int) {
    packedMatmulForward(out, inp, w, bias, rows: N, panels: 0..<w.panels)
}

/// Products at least this large (rows · in · out multiply-adds, about 20 µs on one core) are worth splitting over
/// the cores: below it the fork-join costs more than it saves (the small models' decode steps stay on one thread).
public let splitMinimumWork = 1 << 20

/// Chunks of a split product per worker (see packedMatmulForward(_:_:_:_:rows:workers:)).
public let chunksPerWorker = 4

/// packedMatmulForward with the panels (output columns) shared among `workers` threads, when the product is large
/// enough. Each panel is computed exactly as on one thread, so the result is bit-equal to the serial product.
/// This is what lets one sequence's decode step (a single row) stream the weights on every core.
public func packedMatmulForward(_ out: FloatBuffer, _ inp: FloatBuffer, _ w: PackedWeights, _ bias: FloatBuffer?,
                                rows N: Int, workers: Int) {
    // More chunks than workers: Dispatch hands them out as threads come free, so a core slowed by a neighbour
    // does not hold the other back at the join.
    let parts = min(workers * chunksPerWorker, w.panels)
    guard workers > 1, parts > 1, N * w.inChannels * w.outChannels >= splitMinimumWork else {
        packedMatmulForward(out, inp, w, bias, rows: N)
        return
    }
    Parallel.forEach(parts) { p in
        packedMatmulForward(out, inp, w, bias, rows: N, panels: Parallel.range(p, of: parts, total: w.panels))
    }
}

/// The panels `panels` of the product (their output columns only).
func packedMatmulForward(_ out: FloatBuffer, _ inp: FloatBuffer, _ w: PackedWeights, _ bias: FloatBuffer?,
                         rows N: Int, panels: Range<Int>) {
    let IC = w.inChannels, OC = w.outChannels
    precondition(out.count >= N * OC && inp.count >= N * IC, "packedMatmulForward: sizes")
    if let bias { precondition(bias.count >= OC) }
    let biasPtr = bias?.baseAddress
    for p in panels {
        packedPanelRows(w.data.ptr + p * IC * 16, IC: IC, OC: OC, panel: p, inp, out, rows: N, bias: biasPtr)
    }
}

/// Every row of inp times one panel (IC × 16 floats) into output columns [16p, 16p + 16) of out (N, OC).
/// Also runs the 8-bit product over a panel dequantized into floats (Quantized.swift).
@inline(__always)
func packedPanelRows(_ panel: UnsafeMutablePointer<Float>, IC: Int, OC: Int, panel p: Int, _ inp: FloatBuffer,
                     _ out: FloatBuffer, rows N: Int, bias biasPtr: UnsafeMutablePointer<Float>?) {
    let j0 = 16 * p, cols = min(16, OC - j0)
    var r = 0
    while r + 6 <= N {  // prefill: the widest tile that fits the 16 vector registers
        panelTile6(panel, IC: IC, inp.ptr + r * IC, out.ptr + r * OC + j0, ldc: OC, cols: cols,
                   bias: biasPtr.map { $0 + j0 })
        r += 6
    }
    while r + 4 <= N {
        panelTile4(panel, IC: IC, inp.ptr + r * IC, out.ptr + r * OC + j0, ldc: OC, cols: cols,
                   bias: biasPtr.map { $0 + j0 })
        r += 4
    }
    while r < N {
        panelTile1(panel, IC: IC, inp.ptr + r * IC, out.ptr + r * OC + j0, cols: cols, bias: biasPtr.map { $0 + j0 })
        r += 1
    }
}

/// Four rows of a (IC)-long input times one panel: 8 accumulators, 2 panel loads and 4 broadcasts per 8 FMAs.
@inline(__always)
private func panelTile4(_ b: UnsafeMutablePointer<Float>, IC: Int, _ a: UnsafeMutablePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    let a0 = a, a1 = a + IC, a2 = a + 2 * IC, a3 = a + 3 * IC
    var c00 = Float8(), c01 = Float8(), c10 = Float8(), c11 = Float8()
    var c20 = Float8(), c21 = Float8(), c30 = Float8(), c31 = Float8()
    var bp = b
    for k in 0..<IC {
        let b0 = load8(bp), b1 = load8(bp + 8)
        let x0 = Float8(repeating: a0[k]), x1 = Float8(repeating: a1[k])
        let x2 = Float8(repeating: a2[k]), x3 = Float8(repeating: a3[k])
        c00 = c00.addingProduct(x0, b0); c01 = c01.addingProduct(x0, b1)
        c10 = c10.addingProduct(x1, b0); c11 = c11.addingProduct(x1, b1)
        c20 = c20.addingProduct(x2, b0); c21 = c21.addingProduct(x2, b1)
        c30 = c30.addingProduct(x3, b0); c31 = c31.addingProduct(x3, b1)
        bp += 16
    }
    if cols == 16 {
        if let bias {
            let bb0 = load8(bias), bb1 = load8(bias + 8)
            c00 += bb0; c01 += bb1; c10 += bb0; c11 += bb1; c20 += bb0; c21 += bb1; c30 += bb0; c31 += bb1
        }
        store8(c00, c); store8(c01, c + 8)
        store8(c10, c + ldc); store8(c11, c + ldc + 8)
        store8(c20, c + 2 * ldc); store8(c21, c + 2 * ldc + 8)
        store8(c30, c + 3 * ldc); store8(c31, c + 3 * ldc + 8)
    } else {
        storePartial(c00, c01, c, cols: cols, bias: bias)
        storePartial(c10, c11, c + ldc, cols: cols, bias: bias)
        storePartial(c20, c21, c + 2 * ldc, cols: cols, bias: bias)
        storePartial(c30, c31, c + 3 * ldc, cols: cols, bias: bias)
    }
}

/// Six rows times one panel: 12 accumulators, 2 panel loads and 6 broadcasts per 12 FMAs (the classic 6 × 16
/// AVX2 micro-kernel shape: 12 + 2 + 1 of the 16 ymm registers).
@inline(__always)
private func panelTile6(_ b: UnsafeMutablePointer<Float>, IC: Int, _ a: UnsafeMutablePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    let a0 = a, a1 = a + IC, a2 = a + 2 * IC, a3 = a + 3 * IC, a4 = a + 4 * IC, a5 = a + 5 * IC
    var c00 = Float8(), c01 = Float8(), c10 = Float8(), c11 = Float8(), c20 = Float8(), c21 = Float8()
    var c30 = Float8(), c31 = Float8(), c40 = Float8(), c41 = Float8(), c50 = Float8(), c51 = Float8()
    var bp = b
    for k in 0..<IC {
        let b0 = load8(bp), b1 = load8(bp + 8)
        var x = Float8(repeating: a0[k]); c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
        x = Float8(repeating: a1[k]); c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
        x = Float8(repeating: a2[k]); c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
        x = Float8(repeating: a3[k]); c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
        x = Float8(repeating: a4[k]); c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
        x = Float8(repeating: a5[k]); c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1)
        bp += 16
    }
    if cols == 16 {
        if let bias {
            let bb0 = load8(bias), bb1 = load8(bias + 8)
            c00 += bb0; c01 += bb1; c10 += bb0; c11 += bb1; c20 += bb0; c21 += bb1
            c30 += bb0; c31 += bb1; c40 += bb0; c41 += bb1; c50 += bb0; c51 += bb1
        }
        store8(c00, c); store8(c01, c + 8)
        store8(c10, c + ldc); store8(c11, c + ldc + 8)
        store8(c20, c + 2 * ldc); store8(c21, c + 2 * ldc + 8)
        store8(c30, c + 3 * ldc); store8(c31, c + 3 * ldc + 8)
        store8(c40, c + 4 * ldc); store8(c41, c + 4 * ldc + 8)
        store8(c50, c + 5 * ldc); store8(c51, c + 5 * ldc + 8)
    } else {
        storePartial(c00, c01, c, cols: cols, bias: bias)
        storePartial(c10, c11, c + ldc, cols: cols, bias: bias)
        storePartial(c20, c21, c + 2 * ldc, cols: cols, bias: bias)
        storePartial(c30, c31, c + 3 * ldc, cols: cols, bias: bias)
        storePartial(c40, c41, c + 4 * ldc, cols: cols, bias: bias)
        storePartial(c50, c51, c + 5 * ldc, cols: cols, bias: bias)
    }
}

/// The first `cols` (< 16) lanes of lo ++ hi, plus bias, into c: the last panel of a width that is no multiple of 16.
@inline(never)
private func storePartial(_ lo: Float8, _ hi: Float8, _ c: UnsafeMutablePointer<Float>, cols: Int,
                          bias: UnsafeMutablePointer<Float>?) {
    for j in 0..<cols { c[j] = (j < 8 ? lo[j] : hi[j - 8]) + (bias?[j] ?? 0) }
}

/// One row times one panel, the k loop split four ways so that the FMA chains overlap.
@inline(__always)
private func panelTile1(_ b: UnsafeMutablePointer<Float>, IC: Int, _ a: UnsafeMutablePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    var s0 = Float8(), s1 = Float8(), t0 = Float8(), t1 = Float8()
    var u0 = Float8(), u1 = Float8(), v0 = Float8(), v1 = Float8()
    var k = 0, bp = b
    while k + 4 <= IC {
        // One row reads each weight once: ask for the lines 4 KB ahead (4 of the 64-byte rows of this step).
        quill_prefetch(bp + 1024); quill_prefetch(bp + 1040); quill_prefetch(bp + 1056); quill_prefetch(bp + 1072)
        let x0 = Float8(repeating: a[k]), x1 = Float8(repeating: a[k + 1])
        let x2 = Float8(repeating: a[k + 2]), x3 = Float8(repeating: a[k + 3])
        s0 = s0.addingProduct(x0, load8(bp)); s1 = s1.addingProduct(x0, load8(bp + 8))
        t0 = t0.addingProduct(x1, load8(bp + 16)); t1 = t1.addingProduct(x1, load8(bp + 24))
        u0 = u0.addingProduct(x2, load8(bp + 32)); u1 = u1.addingProduct(x2, load8(bp + 40))
        v0 = v0.addingProduct(x3, load8(bp + 48)); v1 = v1.addingProduct(x3, load8(bp + 56))
        k += 4; bp += 64
    }
    while k < IC {
        let x = Float8(repeating: a[k])
        s0 = s0.addingProduct(x, load8(bp)); s1 = s1.addingProduct(x, load8(bp + 8))
        k += 1; bp += 16
    }
    let lo = (s0 + t0) + (u0 + v0), hi = (s1 + t1) + (u1 + v1)
    if cols == 16 {
        if let bias { store8(lo + load8(bias), c); store8(hi + load8(bias + 8), c + 8) }
        else { store8(lo, c); store8(hi, c + 8) }
    } else {
        storePartial(lo, hi, c, cols: cols, bias: bias)
    }
}
