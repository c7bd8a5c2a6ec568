// 8-bit weights for decode and prefill: the panels of PackedMatmul.swift, with each run of 32 input channels of a
// column stored as 32 bytes and one scale (llama.cpp's q8_0 block: 32 values, an f16 scale, value = scale · q). A
// decode step reads about 1.06 bytes per weight instead of 4, and batch-1 decode is bound by exactly those bytes.
//
// Layout: panel p holds output columns [16p, 16p + 16). Its input channels come in blocks of 32 (the last one
// zero-padded): block b is 16 Float16 scales (one per column), then 8 groups of 64 bytes, group g holding for
// column j the 4 bytes q + 128 of input channels 32b + 4g ..< 32b + 4g + 4 (bytes 4j ..< 4j + 4). That is the
// operand order of AVX-512 VNNI's vpdpbusd, which multiplies 64 unsigned bytes by 64 signed ones and adds each
// 4 products into one of 16 ints. Blocks follow each other, panels follow each other.
//
// Products, by rows:
// - Every row count where the build has VNNI (Package.swift: QUILL_VNNI): the activations are quantized too, per
//   row and block of 32 (scale max |x| / 127, as llama.cpp quantizes them for its q8_0 products), and each block is
//   an exact integer sum (CQuillKernels' quill_q8_vnni_panel), scaled by both scales into float sums, 8 rows at a
//   time. Prefill included: on one Zen 4 core, 128 rows × GPT-2's block matrices ran at 320–360 GFLOP/s this way and
//   at 107 through dequantized float panels. `Q8Weights.Activations.float` turns this off (the twin tests use both).
// - With float activations, 1 to 3 rows: a fused kernel that widens the bytes to floats in registers and applies
//   each block's scales to its partial sums (`q8PanelRow`); 4 to 15 rows: tiles that widen and scale each row of
//   bytes once for 4 rows (8 rows, and pairs of panels, where AVX-512's 32 registers hold them).
// - With float activations, 16 rows or more (prefill): each panel is dequantized into a float scratch and the float
//   tiles of PackedMatmul.swift run over it, so prefill costs the float product plus one pass over the bytes.
// The naive twins are `dequantized()` followed by the float product, and, for the integer path, the same with the
// activations dequantized from `Q8Activations`.
import CBLAS
import CQuillKernels

/// Weights (IC, OC) quantized to 8 bits in 16-column panels of 32-channel blocks, for `q8MatmulForward`.
public final class Q8Weights: @unchecked Sendable {
    /// Input channels sharing one scale.
    public static let blockSize = 32
    static let panelWidth = 16
    /// Bytes of one block of one panel: 16 Float16 scales, then 32 × 16 bytes.
    static let blockBytes = panelWidth * MemoryLayout<Float16>.size + blockSize * panelWidth

    /// What a product does with its float activations.
    public enum Activations: Sendable {
        /// Quantizes them to 8 bits per block of 32 and sums in integers (builds with QUILL_VNNI).
        case int8
        /// Keeps them in floats and widens the weight bytes.
        case float

        /// `.int8` where the build has the integer kernels, else `.float`.
        public static var preferred: Activations { integerKernels ? .int8 : .float }
    }

    /// Whether this build has the VNNI integer kernels.
    public static var integerKernels: Bool {
        #if QUILL_VNNI
        return true
        #else
        return false
        #endif
    }

    public let inChannels: Int
    public let outChannels: Int
    /// The products' path: `.int8` only where `integerKernels`.
    public let activations: Activations
    let panels: Int
    let blocks: Int
    let data: UnsafeMutableRawPointer

    /// Byte offset, within a block, of channel i's byte for column j.
    @inline(__always)
    static func byteOffset(channel i: Int, column j: Int) -> Int { 32 + 64 * (i >> 2) + 4 * j + (i & 3) }

