// Matrix products with few rows (decode steps: one row per sequence in the batch) against weights repacked once
// into 16-column panels. OpenBLAS's sgemm repacks the whole weight matrix on every call, which at 8 to 16 rows
// costs as much as the arithmetic; these panels are packed at load and read straight through.
//
// Layout: panel p holds columns [16p, 16p + 16) of W (IC, OC) for every input channel, row after row:
// panels[p·IC·16 + i·16 + j] = W[i, 16p + j], zero past OC. Register tiles of 1, 4 or 6 rows walk one panel (AVX2);
// with AVX-512, tiles of 8 rows walk one panel or two adjacent panels at once.

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
/// multiply-adds) is below `splitMinimumWork` or there is one worker, else in guided chunks of at least
/// `minimumChunkWork` (Parallel.forEachGuided): large ones first, then smaller ones as the panels run out, handed out
/// as threads come free, so a core slowed by a neighbour does not hold the other back at the join. Used by the f32
/// and the 8-bit products alike.
func forEachPanelRange(panels: Int, work: Int, workers: Int, _ body: (Range<Int>) -> Void) {
    guard workers > 1, panels > 1, work >= splitMinimumWork else {
        body(0..<panels)
        return
    }
    let perPanel = max(1, work / panels)
    Parallel.forEachGuided(panels, minimum: minimumChunkWork / perPanel, workers: workers, body)
}

/// The smallest chunk a split product hands out, in multiply-adds: 64 KB of 8-bit weights for one row (about 2 µs),
/// so that the join waits at most that long, and a chunk's hand-off and its prefetch start (a fraction of a
/// microsecond) stay small beside it.
public let minimumChunkWork = 1 << 16

/// The panels `panels` of the product (their output columns only).
func packedMatmulForward(_ out: FloatBuffer, _ inp: FloatBuffer, _ w: PackedWeights, _ bias: FloatBuffer?,
                         rows N: Int, panels: Range<Int>) {
    let IC = w.inChannels, OC = w.outChannels
    precondition(out.count >= N * OC && inp.count >= N * IC, "packedMatmulForward: sizes")
    if let bias { precondition(bias.count >= OC) }
    let biasPtr = bias?.baseAddress
    var p = panels.lowerBound
    while p < panels.upperBound {
        let pair = panelPairs && p + 1 < panels.upperBound
        packedPanelRows(w.data.ptr + p * IC * 16, pair ? w.data.ptr + (p + 1) * IC * 16 : nil, IC: IC, OC: OC,
                        panel: p, inp, out, rows: N, bias: biasPtr)
        p += pair ? 2 : 1
    }
}

/// Whether products walk the panels two at a time (`packedPanelRows` with a `next` panel): where AVX-512's 32
/// registers hold an 8-row × 32-column tile, which loads 10 vectors per 16 FMAs where one panel's 8-row tile loads
/// 9 per 8 (prefill, and batches of 8 or more, are then bound by the FMAs rather than by the loads).
#if QUILL_AVX512
let panelPairs = true
#else
let panelPairs = false
#endif

/// Every row of inp times one panel (IC × 16 floats) into output columns [16p, 16p + 16) of out (N, OC), and times
/// the panel after it (`next`, columns [16p + 16, 16p + 32)) when given. Also runs the 8-bit product over panels
/// dequantized into floats (Quantized.swift).
@inline(__always)
func packedPanelRows(_ panel: UnsafeMutablePointer<Float>, _ next: UnsafeMutablePointer<Float>?, IC: Int, OC: Int,
                     panel p: Int, _ inp: FloatBuffer, _ out: FloatBuffer, rows N: Int,
                     bias biasPtr: UnsafeMutablePointer<Float>?) {
    let j0 = 16 * p, cols = min(16, OC - j0), nextCols = min(16, OC - j0 - 16)
    let a = inp.ptr, c = out.ptr + j0, bias = biasPtr.map { $0 + j0 }
    var r = 0
    #if QUILL_AVX512
    if let next {
        while r + 8 <= N {
            panelPairTile8(panel, next, lda: IC, k: IC, a + r * IC, c + r * OC, ldc: OC, cols: nextCols, bias: bias)
            r += 8
        }
    }
    #endif
    panelRowTiles(panel, lda: IC, k: IC, a, c, ldc: OC, cols: cols, bias: bias, rows: r..<N)
    if let next {
        panelRowTiles(next, lda: IC, k: IC, a, c + 16, ldc: OC, cols: nextCols, bias: bias.map { $0 + 16 }, rows: r..<N)
    }
}

