// The 8-bit kernels against their naive twin: quantize, dequantize, then the float triple loop. The integer path
// (activations quantized too, VNNI builds only) against the same loop on the dequantized activations.
@testable import QuillTensor
import Testing

@Suite("8-bit weights")
struct QuantizedTests {
    // With AVX-512, 8 to 15 rows run 8-row tiles over pairs of panels: (9, 64, 31) has a pair whose second panel
    // is 15 wide, (12, 40, 48) a pair and a lone panel; 16 rows or more dequantize panels in pairs too.
    @Test("the q8 product with float activations (fused rows, 4- and 8-row tiles, dequantized panels) equals dequantize-then-f32, with and without bias, on ragged shapes",
          arguments: [(1, 1, 1), (1, 32, 16), (2, 33, 17), (3, 64, 40), (4, 31, 16), (5, 95, 33), (6, 64, 48),
                      (8, 128, 384), (9, 64, 31), (12, 40, 48), (17, 96, 47), (40, 768, 64)])
    func q8MatchesDequantized(shape: (Int, Int, Int)) {
        let (N, IC, OC) = shape
        let inp = Buf(N * IC, seed: 31), w = Buf(IC * OC, seed: 32, scale: 0.05), bias = Buf(OC, seed: 33)
        let q = Q8Weights(w.b, inChannels: IC, outChannels: OC, activations: .float)
        let dq = q.dequantized()
        defer { freeFloats(dq) }
        for withBias in [true, false] {
            let fast = Buf(N * OC, seed: 34), slow = Buf(N * OC)  // fast starts as noise: every element is written
            q8MatmulForward(fast.b, inp.b, q, withBias ? bias.b : nil, rows: N)
            Reference.matmulForward(slow.b, inp.b, dq, withBias ? bias.b : nil, rows: N, inChannels: IC, outChannels: OC)
            // Only the order of the sums differs (Σ x·q then · scale, against Σ x·(scale·q)).
            #expect(maxRelativeDiff(fast.b, slow.b, count: N * OC).diff < 2e-5, "bias \(withBias)")
        }
    }

    @Test("quantizing loses at most half a step per value: |w − dequantized| ≤ scale / 2, and the scale is max |w| / 127")
    func quantizationError() {
        let IC = 100, OC = 37
        let w = Buf(IC * OC, seed: 41, scale: 0.3)
        w[5 * OC + 3] = 0   // a zero stays zero
        for i in 64..<96 { w[i * OC + 36] = 0 }   // a block that is all zeros (scale 0) dequantizes to zeros
        let q = Q8Weights(w.b, inChannels: IC, outChannels: OC)
        let dq = q.dequantized()
        defer { freeFloats(dq) }
        for j in 0..<OC {
            for b in 0..<((IC + 31) / 32) {
                let rows = (b * 32)..<min(IC, b * 32 + 32)
                let amax = rows.map { abs(w[$0 * OC + j]) }.max()!
                let step = Float(Float16(amax / 127))
                for i in rows {
                    #expect(abs(w[i * OC + j] - dq[i * OC + j]) <= step / 2 * 1.0001 + 1e-7, "w[\(i), \(j)]")
                }
            }
        }
        #expect(dq[5 * OC + 3] == 0)
        #expect((64..<96).allSatisfy { dq[$0 * OC + 36] == 0 })
        #expect(q.bytes == 3 * 4 * (32 + 32 * 16), "3 panels of 4 blocks, each 16 f16 scales and 32 × 16 bytes")
    }

    @Test("the transposed quantizer (a tied LM head) equals quantizing the transposed matrix")
    func transposedHead() {
        let V = 45, C = 70
        let wte = Buf(V * C, seed: 51)
        let t = Buf(C * V)
        for v in 0..<V { for c in 0..<C { t[c * V + v] = wte[v * C + c] } }
        let a = Q8Weights(transposing: wte.b, rows: V, cols: C).dequantized()
        let b = Q8Weights(t.b, inChannels: C, outChannels: V).dequantized()
        defer { freeFloats(a); freeFloats(b) }
        #expect((0..<(V * C)).allSatisfy { a[$0] == b[$0] })
    }

    @Test("the q8 product split over workers is bit-equal to one thread, with either activations",
          arguments: [1, 2, 8], [Q8Weights.Activations.int8, .float])
    func splitIsBitEqual(rows N: Int, activations: Q8Weights.Activations) {
        let IC = 256, OC = 4096 + 8
        let inp = Buf(N * IC, seed: 61), w = Buf(IC * OC, seed: 62, scale: 0.05), bias = Buf(OC, seed: 63)
        let q = Q8Weights(w.b, inChannels: IC, outChannels: OC, activations: activations)
        let one = Buf(N * OC), many = Buf(N * OC, seed: 64)
        q8MatmulForward(one.b, inp.b, q, bias.b, rows: N)
        q8MatmulForward(many.b, inp.b, q, bias.b, rows: N, workers: 2)
        #expect((0..<(N * OC)).allSatisfy { one[$0] == many[$0] })
    }

    /// The naive quantizer of one row of activations, block by block, as Q8Activations documents it.
    static func naiveQuantize(_ x: UnsafeMutablePointer<Float>, inChannels IC: Int)
        -> (values: [Int8], scales: [Float], corrections: [Int32]) {
        let blocks = (IC + 31) / 32
        var values = [Int8](repeating: 0, count: blocks * 32), scales: [Float] = [], corrections: [Int32] = []
        for b in 0..<blocks {
            let k = (32 * b)..<min(IC, 32 * b + 32)
            let amax = k.map { abs(x[$0]) }.max()!
            let s = amax / 127, inverse = s > 0 ? 1 / s : 0
            var sum: Int32 = 0
            for i in k {
                let v = Int8((x[i] * inverse).rounded(.toNearestOrEven))
                values[i] = v
                sum += Int32(v)
            }
            scales.append(s)
            corrections.append(-128 * sum)
        }
        return (values, scales, corrections)
    }

