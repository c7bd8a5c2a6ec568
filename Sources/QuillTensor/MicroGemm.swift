// A register-tiled matrix product for the small, causal products inside attention (T x hs and T x T per head),
// where a BLAS call per head would cost more in overhead and wasted upper-triangle work than it saves.
// One call computes a tile of up to 4 rows; the caller chooses each tile's column count and k range, which is
// how causal masking skips the zero half of the work.

import CQuillKernels

/// C[i, j] (=, or += when accumulate) Σ_{k in k0..<k1} A[i, k] · B[k, j]   for i in 0..<rows (≤ 4), j in 0..<n.
/// Row strides: lda, ldb, ldc. Requires rows in 1...4. With transposedA, A is stored as Aᵀ: A[i, k] = a[k·lda + i],
/// which reads the 4 rows' values for one k from 4 adjacent floats (so Pᵀ·dY needs no transpose of P).
@inline(__always)
func gemmTile(rows: Int, n: Int, k0: Int, k1: Int,
              _ a: UnsafeMutablePointer<Float>, lda: Int, transposedA: Bool = false,
              _ b: UnsafeMutablePointer<Float>, ldb: Int,
              _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    if rows == 4 {
        if transposedA {
            gemmTile4(n: n, k0: k0, k1: k1, a, ks: lda, rs: 1, b, ldb: ldb, c, ldc: ldc, accumulate: accumulate)
        } else {
            gemmTile4(n: n, k0: k0, k1: k1, a, ks: 1, rs: lda, b, ldb: ldb, c, ldc: ldc, accumulate: accumulate)
        }
    } else {
        for i in 0..<rows {
            if transposedA {
                gemmTile1(n: n, k0: k0, k1: k1, a + i, ks: lda, b, ldb: ldb, c + i * ldc, accumulate: accumulate)
            } else {
                gemmTile1(n: n, k0: k0, k1: k1, a + i * lda, ks: 1, b, ldb: ldb, c + i * ldc, accumulate: accumulate)
            }
        }
    }
}

/// Four rows of A times K rows of a 16-float-wide panel of B (row stride 16): 4 accumulators of 16 lanes, 1 load of B
/// and 4 broadcasts of A per 4 FMAs; A[r, k] = a[r·rs + k·ks]. The core that PackedMatmul's panel tiles and
/// smallGemm's 4-row tile each store in their own way.
@inline(__always)
func fourRowsTimesPanel(K: Int, _ a: UnsafePointer<Float>, rs: Int, ks: Int, _ b: UnsafePointer<Float>)
    -> (Float16x, Float16x, Float16x, Float16x) {
    let a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs
    var c0 = Float16x(), c1 = Float16x(), c2 = Float16x(), c3 = Float16x()
    var bp = b, o = 0
    for _ in 0..<K {
        let w = load16(bp)
        c0 = c0.addingProduct(Float16x(repeating: a0[o]), w)
        c1 = c1.addingProduct(Float16x(repeating: a1[o]), w)
        c2 = c2.addingProduct(Float16x(repeating: a2[o]), w)
        c3 = c3.addingProduct(Float16x(repeating: a3[o]), w)
        bp += 16
        o += ks
    }
    return (c0, c1, c2, c3)
}

