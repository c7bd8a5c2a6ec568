// The multi-core split of one sequence's pass (products by output columns, attention by heads, the LM head by
// vocabulary ranges) against the same pass on one core, and the split kernels against their serial forms.
import Foundation
@testable import QuillModel
import QuillTensor
import Testing

@Suite("Split decode")
struct SplitDecodeTests {
    /// Large enough that every product of a one-row step, the LM head and a 32-token prefill's attention all pass
    /// `splitMinimumWork` (C·4C = 1M, V·C = 1M, 32·32·2C = 1M multiply-adds).
    static let config = GPTConfig(vocabSize: 2048, blockSize: 64, nLayer: 1, nHead: 8, nEmbd: 512)

    @Test("one sequence split over two workers gives the one-worker logits, prefill and decode steps alike")
    func splitEqualsOneCore() throws {
        let model = try GPT(config: Self.config, seed: 3, workers: 1)
        let weights = InferenceWeights(model: model)
        let one = InferenceEngine(weights: weights, workers: 1), two = InferenceEngine(weights: weights, workers: 2)
        let a = KVCache(config: Self.config), b = KVCache(config: Self.config)
        let prompt = (0..<32).map { Int32(($0 * 37) % 2048) }
        var steps = [(try one.extend([(a, prompt)])[0], try two.extend([(b, prompt)])[0])]
        for t in [Int32(5), 900, 2047, 17] {
            steps.append((try one.extend([(a, [t])])[0], try two.extend([(b, [t])])[0]))
        }
        for (serial, split) in steps {
            // The block products and attention are bit-equal (same sums per column and head); the LM head's BLAS
            // calls over vocabulary ranges may order their sums differently: within float rounding of the logits.
            let scale = serial.map(abs).max()!
            let worst = zip(serial, split).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-6 * scale, "worst \(worst) against logits up to \(scale)")
        }
    }

    @Test("a packed product split by panels is bit-equal to the serial one, on widths that are no multiple of 16")
    func packedSplitIsBitEqual() {
        for (N, IC, OC) in [(1, 1024, 1040), (3, 700, 1501), (5, 512, 2048)] {
            var rng = SplitMix64(seed: UInt64(N * OC))
            let w = allocateFloats(IC * OC), x = allocateFloats(N * IC), bias = allocateFloats(OC)
            let serial = allocateFloats(N * OC), split = allocateFloats(N * OC)
            defer { for b in [w, x, bias, serial, split] { freeFloats(b) } }
            for i in 0..<w.count { w[i] = rng.nextGaussian() }
            for i in 0..<x.count { x[i] = rng.nextGaussian() }
            for i in 0..<OC { bias[i] = rng.nextGaussian() }
            let packed = PackedWeights(w, inChannels: IC, outChannels: OC)
            packedMatmulForward(serial, x, packed, bias, rows: N)
            packedMatmulForward(split, x, packed, bias, rows: N, workers: 2)
            #expect(Array(serial) == Array(split), "\(N)×\(IC)×\(OC)")
        }
    }

    @Test("the LM head split over vocabulary ranges matches the whole product")
    func lmHeadSplitMatches() {
        for (N, C, V) in [(1, 512, 2051), (4, 256, 4099)] {
            var rng = SplitMix64(seed: UInt64(V))
            let wte = allocateFloats(V * C), x = allocateFloats(N * C)
            let whole = allocateFloats(N * V), split = allocateFloats(N * V)
            defer { for b in [wte, x, whole, split] { freeFloats(b) } }
            for i in 0..<wte.count { wte[i] = rng.nextGaussian() }
            for i in 0..<x.count { x[i] = rng.nextGaussian() }
            lmHeadForward(whole, x, wte, rows: N, C: C, V: V)
            lmHeadForward(split, x, wte, rows: N, C: C, V: V, workers: 2)
            let worst = zip(Array(whole), Array(split)).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-4, "\(N)×\(C)×\(V): \(worst)")
        }
    }
}
