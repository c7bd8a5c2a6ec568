// A matrix product for the training step's small products (config N: 256 × 64 × 192 and the like), where
// OpenBLAS's sgemm runs at 55–80 GFLOP/s a core. AVX-512: tiles of 6 rows × 64 columns: 24 zmm accumulators, 4 loads
// of B and 6 broadcasts of A per 24 FMAs (29 of the 32 registers). On this machine kind that tile reaches 100–108
// GFLOP/s where an 8 × 32 tile (10 loads per 16 FMAs) stops at 80–89. B is first copied into slabs of K × 64 (zero past
// N), once per column block, which costs 1/64 of its loads and keeps every k's row of B in the same two lines: read in
// place at a power-of-two stride, B rows map to a few L1 sets (measured: 54 against 81 GFLOP/s for dinp = dout · Wᵀ at
// 256 × 64 × 192). A is read in place when row-major; Aᵀ (dW = inpᵀ · dout) is copied 6 rows at a time into k-major
// tiles, as are the last rows past a multiple of 6.
// The AVX-512 figures are from an AVX-512 Zen 4. AVX2 (16 registers): tiles of 6 × 16 over slabs of K × 16, 12 ymm
// accumulators and 3 registers for loads, with A packed block by block once it is larger than one block, and each
// tile's rows of C prefetched (see useSmallGemm for what they measured on an AVX2 Zen 3).
//
//   C (M, N) = or += A (M, K) · B (K, N)
//   A[i, k] = a[i·rs + k·ks]: rs = lda, ks = 1 for A itself; rs = 1, ks = lda for Aᵀ stored (dW = inpᵀ · dout)
//   B[k, j] = b[k·ldb + j], or b[j·ldb + k] with transposedB (dinp = dout · Wᵀ)
//
// Single-threaded, like every kernel a training worker runs. Twin: the naive triple loop in the tests, and
// Reference.matmul* through matmulForward/Backward.

import CBLAS
import CQuillKernels

/// Which of the training step's products may take `smallGemm` (OpenBLAS runs the others):
/// nn the forward (inp · W, and the head's dlogits · wte), nt dinp = dout · Wᵀ (and the head's inp · wteᵀ),
/// tn dW += inpᵀ · dout.
public struct SmallGemmProducts: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let nn = SmallGemmProducts(rawValue: 1)
    public static let nt = SmallGemmProducts(rawValue: 2)
    public static let tn = SmallGemmProducts(rawValue: 4)
    public static let all: SmallGemmProducts = [.nn, .nt, .tn]
}

/// The products that take smallGemm (see SmallGemmProducts). Set once, before training starts.
public nonisolated(unsafe) var smallGemmProducts: SmallGemmProducts = .all

/// Products of at most this many multiply-adds (M·N·K) take `smallGemm`; larger ones (GPT-2's head, 124M-sized
/// layers) keep OpenBLAS, whose packing pays for itself there.
public nonisolated(unsafe) var smallGemmMaximumWork = 1 << 27

/// True where smallGemm is compiled with its own tiles (AVX-512's 6 × 64, or AVX2's 6 × 16); every x86-64 build
/// here has one of the two.
public var smallGemmAvailable: Bool { true }

/// The register tile smallGemm is compiled with, for reports.
public var smallGemmTile: String {
    #if QUILL_AVX512
    "6x64 (AVX-512)"
    #else
    "6x16 (AVX2)"
    #endif
}

