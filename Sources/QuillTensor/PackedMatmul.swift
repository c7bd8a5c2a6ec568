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
    forEachPanelRange(panels: w.panels, work: N * w.inChannels * w.outChannels, workers: workers) { range in
        packedMatmulForward(out, inp, w, bias, rows: N, panels: range)
    }
}

/// Runs `body` over ranges of `panels` that together cover them: on this thread when the product (`work`
/// multiply-adds) is below `splitMinimumWork` or there is one worker, else in `chunksPerWorker` chunks per worker.
/// More chunks than workers: Dispatch hands them out as threads come free, so a core slowed by a neighbour does
/// not hold the other back at the join. Used by the f32 and the 8-bit products alike.
func forEachPanelRange(panels: Int, work: Int, workers: Int, _ body: (Range<Int>) -> Void) {
    let parts = min(workers * chunksPerWorker, panels)
    guard workers > 1, parts > 1, work >= splitMinimumWork else {
        body(0..<panels)
        return
    }
    Parallel.forEach(parts) { p in body(Parallel.range(p, of: parts, total: panels)) }
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

// The tiles work on whole 16-float panel rows (`Float16x`): two ymm registers each on AVX2, one zmm register where
// the kernels are compiled for AVX-512 (Package.swift's QUILL_TARGET_CPU).

/// Four rows of a (IC)-long input times one panel: 4 accumulators, 1 panel row and 4 broadcasts per 4 FMAs.
@inline(__always)
private func panelTile4(_ b: UnsafeMutablePointer<Float>, IC: Int, _ a: UnsafeMutablePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    let a0 = a, a1 = a + IC, a2 = a + 2 * IC, a3 = a + 3 * IC
    var c0 = Float16x(), c1 = Float16x(), c2 = Float16x(), c3 = Float16x()
    var bp = b
    for k in 0..<IC {
        let w = load16(bp)
        c0 = c0.addingProduct(Float16x(repeating: a0[k]), w)
        c1 = c1.addingProduct(Float16x(repeating: a1[k]), w)
        c2 = c2.addingProduct(Float16x(repeating: a2[k]), w)
        c3 = c3.addingProduct(Float16x(repeating: a3[k]), w)
        bp += 16
    }
    storeRow(c0, c, cols: cols, bias: bias)
    storeRow(c1, c + ldc, cols: cols, bias: bias)
    storeRow(c2, c + 2 * ldc, cols: cols, bias: bias)
    storeRow(c3, c + 3 * ldc, cols: cols, bias: bias)
}

/// Six rows times one panel: 6 accumulators, 1 panel row and 6 broadcasts per 6 FMAs (on AVX2 the classic 6 × 16
/// micro-kernel shape: 12 + 2 + 1 of the 16 ymm registers).
@inline(__always)
private func panelTile6(_ b: UnsafeMutablePointer<Float>, IC: Int, _ a: UnsafeMutablePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    let a0 = a, a1 = a + IC, a2 = a + 2 * IC, a3 = a + 3 * IC, a4 = a + 4 * IC, a5 = a + 5 * IC
    var c0 = Float16x(), c1 = Float16x(), c2 = Float16x(), c3 = Float16x(), c4 = Float16x(), c5 = Float16x()
    var bp = b
    for k in 0..<IC {
        let w = load16(bp)
        c0 = c0.addingProduct(Float16x(repeating: a0[k]), w)
        c1 = c1.addingProduct(Float16x(repeating: a1[k]), w)
        c2 = c2.addingProduct(Float16x(repeating: a2[k]), w)
        c3 = c3.addingProduct(Float16x(repeating: a3[k]), w)
        c4 = c4.addingProduct(Float16x(repeating: a4[k]), w)
        c5 = c5.addingProduct(Float16x(repeating: a5[k]), w)
        bp += 16
    }
    storeRow(c0, c, cols: cols, bias: bias)
    storeRow(c1, c + ldc, cols: cols, bias: bias)
    storeRow(c2, c + 2 * ldc, cols: cols, bias: bias)
    storeRow(c3, c + 3 * ldc, cols: cols, bias: bias)
    storeRow(c4, c + 4 * ldc, cols: cols, bias: bias)
    storeRow(c5, c + 5 * ldc, cols: cols, bias: bias)
}

/// One output row of a panel, plus bias: all 16 lanes, or the first `cols` of the last panel of a width that is no
/// multiple of 16.
@inline(__always)
func storeRow(_ v: Float16x, _ c: UnsafeMutablePointer<Float>, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    if cols == 16 {
        store16(bias.map { v + load16($0) } ?? v, c)
    } else {
        storePartial(v, c, cols: cols, bias: bias)
    }
}

@inline(never)
private func storePartial(_ v: Float16x, _ c: UnsafeMutablePointer<Float>, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    for j in 0..<cols { c[j] = v[j] + (bias?[j] ?? 0) }
}

/// One row times one panel, the k loop split four ways so that the FMA chains overlap.
@inline(__always)
private func panelTile1(_ b: UnsafeMutablePointer<Float>, IC: Int, _ a: UnsafeMutablePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    var s = Float16x(), t = Float16x(), u = Float16x(), v = Float16x()
    var k = 0, bp = b
    while k + 4 <= IC {
        // One row reads each weight once: ask for the lines 4 KB ahead (the 4 panel rows of this step).
        quill_prefetch(bp + 1024); quill_prefetch(bp + 1040); quill_prefetch(bp + 1056); quill_prefetch(bp + 1072)
        s = s.addingProduct(Float16x(repeating: a[k]), load16(bp))
        t = t.addingProduct(Float16x(repeating: a[k + 1]), load16(bp + 16))
        u = u.addingProduct(Float16x(repeating: a[k + 2]), load16(bp + 32))
        v = v.addingProduct(Float16x(repeating: a[k + 3]), load16(bp + 48))
        k += 4; bp += 64
    }
    while k < IC {
        s = s.addingProduct(Float16x(repeating: a[k]), load16(bp))
        k += 1; bp += 16
    }
    storeRow((s + t) + (u + v), c, cols: cols, bias: bias)
}