    #if QUILL_VNNI   // the quantizer is the VNNI kernel's
    @Test("quantized activations are the naive quantizer's, bit for bit: ragged blocks, a zero block, a lone large value",
          .enabled(if: Q8Weights.integerKernels), arguments: [1, 31, 32, 33, 100, 768])
    func activationsMatchNaiveQuantizer(inChannels IC: Int) {
        let N = 3
        let x = Buf(N * IC, seed: 71)
        if IC >= 64 { for i in 32..<64 { x[IC + i] = 0 } }   // row 1, block 1: all zeros, scale 0
        x[2 * IC] = 1e6   // row 2, block 0: one value dominates the scale
        let q = Q8Activations(x.b.ptr, rows: N, inChannels: IC)
        defer { q.deallocate() }
        let B = q.blocks
        #expect(B == (IC + 31) / 32)
        for r in 0..<N {
            let naive = Self.naiveQuantize(x.b.ptr + r * IC, inChannels: IC)
            #expect((0..<(B * 32)).allSatisfy { q.values[r * B * 32 + $0] == naive.values[$0] }, "row \(r) values")
            #expect((0..<B).allSatisfy { q.scales[r * B + $0] == naive.scales[$0] }, "row \(r) scales")
            #expect((0..<B).allSatisfy { q.corrections[r * B + $0] == naive.corrections[$0] }, "row \(r) sums")
        }
        #expect(q.values[2 * B * 32] == 127)
    }
    #endif

    // Every row count runs the integer kernel 8 rows at a time: (9, 64, 31) and (15, 33, 17) leave ragged tails of
    // rows, blocks and columns; (37, 96, 47) and (128, 768, 80) are prefills.
    @Test("the integer q8 product (decode and prefill rows) equals dequantized activations times dequantized weights in f32, with and without bias",
          .enabled(if: Q8Weights.integerKernels),
          arguments: [(1, 1, 1), (1, 32, 16), (2, 33, 17), (3, 64, 40), (4, 31, 16), (5, 95, 33), (8, 128, 384),
                      (9, 64, 31), (12, 40, 48), (15, 33, 17), (15, 768, 64), (37, 96, 47), (128, 768, 80)])
    func integerProductMatchesDequantized(shape: (Int, Int, Int)) {
        let (N, IC, OC) = shape
        let inp = Buf(N * IC, seed: 81), w = Buf(IC * OC, seed: 82, scale: 0.05), bias = Buf(OC, seed: 83)
        let q = Q8Weights(w.b, inChannels: IC, outChannels: OC, activations: .int8)
        let dq = q.dequantized()
        let x = Buf(N * IC)   // the activations as the kernel sees them: scale · value
        for r in 0..<N {
            let n = Self.naiveQuantize(inp.b.ptr + r * IC, inChannels: IC)
            for i in 0..<IC { x[r * IC + i] = n.scales[i / 32] * Float(n.values[i]) }
        }
        defer { freeFloats(dq) }
        for withBias in [true, false] {
            let fast = Buf(N * OC, seed: 84), slow = Buf(N * OC)
            q8MatmulForward(fast.b, inp.b, q, withBias ? bias.b : nil, rows: N)
            Reference.matmulForward(slow.b, x.b, dq, withBias ? bias.b : nil, rows: N, inChannels: IC, outChannels: OC)
            // Each block's sum is exact in integers; only the float rounding of the scaled block sums differs.
            #expect(maxRelativeDiff(fast.b, slow.b, count: N * OC).diff < 2e-5, "bias \(withBias)")
        }
    }

    @Test("quantizing the activations moves each output by at most half a step of each input: |int8 − float| ≤ Σ_b (scale_b / 2) · Σ |w|",
          .enabled(if: Q8Weights.integerKernels))
    func integerProductErrorIsBounded() {
        let N = 6, IC = 200, OC = 50
        let inp = Buf(N * IC, seed: 91), w = Buf(IC * OC, seed: 92, scale: 0.05)
        let int8 = Q8Weights(w.b, inChannels: IC, outChannels: OC, activations: .int8)
        let float = Q8Weights(w.b, inChannels: IC, outChannels: OC, activations: .float)
        let dq = int8.dequantized()
        defer { freeFloats(dq) }
        let a = Buf(N * OC), b = Buf(N * OC)
        q8MatmulForward(a.b, inp.b, int8, nil, rows: N)
        q8MatmulForward(b.b, inp.b, float, nil, rows: N)
        var largest: Float = 0
        for r in 0..<N {
            let scales = Self.naiveQuantize(inp.b.ptr + r * IC, inChannels: IC).scales
            for j in 0..<OC {
                var bound: Float = 0
                for i in 0..<IC { bound += scales[i / 32] / 2 * abs(dq[i * OC + j]) }
                let diff = abs(a[r * OC + j] - b[r * OC + j])
                #expect(diff <= bound * 1.001 + 1e-5, "row \(r) column \(j): \(diff) against \(bound)")
                largest = max(largest, diff)
            }
        }
        #expect(largest > 0, "the activations were quantized")
    }
}