/// Whether a product of these sides takes smallGemm.
@inline(__always)
func useSmallGemm(_ kind: SmallGemmProducts, _ M: Int, _ N: Int, _ K: Int,
                  blasThreads: Int = Parallel.blasThreads) -> Bool {
    #if QUILL_AVX512
    // Whole 64-column slabs carry the speed; the narrow tiles of a ragged last slab run at half of it, so at most
    // an eighth of the columns may fall there, and at most an eighth more may be the zero padding of its last
    // 16-column tile (a 65-character vocabulary's head: 79 against OpenBLAS's 87 GFLOP/s). Fewer than 24 rows leave
    // too few tiles to pay for packing B.
    // A lone worker's products, which OpenBLAS runs on every core (Parallel.withBLASThreads), stay there.
    smallGemmProducts.contains(kind) && M >= 24 && N >= 64 && (N % 64) * 8 <= N && ((16 - N % 16) % 16) * 8 <= N
        && M * N * K <= smallGemmMaximumWork
        && blasThreads == 1
    #else
    // 16-column slabs: at most an eighth of the columns may be the zero padding of a ragged last slab. Alone, the tiles
    // beat OpenBLAS on the forward and on dinp = dout · Wᵀ (best of 101 runs: 84–88 against 61–64 GFLOP/s at
    // 256 × 192 × 64 and 256 × 64 × 192) and lost on dW = inpᵀ · dout (60–79 against 69–83 at 64 × 192 × 256,
    // 256 × 64 × 256); inside config N's step, with dW on the tiles too, the backward was 2–5% faster in five of six
    // alternating pairs, so all three take them (BENCHMARKS.md).
    smallGemmProducts.contains(kind) && M >= 24 && N >= 16 && ((16 - N % 16) % 16) * 8 <= N
        && M * N * K <= smallGemmMaximumWork
        && blasThreads == 1
    #endif
}

