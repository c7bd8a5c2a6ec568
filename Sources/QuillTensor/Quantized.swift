// 8-bit weights for decode and prefill: the panels of PackedMatmul.swift, with each run of 32 input channels of a
// column stored as 32 signed bytes and one scale (llama.cpp's q8_0 block: 32 values, an f16 scale, value =
// scale · q). A decode step reads about 1.06 bytes per weight instead of 4, and batch-1 decode is bound by exactly
// those bytes.
//
// Layout: panel p holds output columns [16p, 16p + 16). Its input channels come in blocks of 32 (the last one
// zero-padded): block b is 16 Float16 scales (one per column), then 32 rows of 16 Int8, row i holding
// W[32b + i, 16p ..< 16p + 16]. Blocks follow each other, panels follow each other.
//
// Products: one to three rows run a fused kernel that widens the bytes to floats in registers and applies each
// block's scales to its partial sums (`q8PanelRow`); four rows or more dequantize the panel once into a float
// scratch panel and run the float tiles of PackedMatmul.swift over it, so prefill costs the float product plus one
// pass over the bytes. The naive twin is `dequantized()` followed by the float product.
import CBLAS

/// Weights (IC, OC) quantized to 8 bits in 16-column panels of 32-channel blocks, for `q8MatmulForward`.
public final class Q8Weights: @unchecked Sendable {
    /// Input channels sharing one scale.
    public static let blockSize = 32
    static let panelWidth = 16
    /// Bytes of one block of one panel: 16 Float16 scales, then 32 × 16 bytes.
    static let blockBytes = panelWidth * MemoryLayout<Float16>.size + blockSize * panelWidth

    public let inChannels: Int
    public let outChannels: Int
    let panels: Int
    let blocks: Int
    let data: UnsafeMutableRawPointer

    /// Quantizes W (IC, OC), element W[i, j] at `weight[i · rowStride + j · columnStride]`: row-major (IC, OC) is
    /// rowStride OC and columnStride 1; a tied LM head reads wte (OC, IC) as rowStride 1 and columnStride IC.
    /// Each block's scale is max |w| / 127 rounded to Float16, and each value round(w / scale).
    public init(_ weight: UnsafePointer<Float>, inChannels IC: Int, outChannels OC: Int, rowStride: Int,
                columnStride: Int) {
        precondition(IC > 0 && OC > 0, "Q8Weights: sizes")
        inChannels = IC
        outChannels = OC
        panels = (OC + 15) / 16
        blocks = (IC + Self.blockSize - 1) / Self.blockSize
        let bytes = panels * blocks * Self.blockBytes
        data = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        data.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        for p in 0..<panels {
            let cols = min(16, OC - 16 * p)
            for b in 0..<blocks {
                let block = data + (p * blocks + b) * Self.blockBytes
                let scales = block.assumingMemoryBound(to: Float16.self)
                let q = (block + 32).assumingMemoryBound(to: Int8.self)
                let i0 = b * Self.blockSize, rows = min(Self.blockSize, IC - i0)
                for j in 0..<cols {
                    let column = weight + (16 * p + j) * columnStride
                    var amax: Float = 0
                    for i in i0..<(i0 + rows) { amax = max(amax, abs(column[i * rowStride])) }
                    let scale = Float16(amax / 127)
                    scales[j] = scale
                    let inverse = Float(scale) > 0 ? 1 / Float(scale) : 0
                    for i in 0..<rows {
                        let v = (column[(i0 + i) * rowStride] * inverse).rounded()
                        q[i * 16 + j] = Int8(max(-127, min(127, v)))
                    }
                }
            }
        }
    }

    /// Quantizes W (IC, OC) stored row-major.
    public convenience init(_ weight: FloatBuffer, inChannels IC: Int, outChannels OC: Int) {
        precondition(weight.count >= IC * OC, "Q8Weights: sizes")
        self.init(weight.ptr, inChannels: IC, outChannels: OC, rowStride: OC, columnStride: 1)
    }

    /// Quantizes the transpose of M (rows, cols) stored row-major: W = Mᵀ, (cols, rows). The tied LM head is
    /// logits = x · wteᵀ, so `Q8Weights(transposing: wte, rows: V, cols: C)`.
    public convenience init(transposing m: FloatBuffer, rows: Int, cols: Int) {
        precondition(m.count >= rows * cols, "Q8Weights: sizes")
        self.init(m.ptr, inChannels: cols, outChannels: rows, rowStride: 1, columnStride: cols)
    }

    /// Bytes held: about 1.06 per weight.
    public var bytes: Int { panels * blocks * Self.blockBytes }