    /// Quantizes W (IC, OC), element W[i, j] at `weight[i · rowStride + j · columnStride]`: row-major (IC, OC) is
    /// rowStride OC and columnStride 1; a tied LM head reads wte (OC, IC) as rowStride 1 and columnStride IC.
    /// Each block's scale is max |w| / 127 rounded to Float16, and each value round(w / scale).
    public init(_ weight: UnsafePointer<Float>, inChannels IC: Int, outChannels OC: Int, rowStride: Int,
                columnStride: Int, activations: Activations = .preferred) {
        precondition(IC > 0 && OC > 0, "Q8Weights: sizes")
        inChannels = IC
        outChannels = OC
        self.activations = Self.integerKernels ? activations : .float
        panels = (OC + 15) / 16
        blocks = (IC + Self.blockSize - 1) / Self.blockSize
        let bytes = panels * blocks * Self.blockBytes
        data = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        data.initializeMemory(as: UInt8.self, repeating: 128, count: bytes)   // q = 0: padding channels and columns
        for p in 0..<panels {
            let cols = min(16, OC - 16 * p)
            for b in 0..<blocks {
                let block = data + (p * blocks + b) * Self.blockBytes
                let scales = block.assumingMemoryBound(to: Float16.self)
                for j in 0..<16 { scales[j] = 0 }
                let q = block.assumingMemoryBound(to: UInt8.self)
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
                        q[Self.byteOffset(channel: i, column: j)] = UInt8(Int(max(-127, min(127, v))) + 128)
                    }
                }
            }
        }
    }

    /// Quantizes W (IC, OC) stored row-major.
    public convenience init(_ weight: FloatBuffer, inChannels IC: Int, outChannels OC: Int,
                            activations: Activations = .preferred) {
        precondition(weight.count >= IC * OC, "Q8Weights: sizes")
        self.init(weight.ptr, inChannels: IC, outChannels: OC, rowStride: OC, columnStride: 1, activations: activations)
    }

    /// Quantizes the transpose of M (rows, cols) stored row-major: W = Mᵀ, (cols, rows). The tied LM head is
    /// logits = x · wteᵀ, so `Q8Weights(transposing: wte, rows: V, cols: C)`.
    public convenience init(transposing m: FloatBuffer, rows: Int, cols: Int, activations: Activations = .preferred) {
        precondition(m.count >= rows * cols, "Q8Weights: sizes")
        self.init(m.ptr, inChannels: cols, outChannels: rows, rowStride: 1, columnStride: cols, activations: activations)
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
                let q = block.assumingMemoryBound(to: UInt8.self)
                let i0 = b * Self.blockSize
                for i in 0..<min(Self.blockSize, inChannels - i0) {
                    for j in 0..<cols {
                        let v = Int(q[Self.byteOffset(channel: i, column: j)]) - 128
                        out[(i0 + i) * outChannels + 16 * p + j] = Float(scales[j]) * Float(v)
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
/// Rows at or above which a product with float activations dequantizes each panel once and runs the float tiles
/// over it. (A variable only so that `quill-bench matmul` can time each path; set it before any product runs.)
public nonisolated(unsafe) var q8DequantizeAllRows = 16

/// out (N, OC) = inp (N, IC) · W + bias, with W in 8 bits. Equal to the float product of `w.dequantized()` up to
/// summation order.
public func q8MatmulForward(_ out: FloatBuffer, _ inp: FloatBuffer, _ w: Q8Weights, _ bias: FloatBuffer?, rows N: Int) {
    q8MatmulForward(out, inp, w, bias, rows: N, workers: 1)
}

/// q8MatmulForward with the panels shared among `workers` threads when the product is large enough; each panel is
/// computed as on one thread, so the result is bit-equal to the serial product.
public func q8MatmulForward(_ out: FloatBuffer, _ inp: FloatBuffer, _ w: Q8Weights, _ bias: FloatBuffer?, rows N: Int,
                            workers: Int) {
    precondition(out.count >= N * w.outChannels && inp.count >= N * w.inChannels, "q8MatmulForward: sizes")
    if let bias { precondition(bias.count >= w.outChannels) }
    #if QUILL_VNNI
    if w.activations == .int8 {   // every row count, prefill included, as llama.cpp's q8_0 products
        let x = Q8Activations(inp.ptr, rows: N, inChannels: w.inChannels)
        defer { x.deallocate() }
        forEachPanelRange(panels: w.panels, work: N * w.inChannels * w.outChannels, workers: workers) { range in
            q8IntegerPanels(out, x, w, bias, panels: range)
        }
        return
    }
    #endif
    forEachPanelRange(panels: w.panels, work: N * w.inChannels * w.outChannels, workers: workers) { range in
        q8MatmulForward(out, inp, w, bias, rows: N, panels: range)
    }
}

/// Rows of float activations quantized for the integer products, per row and block of 32 channels: values
/// (rows × blocks · 32, zero past the input channels), scales (max |x| / 127) and the sums' corrections
/// (−128 · Σ values, undoing the weights' +128). Made by the VNNI kernel, so only in builds with QUILL_VNNI.
struct Q8Activations {
    let rows: Int
    let blocks: Int
    let values: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Float>
    let corrections: UnsafeMutablePointer<Int32>

    #if QUILL_VNNI
    init(_ x: UnsafePointer<Float>, rows: Int, inChannels IC: Int) {
        self.rows = rows
        blocks = (IC + Q8Weights.blockSize - 1) / Q8Weights.blockSize
        values = .allocate(capacity: rows * blocks * Q8Weights.blockSize)
        scales = .allocate(capacity: rows * blocks)
        corrections = .allocate(capacity: rows * blocks)
        quill_q8_quantize_rows(x, Int32(rows), Int32(IC), Int32(blocks), values, scales, corrections)
    }
    #endif

    func deallocate() {
        values.deallocate()
        scales.deallocate()
        corrections.deallocate()
    }
}

#if QUILL_VNNI
/// The panels `panels` of x · W + bias in integer sums, 8 rows at a time.
private func q8IntegerPanels(_ out: FloatBuffer, _ x: Q8Activations, _ w: Q8Weights, _ bias: FloatBuffer?,
                             panels: Range<Int>) {
    let OC = w.outChannels, B = w.blocks
    for p in panels {
        let panel = UnsafePointer<UInt8>((w.data + p * B * Q8Weights.blockBytes).assumingMemoryBound(to: UInt8.self))
        let j0 = 16 * p, cols = Int32(min(16, OC - j0))
        var r = 0
        while r < x.rows {
            let n = min(8, x.rows - r)
            quill_q8_vnni_panel(panel, Int32(B), Int32(n), x.values + r * B * Q8Weights.blockSize, x.scales + r * B,
                                x.corrections + r * B, out.ptr + r * OC + j0, OC, cols, bias.map { $0.ptr + j0 },
                                Int32(q8PrefetchBlocks))
            r += n
        }
    }
}
#endif

func q8MatmulForward(_ out: FloatBuffer, _ inp: FloatBuffer, _ w: Q8Weights, _ bias: FloatBuffer?, rows N: Int,
                     panels: Range<Int>) {
    let IC = w.inChannels, OC = w.outChannels
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
        let panelBytes = w.blocks * Q8Weights.blockBytes
        var p = panels.lowerBound
        while p < panels.upperBound {
            let panel = UnsafeRawPointer(w.data + p * panelBytes)
            let pair = panelPairs && N >= 8 && p + 1 < panels.upperBound
            var r = 0
            #if QUILL_AVX512
            if pair {
                while r + 8 <= N {
                    q8PanelPairTile8(panel, panel + panelBytes, IC: IC, blocks: w.blocks, inp.ptr + r * IC,
                                     out.ptr + r * OC + 16 * p, ldc: OC, cols: min(16, OC - 16 * p - 16),
                                     bias: biasPtr.map { $0 + 16 * p })
                    r += 8
                }
            }
            #endif
            for q in pair ? p...(p + 1) : p...p {
                q8PanelRowTiles(UnsafeRawPointer(w.data + q * panelBytes), IC: IC, OC: OC, blocks: w.blocks, panel: q,
                                inp, out, rows: r..<N, bias: biasPtr)
            }
            p += pair ? 2 : 1
        }
        return
    }
    let scratch = allocateFloats(2 * IC * 16)   // two panels, for the float tiles that walk panels in pairs
    defer { freeFloats(scratch) }
    var p = panels.lowerBound
    while p < panels.upperBound {
        let pair = panelPairs && p + 1 < panels.upperBound
        for (i, q) in (pair ? p...(p + 1) : p...p).enumerated() {
            let panel = UnsafeRawPointer(w.data + q * w.blocks * Q8Weights.blockBytes)
            dequantizePanel(panel, IC: IC, blocks: w.blocks, into: scratch.ptr + i * IC * 16)
        }
        packedPanelRows(scratch.ptr, pair ? scratch.ptr + IC * 16 : nil, IC: IC, OC: OC, panel: p, inp, out, rows: N,
                        bias: biasPtr)
        p += pair ? 2 : 1
    }
}

/// Rows `rows` of inp times panel p of bytes, into its columns of out: 8-row tiles where AVX-512 holds them, then
/// 4-row tiles, then single rows.
@inline(__always)
private func q8PanelRowTiles(_ panel: UnsafeRawPointer, IC: Int, OC: Int, blocks: Int, panel p: Int, _ inp: FloatBuffer,
                             _ out: FloatBuffer, rows: Range<Int>, bias biasPtr: UnsafeMutablePointer<Float>?) {
    let j0 = 16 * p, cols = min(16, OC - j0), bias = biasPtr.map { $0 + j0 }
    var r = rows.lowerBound
    let N = rows.upperBound
    #if QUILL_AVX512
    while r + 8 <= N {
        q8PanelTile8(panel, IC: IC, blocks: blocks, inp.ptr + r * IC, out.ptr + r * OC + j0, ldc: OC, cols: cols,
                     bias: bias)
        r += 8
    }
    #endif
    while r + 4 <= N {
        q8PanelTile4(panel, IC: IC, blocks: blocks, inp.ptr + r * IC, out.ptr + r * OC + j0, ldc: OC, cols: cols,
                     bias: bias)
        r += 4
    }
    while r < N {
        q8PanelRow(panel, IC: IC, blocks: blocks, inp.ptr + r * IC, out.ptr + r * OC + j0, cols: cols, bias: bias)
        r += 1
    }
}

/// One panel as floats, in PackedWeights' panel layout: panel[i · 16 + j] = scale · q.
@inline(__always)
private func dequantizePanel(_ panel: UnsafeRawPointer, IC: Int, blocks: Int, into dst: UnsafeMutablePointer<Float>) {
    for b in 0..<blocks {
        let block = panel + b * Q8Weights.blockBytes
        prefetchAhead(block)
        let scale = scales(block)
        let i0 = b * Q8Weights.blockSize
        forEachChannel(block, min(Q8Weights.blockSize, IC - i0)) { i, w in store16(w * scale, dst + (i0 + i) * 16) }
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

/// Channel i of a block (its 16 bytes q + 128, byte i % 4 of each column's 4 in group i / 4), as floats q.
@inline(__always)
private func widen(_ block: UnsafeRawPointer, _ i: Int) -> Float16x {
    channel(block.loadUnaligned(fromByteOffset: 32 + (i >> 2) * 64, as: SIMD16<UInt32>.self), i & 3)
}

/// Byte t of each lane of a group (q + 128) as the float q, without a conversion instruction: the byte put under
/// the exponent of 2²³ makes the float 2²³ + q + 128 exactly, and one subtraction leaves q (whole 16-lane
/// operations, where an int-to-float conversion goes through 8-lane halves).
@inline(__always)
private func channel(_ v: SIMD16<UInt32>, _ t: Int) -> Float16x {
    let bits = ((v &>> UInt32(8 * t)) & 0xFF) | 0x4B00_0000
    return unsafeBitCast(bits, to: Float16x.self) - Float16x(repeating: 8_388_736)   // 2²³ + 128
}

/// Calls body(i, channel i as floats q) for the first n channels of a block; a whole block reads each group of
/// 64 bytes once, for its 4 channels.
@inline(__always)
private func forEachChannel(_ block: UnsafeRawPointer, _ n: Int, _ body: (Int, Float16x) -> Void) {
    if n == Q8Weights.blockSize {
        for g in 0..<8 {
            let v = block.loadUnaligned(fromByteOffset: 32 + 64 * g, as: SIMD16<UInt32>.self)
            body(4 * g, channel(v, 0))
            body(4 * g + 1, channel(v, 1))
            body(4 * g + 2, channel(v, 2))
            body(4 * g + 3, channel(v, 3))
        }
    } else {
        for i in 0..<n { body(i, widen(block, i)) }
    }
}

/// forEachChannel over the same channels of two blocks at once.
@inline(__always)
private func forEachChannel(_ block: UnsafeRawPointer, _ block2: UnsafeRawPointer, _ n: Int,
                            _ body: (Int, Float16x, Float16x) -> Void) {
    if n == Q8Weights.blockSize {
        for g in 0..<8 {
            let v = block.loadUnaligned(fromByteOffset: 32 + 64 * g, as: SIMD16<UInt32>.self)
            let u = block2.loadUnaligned(fromByteOffset: 32 + 64 * g, as: SIMD16<UInt32>.self)
            body(4 * g, channel(v, 0), channel(u, 0))
            body(4 * g + 1, channel(v, 1), channel(u, 1))
            body(4 * g + 2, channel(v, 2), channel(u, 2))
            body(4 * g + 3, channel(v, 3), channel(u, 3))
        }
    } else {
        for i in 0..<n { body(i, widen(block, i), widen(block2, i)) }
    }
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
        let q = block
        let i0 = b * Q8Weights.blockSize
        let x = a + i0
        var s = Float16x(), t = Float16x()
        forEachChannel(q, min(Q8Weights.blockSize, IC - i0)) { i, w in
            if i & 1 == 0 { s = s.addingProduct(Float16x(repeating: x[i]), w) }
            else { t = t.addingProduct(Float16x(repeating: x[i]), w) }
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
        let q = block
        let i0 = b * Q8Weights.blockSize
        forEachChannel(q, min(Q8Weights.blockSize, IC - i0)) { i, widened in
            let w = widened * scale
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

#if QUILL_AVX512
/// Eight rows times one panel of bytes, where a panel row is one zmm register: each row of 16 bytes is widened and
/// scaled once, then used by eight rows (on AVX2 the accumulators alone would fill the 16 registers).
@inline(__always)
private func q8PanelTile8(_ panel: UnsafeRawPointer, IC: Int, blocks: Int, _ a: UnsafeMutablePointer<Float>,
                          _ c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int, bias: UnsafeMutablePointer<Float>?) {
    let a0 = a, a1 = a + IC, a2 = a + 2 * IC, a3 = a + 3 * IC, a4 = a + 4 * IC, a5 = a + 5 * IC, a6 = a + 6 * IC
    let a7 = a + 7 * IC
    var c0 = Float16x(), c1 = Float16x(), c2 = Float16x(), c3 = Float16x()
    var c4 = Float16x(), c5 = Float16x(), c6 = Float16x(), c7 = Float16x()
    for b in 0..<blocks {
        let block = panel + b * Q8Weights.blockBytes
        prefetchAhead(block)
        let scale = scales(block)
        let q = block
        let i0 = b * Q8Weights.blockSize
        forEachChannel(q, min(Q8Weights.blockSize, IC - i0)) { i, widened in
            let w = widened * scale
            let k = i0 + i
            c0 = c0.addingProduct(Float16x(repeating: a0[k]), w)
            c1 = c1.addingProduct(Float16x(repeating: a1[k]), w)
            c2 = c2.addingProduct(Float16x(repeating: a2[k]), w)
            c3 = c3.addingProduct(Float16x(repeating: a3[k]), w)
            c4 = c4.addingProduct(Float16x(repeating: a4[k]), w)
            c5 = c5.addingProduct(Float16x(repeating: a5[k]), w)
            c6 = c6.addingProduct(Float16x(repeating: a6[k]), w)
            c7 = c7.addingProduct(Float16x(repeating: a7[k]), w)
        }
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

/// Eight rows times two adjacent panels of bytes (32 output columns, the first panel whole, the second `cols` wide):
/// each panel row is widened and scaled once for eight rows, 16 accumulators.
@inline(__always)
private func q8PanelPairTile8(_ panel: UnsafeRawPointer, _ panel2: UnsafeRawPointer, IC: Int, blocks: Int,
                              _ a: UnsafeMutablePointer<Float>, _ c: UnsafeMutablePointer<Float>, ldc: Int, cols: Int,
                              bias: UnsafeMutablePointer<Float>?) {
    let a0 = a, a1 = a + IC, a2 = a + 2 * IC, a3 = a + 3 * IC, a4 = a + 4 * IC, a5 = a + 5 * IC, a6 = a + 6 * IC
    let a7 = a + 7 * IC
    var c0 = Float16x(), c1 = Float16x(), c2 = Float16x(), c3 = Float16x()
    var c4 = Float16x(), c5 = Float16x(), c6 = Float16x(), c7 = Float16x()
    var d0 = Float16x(), d1 = Float16x(), d2 = Float16x(), d3 = Float16x()
    var d4 = Float16x(), d5 = Float16x(), d6 = Float16x(), d7 = Float16x()
    for b in 0..<blocks {
        let block = panel + b * Q8Weights.blockBytes, block2 = panel2 + b * Q8Weights.blockBytes
        prefetchAhead(block)
        prefetchAhead(block2)
        let scale = scales(block), scale2 = scales(block2)
        let q = block, q2 = block2
        let i0 = b * Q8Weights.blockSize
        forEachChannel(q, q2, min(Q8Weights.blockSize, IC - i0)) { i, widened, widened2 in
            let w = widened * scale, v = widened2 * scale2
            let k = i0 + i
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
        }
    }
    storePairRows((c0, c1, c2, c3, c4, c5, c6, c7), (d0, d1, d2, d3, d4, d5, d6, d7), c, ldc: ldc, cols: cols, bias: bias)
}
#endif