/// C (M, N) (= or += when accumulate) A · B, with A[i, k] = a[i·rs + k·ks] and B[k, j] = b[k·ldb + j], or with
/// transposedB B[k, j] = b[j·ldb + k]. Row stride of C: ldc. One of rs and ks must be 1. bias (N floats, only
/// without accumulate) is added to every row: C = bias + A · B, in the tiles' stores.
public func smallGemm(M: Int, N: Int, K: Int,
                      _ a: UnsafePointer<Float>, rs: Int, ks: Int,
                      _ b: UnsafePointer<Float>, ldb: Int, transposedB: Bool = false,
                      _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
                      bias: UnsafePointer<Float>? = nil) {
    precondition(rs == 1 || ks == 1, "smallGemm: A must be row-major or transposed")
    precondition(bias == nil || !accumulate, "smallGemm: bias is for a product that sets C")
    guard M > 0, N > 0 else { return }
    guard K > 0 else {
        if !accumulate {
            for i in 0..<M {
                if let bias { (c + i * ldc).update(from: bias, count: N) } else { (c + i * ldc).update(repeating: 0, count: N) }
            }
        }
        return
    }
    #if QUILL_AVX512
    // k in blocks of at most 256 (128 past that), so that a slab of B (kc × 64 floats, 32–64 KB) stays near L1 while
    // every row tile walks it; columns in blocks whose packed B (kc × nc) stays within 512 KB of L2.
    let kc = K <= 256 ? K : 128
    let nc = max(64, min((N + 63) / 64 * 64, (131_072 / kc) / 64 * 64))
    // Aᵀ stored is copied whole, once, into k-major tiles of 6 rows (8 floats a k); its rows of M adjacent values
    // are then read in order. Row-major A is read in place but for a ragged last tile, copied once.
    let tiles = (M + 5) / 6, packedTiles = rs == 1 ? tiles : 1
    withUnsafeTemporaryAllocation(of: Float.self, capacity: kc * nc + packedTiles * 8 * K + 6 * 64 + 16) { scratch in
        // Slabs start on a 64-byte line (kc · 64 floats apart), so no load of B splits a cache line.
        let base = UInt(bitPattern: scratch.baseAddress!)
        let bpack = UnsafeMutablePointer<Float>(bitPattern: (base + 63) & ~63)!
        let apack = bpack + kc * nc, spill = apack + packedTiles * 8 * K
        if rs == 1 {
            packTransposedA(apack, a, ks: ks, K: K, M: M, kBlock: K)
        } else if M % 6 != 0 {
            packRows(apack, a + (M - M % 6) * rs, rs: rs, K: K, rows: M % 6)
        }
        var jc = 0
        while jc < N {
            let width = min(nc, N - jc)
            let slabs = (width + 63) / 64
            var k0 = 0
            while k0 < K {
                let kLen = min(kc, K - k0)
                // The first k block sets C (or adds to it, when asked); the later ones add.
                let add = accumulate || k0 > 0
                let blockBias = k0 == 0 ? bias : nil
                packB(bpack, b, ldb: ldb, transposed: transposedB, K: kLen, k0: k0, j0: jc, width: width, slab: 64)
                var i = 0
                while i < M {
                    let rows = min(6, M - i)
                    let inPlace = ks == 1 && rows == 6
                    let tileA = UnsafePointer(rs == 1 ? apack + (i / 6) * 8 * K + k0 * 8 : apack + k0 * 8)
                    let rowA = a + i * rs + k0
                    for s in 0..<slabs {
                        let cols = min(64, width - 64 * s)
                        let out = c + i * ldc + jc + 64 * s, bs = UnsafePointer(bpack + s * 64 * kLen)
                        let slabBias = blockBias.map { $0 + jc + 64 * s }
                        if cols <= 48 {
                            // A narrow last slab: 6 × 16 tiles over its 1 to 3 groups of 16 columns.
                            narrowSlab(K: kLen, rowA, rs: rs, inPlace: inPlace, tileA, bs, rows: rows, cols: cols,
                                       out, ldc: ldc, spill, accumulate: add, bias: slabBias)
                            continue
                        }
                        let edge = rows < 6 || cols < 64
                        // A ragged edge: the whole tile into a spill buffer, then the real rows and columns.
                        let dst = edge ? spill : out, ld = edge ? 64 : ldc, acc = add && !edge
                        if inPlace {
                            gemmTile6x64(K: kLen, rowA, rs: rs, ks: 1, bs, dst, ldc: ld, accumulate: acc,
                                         bias: edge ? nil : slabBias)
                        } else {
                            gemmTile6x64(K: kLen, tileA, rs: 1, ks: 8, bs, dst, ldc: ld, accumulate: acc,
                                         bias: edge ? nil : slabBias)
                        }
                        if edge { copySpill(spill, ld: 64, rows: rows, cols: cols, out, ldc: ldc, add: add, bias: slabBias) }
                    }
                    i += 6
                }
                k0 += kLen
            }
            jc += width
        }
    }
    #else
    // AVX2: 16 registers. Tiles of 6 rows × 16 columns: 12 accumulators, 2 loads of B and 6 broadcasts of A per 12
    // FMAs (15 registers). B is packed into slabs of K × 16 (one 64-byte line per k); each slab (4 KB at K = 64) stays
    // in L1 while the row tiles of a block of A (at most 256 KB, in L2) walk it.
    let kc = K <= 256 ? K : 128
    let mc = max(6, (65_536 / kc) / 6 * 6)
    let nc = max(16, min((N + 15) / 16 * 16, (131_072 / kc) / 16 * 16))
    // Row-major A is read in place when it is a single block of at most 256 KB; else each block is packed into k-major
    // tiles of 6 rows (in place, rows of a larger A at a stride of K floats ran at 43 GFLOP/s where OpenBLAS ran 70).
    // The test is on A's size, not on mc (whole tiles of 6): c_proj's 256 × 256 A at config N is exactly 256 KB, and
    // read in place it ran at 89–92 GFLOP/s where packing it through the 8 × 8 transposes ran 79–82 (quill-bench gemm
    // --m 256 --n 64 --k 256, best of 15).
    let blockPack = ks == 1 && (K > kc || M * kc > 65_536)
    let tiles = (M + 5) / 6
    let aFloats = rs == 1 ? tiles * 8 * K : blockPack ? (min(M, mc) + 5) / 6 * 8 * kc : 8 * K
    withUnsafeTemporaryAllocation(of: Float.self, capacity: kc * nc + aFloats + 6 * 16 + 16) { scratch in
        let base = UInt(bitPattern: scratch.baseAddress!)
        let bpack = UnsafeMutablePointer<Float>(bitPattern: (base + 63) & ~63)!
        let apack = bpack + kc * nc, spill = apack + aFloats
        if blockPack {
            // packed block by block below
        } else if rs == 1 {
            packTransposedA(apack, a, ks: ks, K: K, M: M, kBlock: 16)
        } else if M % 6 != 0 {
            packRows(apack, a + (M - M % 6) * rs, rs: rs, K: K, rows: M % 6)
        }
        var jc = 0
        while jc < N {
            let width = min(nc, N - jc)
            let slabs = (width + 15) / 16
            var k0 = 0
            while k0 < K {
                let kLen = min(kc, K - k0)
                let add = accumulate || k0 > 0
                let blockBias = k0 == 0 ? bias : nil
                packB(bpack, b, ldb: ldb, transposed: transposedB, K: kLen, k0: k0, j0: jc, width: width, slab: 16)
                var ic = 0
                while ic < M {
                    let icEnd = min(M, ic + mc)
                    if blockPack { packRowBlock(apack, a, rs: rs, k0: k0, K: kLen, from: ic, to: icEnd, M: M) }
                    for s in 0..<slabs {
                        let cols = min(16, width - 16 * s), bs = UnsafePointer(bpack + s * 16 * kLen)
                        let slabBias = blockBias.map { $0 + jc + 16 * s }
                        var i = ic
                        while i < icEnd {
                            let rows = min(6, M - i)
                            let edge = rows < 6 || cols < 16
                            let out = c + i * ldc + jc + 16 * s
                            if rows == 4 && cols == 16 {
                                // The last 4 rows of M = 6q + 4 (64, 256: most of the step's products) on a tile of
                                // their own, straight into C: through the 6-row tile and the spill they cost a third
                                // more multiply-adds and a scalar copy.
                                if blockPack {
                                    gemmTile4x16(K: kLen, apack + (i - ic) / 6 * 8 * kLen, rs: 1, ks: 8, bs, c: out,
                                                 ldc: ldc, accumulate: add, bias: slabBias)
                                } else if ks == 1 {
                                    gemmTile4x16(K: kLen, a + i * rs + k0, rs: rs, ks: 1, bs, c: out, ldc: ldc,
                                                 accumulate: add, bias: slabBias)
                                } else {
                                    gemmTile4x16(K: kLen, apack + (i / 6) * 8 * K + k0 * 8, rs: 1, ks: 8, bs, c: out,
                                                 ldc: ldc, accumulate: add, bias: slabBias)
                                }
                                i += 6
                                continue
                            }
                            let dst = edge ? spill : out, ld = edge ? 16 : ldc, acc = add && !edge
                            if !edge {
                                // A row of the tile's C may straddle two lines.
                                for r in 0..<6 {
                                    quill_prefetch_write(out + r * ldc); quill_prefetch_write(out + r * ldc + 15)
                                }
                            }
                            if blockPack {
                                gemmTile6x16(K: kLen, apack + (i - ic) / 6 * 8 * kLen, rs: 1, ks: 8, bs, bStride: 16,
                                             dst, ldc: ld, accumulate: acc, bias: edge ? nil : slabBias)
                            } else if ks == 1 && rows == 6 {
                                gemmTile6x16(K: kLen, a + i * rs + k0, rs: rs, ks: 1, bs, bStride: 16, dst, ldc: ld,
                                             accumulate: acc, bias: edge ? nil : slabBias)
                            } else {
                                let tileA = UnsafePointer(rs == 1 ? apack + (i / 6) * 8 * K + k0 * 8 : apack + k0 * 8)
                                gemmTile6x16(K: kLen, tileA, rs: 1, ks: 8, bs, bStride: 16, dst, ldc: ld,
                                             accumulate: acc, bias: edge ? nil : slabBias)
                            }
                            if edge {
                                copySpill(spill, ld: 16, rows: rows, cols: cols, out, ldc: ldc, add: add, bias: slabBias)
                            }
                            i += 6
                        }
                    }
                    ic = icEnd
                }
                k0 += kLen
            }
            jc += width
        }
    }
    #endif
}