    /// The weights as the kernels see them, (IC, OC) row-major: scale · q. The naive twin multiplies these.
    public func dequantized() -> FloatBuffer {
        let out = allocateFloats(inChannels * outChannels)
        for p in 0..<panels {
            let cols = min(16, outChannels - 16 * p)
            for b in 0..<blocks {
                let block = UnsafeRawPointer(data + (p * blocks + b) * Self.blockBytes)
                let scales = block.assumingMemoryBound(to: Float16.self)
                let q = (block + 32).assumingMemoryBound(to: Int8.self)
                let i0 = b * Self.blockSize
                for i in 0..<min(Self.blockSize, inChannels - i0) {
                    for j in 0..<cols {
                        out[(i0 + i) * outChannels + 16 * p + j] = Float(scales[j]) * Float(q[i * 16 + j])
                    }
                }
            }
        }
        return out
    }

    deinit { data.deallocate() }
}

/// Rows at or above which a product runs 4-row fused tiles (below: one fused row at a time).
let q8TileRows = 4
/// Rows at or above which a product dequantizes each panel once and runs the float tiles over it.
/// (A variable only so that `quill-bench matmul` can time each path; set it before any product runs.)
public nonisolated(unsafe) var q8DequantizeAllRows = 16

/// out (N, OC) = inp (N, IC) · W + bias, with W in 8 bits. Equal to the float product of `w.dequantized()` up to
/// summation order.
public func q8MatmulForward(_ out: FloatBuffer, _ inp: FloatBuffer, _ w: Q8Weights, _ bias: FloatBuffer?, rows N: Int) {
    q8MatmulForward(out, inp, w, bias, rows: N, panels: 0..<w.panels)
}

/// q8MatmulForward with the panels shared among `workers` threads when the product is large enough; each panel is
/// computed as on one thread, so the result is bit-equal to the serial product.
public func q8MatmulForward(_ out: FloatBuffer, _ inp: FloatBuffer, _ w: Q8Weights, _ bias: FloatBuffer?, rows N: Int,
                            workers: Int) {
    forEachPanelRange(panels: w.panels, work: N * w.inChannels * w.outChannels, workers: workers) { range in
        q8MatmulForward(out, inp, w, bias, rows: N, panels: range)
    }
}

func q8MatmulForward(_ out: FloatBuffer, _ inp: FloatBuffer, _ w: Q8Weights, _ bias: FloatBuffer?, rows N: Int,
                     panels: Range<Int>) {
    let IC = w.inChannels, OC = w.outChannels
    precondition(out.count >= N * OC && inp.count >= N * IC, "q8MatmulForward: sizes")
    if let bias { precondition(bias.count >= OC) }
    let biasPtr = bias?.baseAddress
    if N < q8TileRows {
        for p in panels {
            let panel = UnsafeRawPointer(w.data + p * w.blocks * Q8Weights.blockBytes)
            let j0 = 16 * p, cols = min(16, OC - j0)
            for r in 0..<N {
                q8PanelRow(panel, IC: IC, blocks: w.blocks, inp.ptr + r * IC, out.ptr + r * OC + j0, cols: cols,
                           bias: biasPtr.map { $0 + j0 })
            }
        }
        return
    }
    if N < q8DequantizeAllRows {
        for p in panels {
            let panel = UnsafeRawPointer(w.data + p * w.blocks * Q8Weights.blockBytes)
            let j0 = 16 * p, cols = min(16, OC - j0)
            var r = 0
            while r + 4 <= N {
                q8PanelTile4(panel, IC: IC, blocks: w.blocks, inp.ptr + r * IC, out.ptr + r * OC + j0, ldc: OC,
                             cols: cols, bias: biasPtr.map { $0 + j0 })
                r += 4
            }
            while r < N {
                q8PanelRow(panel, IC: IC, blocks: w.blocks, inp.ptr + r * IC, out.ptr + r * OC + j0, cols: cols,
                           bias: biasPtr.map { $0 + j0 })
                r += 1
            }
        }
        return
    }
    let scratch = allocateFloats(IC * 16)
    defer { freeFloats(scratch) }
    for p in panels {
        let panel = UnsafeRawPointer(w.data + p * w.blocks * Q8Weights.blockBytes)
        dequantizePanel(panel, IC: IC, blocks: w.blocks, into: scratch.ptr)
        packedPanelRows(scratch.ptr, IC: IC, OC: OC, panel: p, inp, out, rows: N, bias: biasPtr)
    }
}