/// A[r, k] = a[r·rs + k·ks].
@inline(__always)
private func gemmTile4(n: Int, k0: Int, k1: Int,
                       _ a: UnsafeMutablePointer<Float>, ks: Int, rs: Int,
                       _ b: UnsafeMutablePointer<Float>, ldb: Int,
                       _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    let a0p = a, a1p = a + rs, a2p = a + 2 * rs, a3p = a + 3 * rs
    let c0p = c, c1p = c + ldc, c2p = c + 2 * ldc, c3p = c + 3 * ldc
    var j = 0
    // 4 x 16 tile: 4 accumulators of 16 lanes (one zmm each on AVX-512, two ymm on AVX2), 1 load of B and 4
    // broadcasts of A per 4 FMAs.
    while j + 16 <= n {
        var c0 = Float16x(), c1 = Float16x(), c2 = Float16x(), c3 = Float16x()
        if accumulate { c0 = load16(c0p + j); c1 = load16(c1p + j); c2 = load16(c2p + j); c3 = load16(c3p + j) }
        var k = k0
        while k < k1 {
            let w = load16(b + k * ldb + j)
            c0 = c0.addingProduct(Float16x(repeating: a0p[k * ks]), w)
            c1 = c1.addingProduct(Float16x(repeating: a1p[k * ks]), w)
            c2 = c2.addingProduct(Float16x(repeating: a2p[k * ks]), w)
            c3 = c3.addingProduct(Float16x(repeating: a3p[k * ks]), w)
            k += 1
        }
        store16(c0, c0p + j); store16(c1, c1p + j); store16(c2, c2p + j); store16(c3, c3p + j)
        j += 16
    }
    if j + 8 <= n {
        var c0 = Float8(), c1 = Float8(), c2 = Float8(), c3 = Float8()
        if accumulate { c0 = load8(c0p + j); c1 = load8(c1p + j); c2 = load8(c2p + j); c3 = load8(c3p + j) }
        var k = k0
        while k < k1 {
            let b0 = load8(b + k * ldb + j)
            c0 = fma(Float8(repeating: a0p[k * ks]), b0, c0)
            c1 = fma(Float8(repeating: a1p[k * ks]), b0, c1)
            c2 = fma(Float8(repeating: a2p[k * ks]), b0, c2)
            c3 = fma(Float8(repeating: a3p[k * ks]), b0, c3)
            k += 1
        }
        store8(c0, c0p + j); store8(c1, c1p + j); store8(c2, c2p + j); store8(c3, c3p + j)
        j += 8
    }
    if j < n {
        for i in 0..<4 {
            scalarTail(j: j, n: n, k0: k0, k1: k1, a + i * rs, ks: ks, b, ldb: ldb, c + i * ldc, accumulate: accumulate)
        }
    }
}

@inline(__always)
private func gemmTile1(n: Int, k0: Int, k1: Int, _ a: UnsafeMutablePointer<Float>, ks: Int,
                       _ b: UnsafeMutablePointer<Float>, ldb: Int,
                       _ c: UnsafeMutablePointer<Float>, accumulate: Bool) {
    var j = 0
    while j + 8 <= n {
        var acc = accumulate ? load8(c + j) : Float8()
        var k = k0
        while k < k1 { acc = fma(Float8(repeating: a[k * ks]), load8(b + k * ldb + j), acc); k += 1 }
        store8(acc, c + j)
        j += 8
    }
    if j < n { scalarTail(j: j, n: n, k0: k0, k1: k1, a, ks: ks, b, ldb: ldb, c, accumulate: accumulate) }
}

@inline(__always)
private func scalarTail(j: Int, n: Int, k0: Int, k1: Int, _ a: UnsafeMutablePointer<Float>, ks: Int,
                        _ b: UnsafeMutablePointer<Float>, ldb: Int,
                        _ c: UnsafeMutablePointer<Float>, accumulate: Bool) {
    for jj in j..<n {
        var s: Float = accumulate ? c[jj] : 0
        for k in k0..<k1 { s += a[k * ks] * b[k * ldb + jj] }
        c[jj] = s
    }
}

/// dst[j * ldd + i] = src[i * lds + j] for i in 0..<rows, j in 0..<cols: 8 × 8 blocks through AVX registers
/// (transpose.c). The scalar loop before it was 60% of `causalProductWithTranspose` at config N (hs = 16, T = 32),
/// where the product it feeds is only T² · hs / 2 multiply-adds.
@inline(__always)
func transpose(_ dst: UnsafeMutablePointer<Float>, ldd: Int, _ src: UnsafeMutablePointer<Float>, lds: Int,
               rows: Int, cols: Int) {
    quill_transpose_f32(src, lds, Int32(rows), Int32(cols), dst, ldd)
}