/// Rows `rows` of a (rows lda apart) times one panel slice of `k` rows, into c (rows ldc apart), in the widest
/// tiles that fit.
@inline(__always)
private func panelRowTiles(_ b: UnsafeMutablePointer<Float>, lda: Int, k kc: Int, _ a: UnsafeMutablePointer<Float>,
                           _ c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, bias: UnsafeMutablePointer<Float>?,
                           rows: Range<Int>) {
    var r = rows.lowerBound
    let N = rows.upperBound
    #if QUILL_AVX512
    while r + 8 <= N {  // AVX-512's 32 registers hold 8 rows of a panel: one pass for a batch of 8
        panelTile8(b, lda: lda, k: kc, a + r * lda, c + r * ldc, ldc: ldc, cols: cols, bias: bias)
        r += 8
    }
    #endif
    // 6-row tiles (prefill: the widest tile that fits AVX2's 16 vector registers), except that 8 rows left (a batch
    // of 8 sequences) run as two 4-row tiles rather than 6 + 1 + 1: one pass over the panel fewer.
    while r + 6 <= N && N - r != 8 {
        panelTile6(b, lda: lda, k: kc, a + r * lda, c + r * ldc, ldc: ldc, cols: cols, bias: bias)
        r += 6
    }
    while r + 4 <= N {
        panelTile4(b, lda: lda, k: kc, a + r * lda, c + r * ldc, ldc: ldc, cols: cols, bias: bias)
        r += 4
    }
    while r < N {
        panelTile1(b, k: kc, a + r * lda, c + r * ldc, cols: cols, bias: bias)
        r += 1
    }
}

// The tiles work on whole 16-float panel rows (`Float16x`): two ymm registers each on AVX2, one zmm register where
// the kernels are compiled for AVX-512 (Package.swift's QUILL_TARGET_CPU). Each runs over `k` input channels: the
// rows of `a` are `lda` apart, the panel rows 16 floats apart.

/// Four rows of the input times one panel: 4 accumulators, 1 panel row and 4 broadcasts per 4 FMAs.
@inline(__always)
private func panelTile4(_ b: UnsafeMutablePointer<Float>, lda: Int, k K: Int, _ a: UnsafeMutablePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    let (c0, c1, c2, c3) = fourRowsTimesPanel(K: K, a, rs: lda, ks: 1, b)
    storeRow(c0, c, cols: cols, bias: bias)
    storeRow(c1, c + ldc, cols: cols, bias: bias)
    storeRow(c2, c + 2 * ldc, cols: cols, bias: bias)
    storeRow(c3, c + 3 * ldc, cols: cols, bias: bias)
}

