// A register-tiled matrix product for the small, causal products inside attention (T x hs and T x T per head),
// where a BLAS call per head would cost more in overhead and wasted upper-triangle work than it saves.
// One call computes a tile of up to 4 rows; the caller chooses each tile's column count and k range, which is
// how causal masking skips the zero half of the work.

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

/// A[r, k] = a[r·rs + k·ks].
@inline(__always)
private func gemmTile4(n: Int, k0: Int, k1: Int,
                       _ a: UnsafeMutablePointer<Float>, ks: Int, rs: Int,
                       _ b: UnsafeMutablePointer<Float>, ldb: Int,
                       _ c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    let a0p = a, a1p = a + rs, a2p = a + 2 * rs, a3p = a + 3 * rs
    let c0p = c, c1p = c + ldc, c2p = c + 2 * ldc, c3p = c + 3 * ldc
    var j = 0
    // 4 x 16 tile: 8 accumulators, 2 loads of B and 4 broadcasts of A per 8 FMAs.
    while j + 16 <= n {
        var c00 = Float8(), c01 = Float8(), c10 = Float8(), c11 = Float8()
        var c20 = Float8(), c21 = Float8(), c30 = Float8(), c31 = Float8()
        if accumulate {
            c00 = load8(c0p + j); c01 = load8(c0p + j + 8); c10 = load8(c1p + j); c11 = load8(c1p + j + 8)
            c20 = load8(c2p + j); c21 = load8(c2p + j + 8); c30 = load8(c3p + j); c31 = load8(c3p + j + 8)
        }
        var k = k0
        while k < k1 {
            let bp = b + k * ldb + j
            let b0 = load8(bp), b1 = load8(bp + 8)
            let x0 = Float8(repeating: a0p[k * ks]), x1 = Float8(repeating: a1p[k * ks])
            let x2 = Float8(repeating: a2p[k * ks]), x3 = Float8(repeating: a3p[k * ks])
            c00 = fma(x0, b0, c00); c01 = fma(x0, b1, c01)
            c10 = fma(x1, b0, c10); c11 = fma(x1, b1, c11)
            c20 = fma(x2, b0, c20); c21 = fma(x2, b1, c21)
            c30 = fma(x3, b0, c30); c31 = fma(x3, b1, c31)
            k += 1
        }
        store8(c00, c0p + j); store8(c01, c0p + j + 8); store8(c10, c1p + j); store8(c11, c1p + j + 8)
        store8(c20, c2p + j); store8(c21, c2p + j + 8); store8(c30, c3p + j); store8(c31, c3p + j + 8)
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

/// dst[j * ldd + i] = src[i * lds + j] for i in 0..<rows, j in 0..<cols.
@inline(__always)
func transpose(_ dst: UnsafeMutablePointer<Float>, ldd: Int, _ src: UnsafeMutablePointer<Float>, lds: Int,
               rows: Int, cols: Int) {
    // 8 x 8 blocks keep both sides in cache lines; the compiler vectorises the inner copy poorly, which is fine:
    // transposes are O(T²) per head against O(T² hs) for the products they feed.
    var i0 = 0
    while i0 < rows {
        let i1 = min(i0 + 8, rows)
        var j0 = 0
        while j0 < cols {
            let j1 = min(j0 + 8, cols)
            for i in i0..<i1 {
                let s = src + i * lds
                for j in j0..<j1 { dst[j * ldd + i] = s[j] }
            }
            j0 = j1
        }
        i0 = i1
    }
}