/// One panel as floats, in PackedWeights' panel layout: panel[i · 16 + j] = scale · q.
@inline(__always)
private func dequantizePanel(_ panel: UnsafeRawPointer, IC: Int, blocks: Int, into dst: UnsafeMutablePointer<Float>) {
    for b in 0..<blocks {
        let block = panel + b * Q8Weights.blockBytes
        prefetchAhead(block)
        let scale = scales(block)
        let q = block + 32
        let i0 = b * Q8Weights.blockSize
        for i in 0..<min(Q8Weights.blockSize, IC - i0) {
            store16(widen(q, i) * scale, dst + (i0 + i) * 16)
        }
    }
}

// The conversions go through 8-lane halves: Swift's 8-lane conversions compile to vcvtph2ps and vpmovsxbd +
// vcvtdq2ps, while its 16-lane ones call generic code, lane by lane.

/// The 16 scales of a block, as floats.
@inline(__always)
private func scales(_ block: UnsafeRawPointer) -> Float16x {
    let h = block.loadUnaligned(as: SIMD16<Float16>.self)
    return Float16x(lowHalf: Float8(h.lowHalf), highHalf: Float8(h.highHalf))
}

/// Row i of a block's 16 × 32 bytes, as floats.
@inline(__always)
private func widen(_ q: UnsafeRawPointer, _ i: Int) -> Float16x {
    let v = q.loadUnaligned(fromByteOffset: i * 16, as: SIMD16<Int8>.self)
    return Float16x(lowHalf: Float8(SIMD8<Int32>(truncatingIfNeeded: v.lowHalf)),
                    highHalf: Float8(SIMD8<Int32>(truncatingIfNeeded: v.highHalf)))
}

/// Blocks this far ahead are asked for while one is computed: with ~1 byte per weight the loop spends more time per
/// byte than a float product, and the hardware prefetcher alone then keeps too few lines in flight (one core read
/// 7 GB/s from memory without this, 12 GB/s as floats).
let q8PrefetchBlocks = 16

@inline(__always)
private func prefetchAhead(_ block: UnsafeRawPointer) {
    let ahead = block + q8PrefetchBlocks * Q8Weights.blockBytes
    var line = 0
    while line < Q8Weights.blockBytes {
        quill_prefetch(ahead + line)
        line += 64
    }
}


/// One row times one panel of bytes: per block, two chains of partial sums over its 32 channels, then the block's
/// scales applied to them (acc += scale · Σ x·q).
@inline(__always)
private func q8PanelRow(_ panel: UnsafeRawPointer, IC: Int, blocks: Int, _ a: UnsafeMutablePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    var acc = Float16x()
    for b in 0..<blocks {
        let block = panel + b * Q8Weights.blockBytes
        prefetchAhead(block)
        let q = block + 32
        let i0 = b * Q8Weights.blockSize
        let x = a + i0
        var s = Float16x(), t = Float16x()
        if IC - i0 >= Q8Weights.blockSize {
            var i = 0
            while i < Q8Weights.blockSize {
                s = s.addingProduct(Float16x(repeating: x[i]), widen(q, i))
                t = t.addingProduct(Float16x(repeating: x[i + 1]), widen(q, i + 1))
                i += 2
            }
        } else {
            for i in 0..<(IC - i0) { s = s.addingProduct(Float16x(repeating: x[i]), widen(q, i)) }
        }
        acc = acc.addingProduct(s + t, scales(block))
    }
    storeRow(acc, c, cols: cols, bias: bias)
}

/// Four rows times one panel of bytes: each row of 16 bytes is widened and scaled once, then used by four rows.
@inline(__always)
private func q8PanelTile4(_ panel: UnsafeRawPointer, IC: Int, blocks: Int, _ a: UnsafeMutablePointer<Float>,
                          _ c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    let a0 = a, a1 = a + IC, a2 = a + 2 * IC, a3 = a + 3 * IC
    var c0 = Float16x(), c1 = Float16x(), c2 = Float16x(), c3 = Float16x()
    for b in 0..<blocks {
        let block = panel + b * Q8Weights.blockBytes
        prefetchAhead(block)
        let scale = scales(block)
        let q = block + 32
        let i0 = b * Q8Weights.blockSize
        for i in 0..<min(Q8Weights.blockSize, IC - i0) {
            let w = widen(q, i) * scale
            let k = i0 + i
            c0 = c0.addingProduct(Float16x(repeating: a0[k]), w)
            c1 = c1.addingProduct(Float16x(repeating: a1[k]), w)
            c2 = c2.addingProduct(Float16x(repeating: a2[k]), w)
            c3 = c3.addingProduct(Float16x(repeating: a3[k]), w)
        }
    }
    storeRow(c0, c, cols: cols, bias: bias)
    storeRow(c1, c + ldc, cols: cols, bias: bias)
    storeRow(c2, c + 2 * ldc, cols: cols, bias: bias)
    storeRow(c3, c + 3 * ldc, cols: cols, bias: bias)
}
