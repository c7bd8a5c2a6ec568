// AdamW (Loshchilov & Hutter) with decoupled weight decay on 2-D weights only, global gradient-norm clipping,
// and the learning-rate schedule (linear warmup, then cosine decay), all over the flat parameter layout.
import Foundation
import QuillTensor

public struct AdamWConfig: Codable, Sendable, Equatable {
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float

    public init(beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8, weightDecay: Float = 0.1) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }
}

/// The optimizer's state: first and second moments in the parameters' layout, and the step count.
public final class AdamW: @unchecked Sendable {
    public let config: AdamWConfig
    public let layout: ParameterLayout
    public let m: FloatBuffer
    public let v: FloatBuffer
    public var step = 0
    private let workers: Int

    /// m and v side by side in one block of at least 2 MB, offered to transparent huge pages.
    private let block: FloatBuffer

    public init(layout: ParameterLayout, config: AdamWConfig = AdamWConfig(), workers: Int = Parallel.defaultWorkers) {
        self.layout = layout
        self.config = config
        let n = layout.count
        block = allocateHugeFloats(2 * n).block
        self.m = block.slice(0, n)
        self.v = block.slice(n, n)
        self.workers = max(1, workers)
    }

    deinit {
        freeZeroedFloats(block)
    }

    /// One update of `params` from `grads` at learning rate lr (PyTorch's AdamW: decay, then the Adam step).
    /// gradScale multiplies each gradient as it is read (the clipping factor of `clipFactor`, so that clipping
    /// costs no pass of its own); 1 reads them as they are.
    public func update(params: FloatBuffer, grads: FloatBuffer, lr: Float, gradScale: Float = 1) {
        precondition(params.count == layout.count && grads.count == layout.count)
        step += 1
        let b1 = config.beta1, b2 = config.beta2, eps = config.eps
        let bc1 = 1 - Float(pow(Double(b1), Double(step)))
        let bc2 = 1 - Float(pow(Double(b2), Double(step)))
        let stepSize = lr / bc1
        let bc2Sqrt = bc2.squareRoot()
        let tensors = layout.tensors
        let m = self.m, v = self.v, wd = config.weightDecay
        Parallel.forEach(workers) { part in
            let range = Parallel.range(part, of: self.workers, total: self.layout.count)
            for t in tensors {
                let lo = max(t.offset, range.lowerBound), hi = min(t.offset + t.count, range.upperBound)
                guard lo < hi else { continue }
                let decay = t.decays ? 1 - lr * wd : 1
                // p ← p·(1 − lr·wd) − lr · m̂ / (√v̂ + eps), with the bias corrections folded in as PyTorch does.
                let pp = params.ptr, gp = grads.ptr, mp = m.ptr, vp = v.ptr
                let b1v = SIMD8<Float>(repeating: b1), b2v = SIMD8<Float>(repeating: b2)
                let ib1 = SIMD8<Float>(repeating: 1 - b1), ib2 = SIMD8<Float>(repeating: 1 - b2)
                let dv = SIMD8<Float>(repeating: decay), sv = SIMD8<Float>(repeating: stepSize)
                let inv = SIMD8<Float>(repeating: 1 / bc2Sqrt), ev = SIMD8<Float>(repeating: eps)
                let gs = SIMD8<Float>(repeating: gradScale)
                var i = lo
                while i + 8 <= hi {
                    let g = load8(gp + i) * gs
                    let mi = b1v * load8(mp + i) + ib1 * g
                    let vi = b2v * load8(vp + i) + ib2 * g * g
                    store8(mi, mp + i)
                    store8(vi, vp + i)
                    store8(load8(pp + i) * dv - sv * mi / (vsqrt(vi) * inv + ev), pp + i)
                    i += 8
                }
                while i < hi {
                    let g = grads[i] * gradScale
                    let mi = b1 * m[i] + (1 - b1) * g
                    let vi = b2 * v[i] + (1 - b2) * g * g
                    m[i] = mi
                    v[i] = vi
                    params[i] = params[i] * decay - stepSize * mi / (vi.squareRoot() / bc2Sqrt + eps)
                    i += 1
                }
            }
        }
    }
}

/// The global L2 norm of the gradients; when it exceeds maxNorm, scales them down to maxNorm (PyTorch's
/// clip_grad_norm_). Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ grads: FloatBuffer, maxNorm: Float, workers: Int = Parallel.defaultWorkers) -> Float {
    let norm = gradientNorm(grads, workers: workers)
    let factor = clipFactor(norm: norm, maxNorm: maxNorm)
    if factor != 1 { scale(grads, by: factor, workers: workers) }
    return norm
}

/// What clip_grad_norm_ multiplies the gradients by: maxNorm / (norm + 1e-6) when the norm exceeds maxNorm (and is
/// finite), else 1. AdamW.update(gradScale:) applies it as it reads them.
public func clipFactor(norm: Float, maxNorm: Float) -> Float {
    norm > maxNorm && norm.isFinite ? maxNorm / (norm + 1e-6) : 1
}

/// The global L2 norm of the gradients.
public func gradientNorm(_ grads: FloatBuffer, workers: Int = Parallel.defaultWorkers) -> Float {
    let parts = max(1, workers)
    var partial = [Double](repeating: 0, count: parts)
    partial.withUnsafeMutableBufferPointer { acc in
        Parallel.forEach(parts) { p in
            let r = Parallel.range(p, of: parts, total: grads.count)
            var s8 = SIMD8<Float>(), s = 0.0
            var i = r.lowerBound
            // Blocks of 1024 summed in Float, then carried in Double: fast and accurate for millions of values.
            while i < r.upperBound {
                let end = min(i + 1024, r.upperBound)
                var j = i
                s8 = .zero
                while j + 8 <= end {
                    let g = load8(grads.ptr + j)
                    s8 = s8.addingProduct(g, g)
                    j += 8
                }
                var tail: Float = 0
                while j < end { tail += grads[j] * grads[j]; j += 1 }
                s += Double(s8.sum() + tail)
                i = end
            }
            acc[p] = s
        }
    }
    return Float(partial.reduce(0, +).squareRoot())
}

/// x *= factor, split over the cores (gradient clipping, and averaging accumulated micro-batch gradients).
public func scale(_ x: FloatBuffer, by factor: Float, workers: Int = Parallel.defaultWorkers) {
    let parts = max(1, workers)
    let s8 = SIMD8<Float>(repeating: factor)
    Parallel.forEach(parts) { p in
        let r = Parallel.range(p, of: parts, total: x.count)
        var i = r.lowerBound
        while i + 8 <= r.upperBound { store8(load8(x.ptr + i) * s8, x.ptr + i); i += 8 }
        while i < r.upperBound { x[i] *= factor; i += 1 }
    }
}

/// Linear warmup to maxLR over warmupSteps, then cosine decay to minLR at decaySteps, then minLR.
public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public var maxLR: Float
    public var minLR: Float
    public var warmupSteps: Int
    public var decaySteps: Int

    public init(maxLR: Float, minLR: Float, warmupSteps: Int, decaySteps: Int) {
        self.maxLR = maxLR
        self.minLR = minLR
        self.warmupSteps = warmupSteps
        self.decaySteps = decaySteps
    }

    /// The rate for step (0-based).
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return maxLR * Float(step + 1) / Float(warmupSteps) }
        if step >= decaySteps { return minLR }
        let progress = Double(step - warmupSteps) / Double(max(1, decaySteps - warmupSteps))
        return minLR + Float(0.5 * (1 + cos(Double.pi * progress))) * (maxLR - minLR)
    }
}