/// The training step's products (matmul and LM head, forward and backward), in smallGemm's operands: on smallGemm
/// where `useSmallGemm(kind, M, N, K)` takes the shape, else on OpenBLAS.
@inline(__always)
func trainingGemm(_ kind: SmallGemmProducts, M: Int, N: Int, K: Int,
                  _ a: UnsafePointer<Float>, rs: Int, ks: Int,
                  _ b: UnsafePointer<Float>, ldb: Int, transposedB: Bool = false,
                  _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>? = nil) {
    if useSmallGemm(kind, M, N, K) {
        smallGemm(M: M, N: N, K: K, a, rs: rs, ks: ks, b, ldb: ldb, transposedB: transposedB, c, ldc: ldc,
                  accumulate: accumulate, bias: bias)
    } else {
        blasGemm(M: M, N: N, K: K, a, rs: rs, ks: ks, b, ldb: ldb, transposedB: transposedB, c, ldc: ldc,
                 accumulate: accumulate, bias: bias)
    }
}

/// smallGemm's product on cblas_sgemm: the bias copied into C's rows first, then added to.
@inline(__always)
func blasGemm(M: Int, N: Int, K: Int, _ a: UnsafePointer<Float>, rs: Int, ks: Int,
              _ b: UnsafePointer<Float>, ldb: Int, transposedB: Bool,
              _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>?) {
    if let bias { for i in 0..<M { (c + i * ldc).update(from: bias, count: N) } }
    let transA = ks == 1 ? CblasNoTrans : CblasTrans
    cblas_sgemm(CblasRowMajor, transA, transposedB ? CblasTrans : CblasNoTrans, Int32(M), Int32(N), Int32(K), 1, a,
                Int32(ks == 1 ? rs : ks), b, Int32(ldb), accumulate || bias != nil ? 1 : 0, c, Int32(ldc))
}

