// Helpers for the kernel tests: owned random buffers, comparisons, and a finite-difference gradient check.
import QuillTensor
import Testing

/// A float buffer that frees itself; filled from a seeded normal stream.
final class Buf {
    let b: FloatBuffer
    init(_ count: Int, seed: UInt64? = nil, scale: Float = 1) {
        b = allocateFloats(count)
        if let seed {
            var rng = SplitMix64(seed: seed)
            for i in 0..<count { b[i] = rng.nextGaussian() * scale }
        }
    }
    convenience init(copy other: Buf) {
        self.init(other.b.count)
        for i in 0..<other.b.count { b[i] = other.b[i] }
    }
    deinit { freeFloats(b) }
    var count: Int { b.count }
    subscript(i: Int) -> Float { get { b[i] } set { b[i] = newValue } }
}

final class Tokens {
    let b: TokenBuffer
    init(_ ids: [Int32]) {
        b = TokenBuffer.allocate(capacity: max(1, ids.count))
        _ = b.initialize(fromContentsOf: ids)
    }
    deinit { b.deallocate() }
}

/// Largest |a - b| / max(1, |b|) over the first n elements, with the index where it occurs.
func maxRelativeDiff(_ a: FloatBuffer, _ b: FloatBuffer, count n: Int) -> (diff: Float, index: Int) {
    var worst: Float = 0, at = -1
    for i in 0..<n {
        let d = abs(a[i] - b[i]) / max(1, abs(b[i]))
        if d > worst || d.isNaN { worst = d.isNaN ? .infinity : d; at = i }
    }
    return (worst, at)
}

/// Checks an analytic gradient against centred finite differences of L = Σ out · r (llm.c check_tensor).
/// `loss` recomputes L from the current input values; `analytic` holds dL/dinput. Checks up to `samples` indices.
func checkGradient(_ name: String, input: Buf, analytic: Buf, eps: Float = 1e-2, tolerance: Float = 2e-2,
                   samples: Int = 40, sourceLocation: SourceLocation = #_sourceLocation, loss: () -> Double) {
    let n = input.count
    let stride = max(1, n / samples)
    var worst: Float = 0, worstIndex = -1
    for i in Swift.stride(from: 0, to: n, by: stride) {
        let saved = input[i]
        input[i] = saved + eps
        let lp = loss()
        input[i] = saved - eps
        let lm = loss()
        input[i] = saved
        let numeric = Float((lp - lm) / Double(2 * eps))
        let err = abs(numeric - analytic[i]) / max(0.05, abs(numeric) + abs(analytic[i]))
        if err > worst { worst = err; worstIndex = i }
    }
    #expect(worst < tolerance, "\(name): worst relative error \(worst) at index \(worstIndex)",
            sourceLocation: sourceLocation)
}

/// Σ out · r in Double.
func dot(_ out: FloatBuffer, _ r: Buf, count n: Int) -> Double {
    var s = 0.0
    for i in 0..<n { s += Double(out[i]) * Double(r[i]) }
    return s
}