/// Six rows times one panel: 6 accumulators, 1 panel row and 6 broadcasts per 6 FMAs (on AVX2 the classic 6 × 16
/// micro-kernel shape: 12 + 2 + 1 of the 16 ymm registers).
@inline(__always)
private func panelTile6(_ b: UnsafeMutablePointer<Float>, lda: Int, k K: Int, _ a: UnsafeMutablePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda
    var c0 = Float16x(), c1 = Float16x(), c2 = Float16x(), c3 = Float16x(), c4 = Float16x(), c5 = Float16x()
    var bp = b
    for k in 0..<K {
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

#if QUILL_AVX512
/// How far ahead the 8-row tiles ask for their panels' lines, into L2: 12 KB, about 0.5 µs of reading. An 8-row
/// tile does 8 or 16 FMAs per 64-byte line, too many for the core to keep enough misses in flight by itself (the LM
/// head's tiles, head_dot.c, read 10 GB/s without such prefetches and 20–24 with them on a Zen 4 core). A hint: past
/// a panel's end it touches the next panel, or nothing.
let panelPrefetchFloats = 3072

/// Eight rows times one panel, where a panel row is one zmm register: 8 accumulators, 1 panel row and 8 broadcasts
/// per 8 FMAs (10 of the 32 registers). On AVX2 it would need 18 of 16.
@inline(__always)
private func panelTile8(_ b: UnsafeMutablePointer<Float>, lda: Int, k K: Int, _ a: UnsafeMutablePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda
    let a4 = a + 4 * lda, a5 = a + 5 * lda, a6 = a + 6 * lda, a7 = a + 7 * lda
    var c0 = Float16x(), c1 = Float16x(), c2 = Float16x(), c3 = Float16x()
    var c4 = Float16x(), c5 = Float16x(), c6 = Float16x(), c7 = Float16x()
    var bp = b
    for k in 0..<K {
        quill_prefetch_l2(bp + panelPrefetchFloats)
        let w = load16(bp)
        c0 = c0.addingProduct(Float16x(repeating: a0[k]), w)
        c1 = c1.addingProduct(Float16x(repeating: a1[k]), w)
        c2 = c2.addingProduct(Float16x(repeating: a2[k]), w)
        c3 = c3.addingProduct(Float16x(repeating: a3[k]), w)
        c4 = c4.addingProduct(Float16x(repeating: a4[k]), w)
        c5 = c5.addingProduct(Float16x(repeating: a5[k]), w)
        c6 = c6.addingProduct(Float16x(repeating: a6[k]), w)
        c7 = c7.addingProduct(Float16x(repeating: a7[k]), w)
        bp += 16
    }
    storeRow(c0, c, cols: cols, bias: bias)
    storeRow(c1, c + ldc, cols: cols, bias: bias)
    storeRow(c2, c + 2 * ldc, cols: cols, bias: bias)
    storeRow(c3, c + 3 * ldc, cols: cols, bias: bias)
    storeRow(c4, c + 4 * ldc, cols: cols, bias: bias)
    storeRow(c5, c + 5 * ldc, cols: cols, bias: bias)
    storeRow(c6, c + 6 * ldc, cols: cols, bias: bias)
    storeRow(c7, c + 7 * ldc, cols: cols, bias: bias)
}
#endif

#if QUILL_AVX512
/// Eight rows times two adjacent panels (32 output columns, the first panel whole, the second `cols` wide): 16
/// accumulators, 2 panel rows and 8 broadcasts per 16 FMAs (26 of the 32 registers).
@inline(__always)
private func panelPairTile8(_ b: UnsafeMutablePointer<Float>, _ b2: UnsafeMutablePointer<Float>, lda: Int, k K: Int,
                            _ a: UnsafeMutablePointer<Float>, _ c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int,
                            bias: UnsafeMutablePointer<Float>?) {
    let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda
    let a4 = a + 4 * lda, a5 = a + 5 * lda, a6 = a + 6 * lda, a7 = a + 7 * lda
    var c0 = Float16x(), c1 = Float16x(), c2 = Float16x(), c3 = Float16x()
    var c4 = Float16x(), c5 = Float16x(), c6 = Float16x(), c7 = Float16x()
    var d0 = Float16x(), d1 = Float16x(), d2 = Float16x(), d3 = Float16x()
    var d4 = Float16x(), d5 = Float16x(), d6 = Float16x(), d7 = Float16x()
    var bp = b, bq = b2
    for k in 0..<K {
        quill_prefetch_l2(bp + panelPrefetchFloats); quill_prefetch_l2(bq + panelPrefetchFloats)
        let w = load16(bp), v = load16(bq)
        var x = Float16x(repeating: a0[k])
        c0 = c0.addingProduct(x, w); d0 = d0.addingProduct(x, v)
        x = Float16x(repeating: a1[k])
        c1 = c1.addingProduct(x, w); d1 = d1.addingProduct(x, v)
        x = Float16x(repeating: a2[k])
        c2 = c2.addingProduct(x, w); d2 = d2.addingProduct(x, v)
        x = Float16x(repeating: a3[k])
        c3 = c3.addingProduct(x, w); d3 = d3.addingProduct(x, v)
        x = Float16x(repeating: a4[k])
        c4 = c4.addingProduct(x, w); d4 = d4.addingProduct(x, v)
        x = Float16x(repeating: a5[k])
        c5 = c5.addingProduct(x, w); d5 = d5.addingProduct(x, v)
        x = Float16x(repeating: a6[k])
        c6 = c6.addingProduct(x, w); d6 = d6.addingProduct(x, v)
        x = Float16x(repeating: a7[k])
        c7 = c7.addingProduct(x, w); d7 = d7.addingProduct(x, v)
        bp += 16; bq += 16
    }
    storePairRows((c0, c1, c2, c3, c4, c5, c6, c7), (d0, d1, d2, d3, d4, d5, d6, d7), c, ldc: ldc, cols: cols, bias: bias)
}
/// The 8 rows of an 8-row pair tile: c (columns 0..<16, the first panel) and d (the second panel, `cols` wide), plus
/// bias (32 entries, or `cols` + 16 at the last panel).
@inline(__always)
func storePairRows(_ c: (Float16x, Float16x, Float16x, Float16x, Float16x, Float16x, Float16x, Float16x),
                   _ d: (Float16x, Float16x, Float16x, Float16x, Float16x, Float16x, Float16x, Float16x),
                   _ out: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    let bias2 = bias.map { $0 + 16 }
    withUnsafeBytes(of: c) { cs in
        withUnsafeBytes(of: d) { ds in
            for r in 0..<8 {   // MemoryLayout<Float16x>.stride == 64
                storeRow(cs.loadUnaligned(fromByteOffset: r * 64, as: Float16x.self), out + r * ldc, cols: 16, bias: bias)
                storeRow(ds.loadUnaligned(fromByteOffset: r * 64, as: Float16x.self), out + r * ldc + 16, cols: cols, bias: bias2)
            }
        }
    }
}
#endif

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
private func panelTile1(_ b: UnsafeMutablePointer<Float>, k IC: Int, _ a: UnsafeMutablePointer<Float>,
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