/// Rows k0 ..< k0 + K and columns j0 ..< j0 + width of B into slabs of K × `slab` columns (64 or 16), slab after
/// slab: bpack[s·slab·K + k·slab + jj] = B[k0 + k, j0 + slab·s + jj], zero past width.
@inline(__always)
private func packB(_ bpack: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, ldb: Int, transposed: Bool,
                   K: Int, k0: Int, j0: Int, width: Int, slab: Int) {
    let slabs = (width + slab - 1) / slab
    for s in 0..<slabs {
        let cols = min(slab, width - slab * s), dst = bpack + s * slab * K, jb = j0 + slab * s
        if !transposed {
            if cols == slab {
                for k in 0..<K {
                    let src = b + (k0 + k) * ldb + jb, d = dst + k * slab
                    for g in stride(from: 0, to: slab, by: 16) { store16(load16(src + g), d + g) }
                }
            } else {
                for k in 0..<K {
                    let d = dst + k * slab
                    d.update(from: b + (k0 + k) * ldb + jb, count: cols)
                    (d + cols).update(repeating: 0, count: slab - cols)
                }
            }
        } else {
            // B[k, j] = b[j·ldb + k]: the slab is the transpose of `cols` stored rows (8 × 8 register blocks).
            quill_transpose_f32(b + jb * ldb + k0, ldb, Int32(cols), Int32(K), dst, slab)
            if cols < slab { for k in 0..<K { (dst + k * slab + cols).update(repeating: 0, count: slab - cols) } }
        }
    }
}

