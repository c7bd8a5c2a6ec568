// Vector helpers for the kernels: unaligned SIMD8 loads and stores, fused multiply-add, and fast exp and tanh
// over SIMD8<Float>. exp is Cephes' expf (range reduction by ln 2, degree-6 polynomial): about 1 ulp.

import CBLAS

public typealias Float8 = SIMD8<Float>
/// 16 floats: one panel row of the packed kernels (two ymm registers on AVX2, one zmm on AVX-512).
public typealias Float16x = SIMD16<Float>

@inline(__always) public func load16(_ p: UnsafePointer<Float>) -> Float16x {
    UnsafeRawPointer(p).loadUnaligned(as: Float16x.self)
}

@inline(__always) public func load16(_ p: UnsafeMutablePointer<Float>) -> Float16x {
    UnsafeRawPointer(p).loadUnaligned(as: Float16x.self)
}

@inline(__always) public func store16(_ v: Float16x, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float16x.self)
}

@inline(__always) public func load8(_ p: UnsafePointer<Float>) -> Float8 {
    UnsafeRawPointer(p).loadUnaligned(as: Float8.self)
}

@inline(__always) public func load8(_ p: UnsafeMutablePointer<Float>) -> Float8 {
    UnsafeRawPointer(p).loadUnaligned(as: Float8.self)
}

@inline(__always) public func store8(_ v: Float8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self)
}

/// a * b + c in one rounding (vfmadd).
@inline(__always) func fma(_ a: Float8, _ b: Float8, _ c: Float8) -> Float8 {
    c.addingProduct(a, b)
}

/// Fast vector e^x. Inputs are clamped to [-87.3, 88.7], the range where e^x is a normal float.
@inline(__always) public func fastExp(_ x: Float8) -> Float8 {
    let lo = Float8(repeating: -87.336_54), hi = Float8(repeating: 88.722_83)
    var x = x.replacing(with: lo, where: x .< lo)
    x = x.replacing(with: hi, where: x .> hi)
    // n = round(x / ln 2) with the 1.5 * 2^23 trick: the integer lands in the low mantissa bits of t.
    let magic = Float8(repeating: 12_582_912.0)
    let t = fma(x, Float8(repeating: 1.442_695_04), magic)
    let n = t - magic
    // r = x - n ln 2, with ln 2 split in two so that n * ln2_hi is exact.
    var r = fma(n, Float8(repeating: -0.693_359_375), x)
    r = fma(n, Float8(repeating: 2.121_944_4e-4), r)
    var p = Float8(repeating: 1.987_569_15e-4)
    p = fma(p, r, Float8(repeating: 1.398_199_95e-3))
    p = fma(p, r, Float8(repeating: 8.333_451_9e-3))
    p = fma(p, r, Float8(repeating: 4.166_579_59e-2))
    p = fma(p, r, Float8(repeating: 1.666_666_55e-1))
    p = fma(p, r, Float8(repeating: 5.000_000_12e-1))
    p = fma(p, r * r, r + 1)
    // 2^n assembled from the exponent bits.
    let k = unsafeBitCast(t, to: SIMD8<UInt32>.self) &- unsafeBitCast(magic, to: SIMD8<UInt32>.self)
    let scale = unsafeBitCast((k &+ 127) &<< 23, to: Float8.self)
    return p * scale
}

/// Fast vector tanh: 1 - 2 / (e^{2x} + 1), odd-symmetric, saturating to ±1 for |x| > 9.
/// |x| < 1/8 uses the Taylor series to x^9 (error < 1e-12), where the exp form would lose digits to cancellation.
@inline(__always) public func fastTanh(_ x: Float8) -> Float8 {
    let absx = vabs(x)
    let ax = absx.replacing(with: 9, where: absx .> 9)
    let e = fastExp(ax + ax)
    var y = 1 - 2 / (e + 1)
    let x2 = x * x
    var poly = Float8(repeating: 62.0 / 2835.0)
    poly = fma(poly, x2, Float8(repeating: -17.0 / 315.0))
    poly = fma(poly, x2, Float8(repeating: 2.0 / 15.0))
    poly = fma(poly, x2, Float8(repeating: -1.0 / 3.0))
    poly = fma(poly, x2, Float8(repeating: 1))
    let series = x * poly
    y = y.replacing(with: -y, where: x .< 0)
    return y.replacing(with: series, where: absx .< 0.125)
}

