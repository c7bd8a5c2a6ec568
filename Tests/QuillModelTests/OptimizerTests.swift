// AdamW, gradient clipping and the learning-rate schedule against hand-computed values.
import Foundation
import QuillModel
import QuillTensor
import Testing

@Suite("Optimizer")
struct OptimizerTests {
    @Test("AdamW decays 2-D weights only and takes PyTorch's first step, in vector and scalar lanes")
    func adamwFirstStep() {
        var layout = ParameterLayout()
        layout.append("w", [5, 7])   // 35 values: vector lanes and a scalar tail
        layout.append("b", [3])
        let n = layout.count
        let params = allocateFloats(n), grads = allocateFloats(n)
        defer { freeFloats(params); freeFloats(grads) }
        var rng = SplitMix64(seed: 1)
        for i in 0..<n { params[i] = rng.nextGaussian(); grads[i] = rng.nextGaussian() }
        let before = (0..<n).map { params[$0] }
        let opt = AdamW(layout: layout, config: AdamWConfig(beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1), workers: 2)
        opt.update(params: params, grads: grads, lr: 0.01)
        // Step 1: m̂ = g and v̂ = g², so the Adam step is lr·sign(g) (up to eps); decay multiplies by 1 - lr·wd.
        for i in 0..<n {
            let decay: Float = i < 35 ? 0.999 : 1
            let want = before[i] * decay - 0.01 * (grads[i] > 0 ? 1 : -1)
            #expect(abs(params[i] - want) < 1e-5, "index \(i)")
        }
        #expect(opt.step == 1)
    }

    @Test("clipping scales the global gradient norm down to the limit and leaves small ones alone")
    func clipping() {
        let g = allocateFloats(1001)
        defer { freeFloats(g) }
        for i in 0..<1001 { g[i] = 3 }
        let norm = clipGradientNorm(g, maxNorm: 1, workers: 2)
        #expect(abs(norm - 3 * Float(1001).squareRoot()) < 1e-2)
        var s: Float = 0
        for i in 0..<1001 { s += g[i] * g[i] }
        #expect(abs(s.squareRoot() - 1) < 1e-4)
        let again = clipGradientNorm(g, maxNorm: 5)
        #expect(abs(again - 1) < 1e-4 && abs(g[0] - 1 / Float(1001).squareRoot()) < 1e-5)
    }

    @Test("the clipping factor applied inside AdamW's update gives the same parameters as clipping first")
    func clipInsideUpdate() {
        var layout = ParameterLayout()
        layout.append("w", [9, 11])   // 99 values: vector lanes and a scalar tail
        layout.append("b", [5])
        let n = layout.count
        let p1 = allocateFloats(n), p2 = allocateFloats(n), g1 = allocateFloats(n), g2 = allocateFloats(n)
        defer { for b in [p1, p2, g1, g2] { freeFloats(b) } }
        var rng = SplitMix64(seed: 7)
        for i in 0..<n { p1[i] = rng.nextGaussian(); p2[i] = p1[i] }
        let a = AdamW(layout: layout, workers: 2), b = AdamW(layout: layout, workers: 2)
        var clipped = 0
        for step in 0..<4 {
            // Norms of about 3, 6, 9, 12 against a limit of 5: the first step is left alone, the others clipped.
            for i in 0..<n { g1[i] = Float(step + 1) * 0.3 * rng.nextGaussian(); g2[i] = g1[i] }
            let norm = clipGradientNorm(g1, maxNorm: 5, workers: 2)
            a.update(params: p1, grads: g1, lr: 0.01)
            #expect(gradientNorm(g2, workers: 2) == norm)
            let factor = clipFactor(norm: gradientNorm(g2, workers: 2), maxNorm: 5)
            if factor < 1 { clipped += 1 }
            b.update(params: p2, grads: g2, lr: 0.01, gradScale: factor)
            for i in 0..<n { #expect(p1[i] == p2[i], "step \(step), index \(i)") }
            for i in 0..<n { #expect(a.m[i] == b.m[i] && a.v[i] == b.v[i]) }
        }
        #expect(clipped == 3)
        #expect(clipFactor(norm: .nan, maxNorm: 1) == 1 && clipFactor(norm: 0.5, maxNorm: 1) == 1)
    }

    @Test("the schedule warms up linearly, decays along a cosine, then holds the minimum")
    func schedule() {
        let s = LearningRateSchedule(maxLR: 1e-3, minLR: 1e-4, warmupSteps: 10, decaySteps: 110)
        #expect(abs(s.rate(at: 0) - 1e-4) < 1e-9)
        #expect(abs(s.rate(at: 9) - 1e-3) < 1e-9)
        #expect(abs(s.rate(at: 10) - 1e-3) < 1e-9)
        #expect(abs(s.rate(at: 60) - 5.5e-4) < 1e-8)
        #expect(abs(s.rate(at: 110) - 1e-4) < 1e-9)
        #expect(abs(s.rate(at: 5000) - 1e-4) < 1e-9)
    }
}