/// Aᵀ stored (A[i, k] = a[k·ks + i]) into tiles of 6 rows: apack[t·8K + k·8 + r] = A[6t + r, k], zero past M;
/// kBlock k at a time over every tile.
/// AVX-512 passes kBlock = K, tile by tile, so that the stores run in order (k by k, the reads at stride ks): k-outer
/// scattered each k's stores over the tiles, 8·K floats apart, and measured 7% of smallGemm at config N.
/// AVX2 passes 16: the 16 rows of Aᵀ (16 · M floats) stay in L1 while each tile takes its 16 × 8 floats. Tile by tile,
/// the reads walk K rows at a stride of ks floats, which for a power-of-two ks map to a few L1 sets: 13% of
/// dW = inpᵀ · dout at 256 × 64 × 256 on a Zen 3.
@inline(__always)
private func packTransposedA(_ apack: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, ks: Int, K: Int, M: Int,
                             kBlock: Int) {
    let tiles = (M + 5) / 6
    var k0 = 0
    while k0 < K {
        let k1 = min(K, k0 + kBlock)
        for t in 0..<tiles {
            var d = apack + t * 8 * K + k0 * 8, src = a + k0 * ks + 6 * t
            if 6 * t + 8 <= M {
                for _ in k0..<k1 { store8(load8(src), d); src += ks; d += 8 }
            } else {   // the last one or two tiles: no 8-float read past row M
                for _ in k0..<k1 {
                    for r in 0..<8 { d[r] = r < 6 && 6 * t + r < M ? src[r] : 0 }
                    src += ks; d += 8
                }
            }
        }
        k0 = k1
    }
}

#if !QUILL_AVX512
/// Rows from ..< to and columns k0 ..< k0 + K of row-major A (row stride rs) into k-major tiles of 6 rows:
/// apack[t·8K + k·8 + r] = A[from + 6t + r, k0 + k] for r < 6 (lanes 6 and 7 hold whatever the transpose left).
/// Tiles with 8 rows of A below their start go through the 8 × 8 transposes; the last ones, row by row.
@inline(__always)
private func packRowBlock(_ apack: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, rs: Int, k0: Int, K: Int,
                          from: Int, to: Int, M: Int) {
    var t = 0, i = from
    while i < to {
        let dst = apack + t * 8 * K, src = a + i * rs + k0
        if i + 8 <= M {
            quill_transpose_f32(src, rs, 8, Int32(K), dst, 8)
        } else {
            let rows = min(6, to - i)
            for r in 0..<rows { for k in 0..<K { dst[k * 8 + r] = src[r * rs + k] } }
        }
        t += 1; i += 6
    }
}
#endif

/// A ragged last tile of row-major A (rows < 6 of them, row stride rs) into apack[k·8 + r], zero past rows.
@inline(__always)
private func packRows(_ apack: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, rs: Int, K: Int, rows: Int) {
    apack.update(repeating: 0, count: 8 * K)
    for r in 0..<rows {
        let src = a + r * rs
        var d = apack + r
        for k in 0..<K { d.pointee = src[k]; d += 8 }
    }
}

#if QUILL_AVX512
/// The 1 to 48 columns of a last slab, 16 at a time (6 × 16 tiles, through the spill buffer at ragged edges).
@inline(never)
private func narrowSlab(K: Int, _ a: UnsafePointer<Float>, rs: Int, inPlace: Bool, _ apack: UnsafePointer<Float>,
                        _ b: UnsafePointer<Float>, rows: Int, cols: Int, _ out: UnsafeMutablePointer<Float>, ldc: Int,
                        _ spill: UnsafeMutablePointer<Float>, accumulate: Bool, bias: UnsafePointer<Float>?) {
    var g = 0
    while g < cols {
        let w = min(16, cols - g)
        let edge = rows < 6 || w < 16
        let dst = edge ? spill : out + g, ld = edge ? 16 : ldc, acc = accumulate && !edge
        let groupBias = bias.map { $0 + g }
        if inPlace {
            gemmTile6x16(K: K, a, rs: rs, ks: 1, b + g, bStride: 64, dst, ldc: ld, accumulate: acc, bias: edge ? nil : groupBias)
        } else {
            gemmTile6x16(K: K, apack, rs: 1, ks: 8, b + g, bStride: 64, dst, ldc: ld, accumulate: acc, bias: edge ? nil : groupBias)
        }
        if edge { copySpill(spill, ld: 16, rows: rows, cols: w, out + g, ldc: ldc, add: accumulate, bias: groupBias) }
        g += 16
    }
}

