// The 8-bit kernels against their naive twin: quantize, dequantize, then the float triple loop.
import QuillTensor
import Testing

@Suite("8-bit weights")
struct QuantizedTests {
    // With AVX-512, 8 to 15 rows run 8-row tiles over pairs of panels: (9, 64, 31) has a pair whose second panel
    // is 15 wide, (12, 40, 48) a pair and a lone panel; 16 rows or more dequantize panels in pairs too.
    @Test("the q8 product (fused rows, 4- and 8-row tiles, dequantized panels) equals dequantize-then-f32, with and without bias, on ragged shapes",
          arguments: [(1, 1, 1), (1, 32, 16), (2, 33, 17), (3, 64, 40), (4, 31, 16), (5, 95, 33), (6, 64, 48),
                      (8, 128, 384), (9, 64, 31), (12, 40, 48), (17, 96, 47), (40, 768, 64)])
    func q8MatchesDequantized(shape: (Int, Int, Int)) {
        let (N, IC, OC) = shape
        let inp = Buf(N * IC, seed: 31), w = Buf(IC * OC, seed: 32, scale: 0.05), bias = Buf(OC, seed: 33)
        let q = Q8Weights(w.b, inChannels: IC, outChannels: OC)
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

    @Test("the q8 product split over workers is bit-equal to one thread", arguments: [1, 2, 8])
    func splitIsBitEqual(rows N: Int) {
        let IC = 256, OC = 4096 + 8
        let inp = Buf(N * IC, seed: 61), w = Buf(IC * OC, seed: 62, scale: 0.05), bias = Buf(OC, seed: 63)
        let q = Q8Weights(w.b, inChannels: IC, outChannels: OC)
        let one = Buf(N * OC), many = Buf(N * OC, seed: 64)
        q8MatmulForward(one.b, inp.b, q, bias.b, rows: N)
        q8MatmulForward(many.b, inp.b, q, bias.b, rows: N, workers: 2)
        #expect((0..<(N * OC)).allSatisfy { one[$0] == many[$0] })
    }
}