/// |x| by clearing the sign bits.
@inline(__always) public func vabs(_ x: Float8) -> Float8 {
    unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: Float8.self)
}

/// Scalar tail versions, the same formulas, for the last count % 8 elements of a row.
@inline(__always) public func fastExp(_ x: Float) -> Float { fastExp(Float8(repeating: x))[0] }
@inline(__always) public func fastTanh(_ x: Float) -> Float { fastTanh(Float8(repeating: x))[0] }

/// Lane-wise maximum (the standard library's generic pointwiseMax is not always specialised).
@inline(__always) func vmax(_ a: Float8, _ b: Float8) -> Float8 { a.replacing(with: b, where: b .> a) }

/// Horizontal sum and max, for reductions at the end of a row: halves folded onto each other, 8 → 4 → 2 → 1 (three
/// steps on the critical path, where the standard library's sum() adds the lanes one by one in order and max() was a
/// call, not inlined: together a third of softmaxCausalRow's time at T = 32).
@inline(__always) func hsum(_ v: Float8) -> Float {
    let s4 = v.lowHalf + v.highHalf, s2 = s4.lowHalf + s4.highHalf
    return s2[0] + s2[1]
}
@inline(__always) func hmax(_ v: Float8) -> Float {
    let m4 = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
    let m2 = m4.lowHalf.replacing(with: m4.highHalf, where: m4.highHalf .> m4.lowHalf)
    return m2[1] > m2[0] ? m2[1] : m2[0]
}

/// max(x[0..<n]) (-inf for n = 0), eight lanes at a time.
@inline(__always) public func rowMax(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
    var mx = -Float.infinity
    var j = 0
    if n >= 8 {
        var m8 = Float8(repeating: -.infinity)
        while j + 8 <= n { m8 = vmax(m8, load8(x + j)); j += 8 }
        mx = hmax(m8)
    }
    while j < n { mx = max(mx, x[j]); j += 1 }
    return mx
}

/// The index of the first NaN or infinity in `x`, or nil when every value is finite: one vectorised pass (x·0 is
/// 0 for every finite x and NaN otherwise), used to refuse corrupt weights at load.
public func firstNonFinite(_ x: UnsafeBufferPointer<Float>) -> Int? {
    guard let base = x.baseAddress else { return nil }
    let n = x.count
    var i = 0
    while i + 32 <= n {
        let p = UnsafeRawPointer(base + i)
        var acc = p.loadUnaligned(as: SIMD8<Float>.self) * 0
        acc += p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) * 0
        acc += p.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self) * 0
        acc += p.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self) * 0
        if acc != SIMD8<Float>() { break }  // a NaN lane compares unequal: find it below
        i += 32
    }
    while i < n {
        if !base[i].isFinite { return i }
        i += 1
    }
    return nil
}

/// The index of the first largest value, as the scalar loop `best = 0; for i in 1..<n where x[i] > x[best]` finds
/// it (NaNs never win; a NaN at 0 keeps 0): one vector pass for the max, then a vector search for its first place.
/// Greedy decoding's pick over GPT-2's 50,257 logits, once per token and sequence.
public func argmax(_ x: UnsafeBufferPointer<Float>) -> Int {
    let n = x.count
    guard n > 1, let p = x.baseAddress, !p[0].isNaN else { return 0 }
    let mx = rowMax(UnsafeMutablePointer(mutating: p), n)
    if mx.isFinite || mx == .infinity {
        let m8 = Float8(repeating: mx)
        var j = 0
        while j + 8 <= n {
            if any(load8(p + j) .== m8) { break }
            j += 8
        }
        while j < n { if p[j] == mx { return j }; j += 1 }
    }
    var best = 0   // a max the search did not find (NaNs in the max pass): the scalar loop itself
    for i in 1..<n where p[i] > p[best] { best = i }
    return best
}

/// Lane-wise square root in one vector instruction (CBLAS/shim.h): SIMD8<Float>.squareRoot() calls sqrtf per lane
/// on Linux. Correctly rounded, as sqrtf is, so results are the same bit for bit.
@inlinable @inline(__always) public func vsqrt(_ x: Float8) -> Float8 { quill_sqrt8(x) }