#endif

/// The real rows and columns of a tile computed into the spill buffer: out = (out if add, else bias, else 0) + v.
@inline(never)
private func copySpill(_ spill: UnsafeMutablePointer<Float>, ld: Int, rows: Int, cols: Int,
                       _ out: UnsafeMutablePointer<Float>, ldc: Int, add: Bool, bias: UnsafePointer<Float>?) {
    for r in 0..<rows {
        let o = out + r * ldc, v = spill + r * ld
        for j in 0..<cols { o[j] = (add ? o[j] : bias?[j] ?? 0) + v[j] }
    }
}

/// 6 rows × 16 columns of a packed slab (row stride bStride): 6 accumulators (12 ymm registers on AVX2).
@inline(__always)
private func gemmTile6x16(K: Int, _ a: UnsafePointer<Float>, rs: Int, ks: Int, _ b: UnsafePointer<Float>, bStride: Int,
                          _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>?) {
    let a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs, a4 = a + 4 * rs, a5 = a + 5 * rs
    var c0 = Float16x(), c1 = Float16x(), c2 = Float16x(), c3 = Float16x(), c4 = Float16x(), c5 = Float16x()
    var bp = b, o = 0
    for _ in 0..<K {
        let w = load16(bp)
        c0 = c0.addingProduct(Float16x(repeating: a0[o]), w)
        c1 = c1.addingProduct(Float16x(repeating: a1[o]), w)
        c2 = c2.addingProduct(Float16x(repeating: a2[o]), w)
        c3 = c3.addingProduct(Float16x(repeating: a3[o]), w)
        c4 = c4.addingProduct(Float16x(repeating: a4[o]), w)
        c5 = c5.addingProduct(Float16x(repeating: a5[o]), w)
        bp += bStride
        o += ks
    }
    storeRow16(c0, c, accumulate: accumulate, bias: bias)
    storeRow16(c1, c + ldc, accumulate: accumulate, bias: bias)
    storeRow16(c2, c + 2 * ldc, accumulate: accumulate, bias: bias)
    storeRow16(c3, c + 3 * ldc, accumulate: accumulate, bias: bias)
    storeRow16(c4, c + 4 * ldc, accumulate: accumulate, bias: bias)
    storeRow16(c5, c + 5 * ldc, accumulate: accumulate, bias: bias)
}

#if !QUILL_AVX512
/// 4 rows × 16 columns of a packed slab of 16 floats per k (MicroGemm.swift's fourRowsTimesPanel), stored as smallGemm
/// stores. For the last 4 rows of a product, whose 6-row tile would spill.
@inline(__always)
private func gemmTile4x16(K: Int, _ a: UnsafePointer<Float>, rs: Int, ks: Int, _ b: UnsafePointer<Float>,
                          c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>?) {
    let (c0, c1, c2, c3) = fourRowsTimesPanel(K: K, a, rs: rs, ks: ks, b)
    storeRow16(c0, c, accumulate: accumulate, bias: bias)
    storeRow16(c1, c + ldc, accumulate: accumulate, bias: bias)
    storeRow16(c2, c + 2 * ldc, accumulate: accumulate, bias: bias)
    storeRow16(c3, c + 3 * ldc, accumulate: accumulate, bias: bias)
}
#endif

@inline(__always)
private func storeRow16(_ v: Float16x, _ c: UnsafeMutablePointer<Float>, accumulate: Bool, bias: UnsafePointer<Float>?) {
    if accumulate {
        store16(v + load16(c), c)
    } else if let bias {
        store16(v + load16(bias), c)
    } else {
        store16(v, c)
    }
}

#if QUILL_AVX512
/// 6 rows × 64 columns, A[r, k] = a[r·rs + k·ks] (in place, or packed with rs = 1, ks = 8) and B a packed slab of
/// 64 floats per k: 24 accumulators, 4 loads of B and 6 broadcasts of A per 24 FMAs.
@inline(__always)
private func gemmTile6x64(K: Int, _ a: UnsafePointer<Float>, rs: Int, ks: Int, _ b: UnsafePointer<Float>,
                          _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>?) {
    let a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs, a4 = a + 4 * rs, a5 = a + 5 * rs
    var c00 = Float16x(), c01 = Float16x(), c02 = Float16x(), c03 = Float16x()
    var c10 = Float16x(), c11 = Float16x(), c12 = Float16x(), c13 = Float16x()
    var c20 = Float16x(), c21 = Float16x(), c22 = Float16x(), c23 = Float16x()
    var c30 = Float16x(), c31 = Float16x(), c32 = Float16x(), c33 = Float16x()
    var c40 = Float16x(), c41 = Float16x(), c42 = Float16x(), c43 = Float16x()
    var c50 = Float16x(), c51 = Float16x(), c52 = Float16x(), c53 = Float16x()
    var bp = b, o = 0
    for _ in 0..<K {
        let w0 = load16(bp), w1 = load16(bp + 16), w2 = load16(bp + 32), w3 = load16(bp + 48)
        var x = Float16x(repeating: a0[o])
        c00 = c00.addingProduct(x, w0); c01 = c01.addingProduct(x, w1)
        c02 = c02.addingProduct(x, w2); c03 = c03.addingProduct(x, w3)
        x = Float16x(repeating: a1[o])
        c10 = c10.addingProduct(x, w0); c11 = c11.addingProduct(x, w1)
        c12 = c12.addingProduct(x, w2); c13 = c13.addingProduct(x, w3)
        x = Float16x(repeating: a2[o])
        c20 = c20.addingProduct(x, w0); c21 = c21.addingProduct(x, w1)
        c22 = c22.addingProduct(x, w2); c23 = c23.addingProduct(x, w3)
        x = Float16x(repeating: a3[o])
        c30 = c30.addingProduct(x, w0); c31 = c31.addingProduct(x, w1)
        c32 = c32.addingProduct(x, w2); c33 = c33.addingProduct(x, w3)
        x = Float16x(repeating: a4[o])
        c40 = c40.addingProduct(x, w0); c41 = c41.addingProduct(x, w1)
        c42 = c42.addingProduct(x, w2); c43 = c43.addingProduct(x, w3)
        x = Float16x(repeating: a5[o])
        c50 = c50.addingProduct(x, w0); c51 = c51.addingProduct(x, w1)
        c52 = c52.addingProduct(x, w2); c53 = c53.addingProduct(x, w3)
        bp += 64
        o += ks
    }
    storeRow64(c00, c01, c02, c03, c, accumulate: accumulate, bias: bias)
    storeRow64(c10, c11, c12, c13, c + ldc, accumulate: accumulate, bias: bias)
    storeRow64(c20, c21, c22, c23, c + 2 * ldc, accumulate: accumulate, bias: bias)
    storeRow64(c30, c31, c32, c33, c + 3 * ldc, accumulate: accumulate, bias: bias)
    storeRow64(c40, c41, c42, c43, c + 4 * ldc, accumulate: accumulate, bias: bias)
    storeRow64(c50, c51, c52, c53, c + 5 * ldc, accumulate: accumulate, bias: bias)
}

@inline(__always)
private func storeRow64(_ v0: Float16x, _ v1: Float16x, _ v2: Float16x, _ v3: Float16x, _ c: UnsafeMutablePointer<Float>,
                        accumulate: Bool, bias: UnsafePointer<Float>?) {
    if accumulate {
        store16(v0 + load16(c), c); store16(v1 + load16(c + 16), c + 16)
        store16(v2 + load16(c + 32), c + 32); store16(v3 + load16(c + 48), c + 48)
    } else if let bias {
        store16(v0 + load16(bias), c); store16(v1 + load16(bias + 16), c + 16)
        store16(v2 + load16(bias + 32), c + 32); store16(v3 + load16(bias + 48), c + 48)
    } else {
        store16(v0, c); store16(v1, c + 16); store16(v2, c + 32); store16(v3, c + 48)
    }
}
#endif
