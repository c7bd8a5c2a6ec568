// Every fast kernel equals its plain twin (Reference) on awkward shapes: 1, primes, non-multiples of 8.
import Foundation
import QuillTensor
import Testing

@Suite("Fast kernels match their naive twins")
struct KernelTwinTests {
    @Test("fast exp stays within a few ulp of libm over the float range")
    func fastExpAccuracy() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let got = fastExp(x), want = Float(exp(Double(x)))
            worst = max(worst, abs(got - want) / want)
            x += 0.0137
        }
        #expect(worst < 1e-6)
        #expect(fastExp(-1000) < 1e-37)
        #expect(fastExp(Float(0)) == 1)
    }

    @Test("fast tanh stays within 1e-6 of libm, including near zero and in saturation")
    func fastTanhAccuracy() {
        var worst: Float = 0
        var x: Float = -12
        while x < 12 {
            worst = max(worst, abs(fastTanh(x) - Float(tanh(Double(x)))))
            x += 0.00731
        }
        for tiny: Float in [1e-7, -3e-5, 0.001, -0.0039, 0.0041] {
            worst = max(worst, abs(fastTanh(tiny) - Float(tanh(Double(tiny)))) / abs(tiny))
        }
        #expect(worst < 1e-6)
        #expect(fastTanh(Float(0)) == 0)
    }

    @Test("matmul forward and backward equal the triple loop", arguments: [(1, 1, 1), (1, 13, 7), (7, 3, 17), (13, 29, 5), (33, 16, 24)])
    func matmul(shape: (Int, Int, Int)) {
        let (N, IC, OC) = shape
        let inp = Buf(N * IC, seed: 1), w = Buf(IC * OC, seed: 2), bias = Buf(OC, seed: 3), dout = Buf(N * OC, seed: 4)
        let fast = Buf(N * OC), slow = Buf(N * OC)
        matmulForward(fast.b, inp.b, w.b, bias.b, rows: N, inChannels: IC, outChannels: OC)
        Reference.matmulForward(slow.b, inp.b, w.b, bias.b, rows: N, inChannels: IC, outChannels: OC)
        #expect(maxRelativeDiff(fast.b, slow.b, count: N * OC).diff < 1e-5)

        let di1 = Buf(N * IC, seed: 5), dw1 = Buf(IC * OC, seed: 6), db1 = Buf(OC, seed: 7)
        let di2 = Buf(copy: di1), dw2 = Buf(copy: dw1), db2 = Buf(copy: db1)
        matmulBackward(di1.b, dw1.b, db1.b, dout.b, inp.b, w.b, rows: N, inChannels: IC, outChannels: OC)
        Reference.matmulBackward(di2.b, dw2.b, db2.b, dout.b, inp.b, w.b, rows: N, inChannels: IC, outChannels: OC)
        #expect(maxRelativeDiff(di1.b, di2.b, count: N * IC).diff < 1e-5)
        #expect(maxRelativeDiff(dw1.b, dw2.b, count: IC * OC).diff < 1e-5)
        #expect(maxRelativeDiff(db1.b, db2.b, count: OC).diff < 1e-5)
    }

    // Where the build has AVX-512 (QUILL_AVX512) the rows also run in 8-row tiles, of one panel or of two adjacent
    // panels: (9, 40, 31) has a pair whose second panel is 15 wide, (16, 24, 80) a pair and a lone panel.
    @Test("the packed matmul (8-row pair, 8-, 6-, 4- and 1-row tiles) equals the triple loop, with and without bias, on ragged rows and panels",
          arguments: [(1, 1, 1), (1, 13, 7), (3, 5, 16), (4, 16, 17), (5, 29, 33), (6, 31, 40), (8, 128, 384), (9, 40, 31),
                      (16, 24, 80), (17, 64, 47), (130, 32, 33)])
    func packedMatmul(shape: (Int, Int, Int)) {
        let (N, IC, OC) = shape
        let inp = Buf(N * IC, seed: 21), w = Buf(IC * OC, seed: 22), bias = Buf(OC, seed: 23)
        let packed = PackedWeights(w.b, inChannels: IC, outChannels: OC)
        for withBias in [true, false] {
            let fast = Buf(N * OC, seed: 24), slow = Buf(N * OC)  // fast starts as noise: every element is written
            packedMatmulForward(fast.b, inp.b, packed, withBias ? bias.b : nil, rows: N)
            Reference.matmulForward(slow.b, inp.b, w.b, withBias ? bias.b : nil, rows: N, inChannels: IC, outChannels: OC)
            #expect(maxRelativeDiff(fast.b, slow.b, count: N * OC).diff < 1e-5, "bias \(withBias)")
        }
    }

    @Test("the decode LM head (Quill's row kernels: every tile of 1 to 8 rows, up to 16 rows, ragged widths, split or not) equals the triple loop",
          arguments: [(1, 768, 2000), (2, 64, 8200), (3, 100, 3500), (4, 256, 1100), (5, 37, 6000), (16, 64, 1100),
                     (8, 768, 2001), (11, 64, 3001), (6, 100, 1800), (7, 768, 2001), (1, 100, 11000)])
    func headDot(shape: (Int, Int, Int)) {
        let (N, C, V) = shape
        let inp = Buf(N * C, seed: 71), wte = Buf(V * C, seed: 72)
        let slow = Buf(N * V)
        Reference.lmHeadForward(slow.b, inp.b, wte.b, rows: N, C: C, V: V)
        // Large enough that lmHeadForward(…, workers:) takes the row kernel, on one thread and on two.
        #expect(N * C * V >= splitMinimumWork && N <= headDotMaxRows, "a shape the row kernel takes")
        for workers in [1, 2] {
            let fast = Buf(N * V, seed: 73)
            lmHeadForward(fast.b, inp.b, wte.b, rows: N, C: C, V: V, workers: workers)
            // Only the order of the sums differs: 16 lanes and 2 chains against one running sum over C ≤ 768 terms.
            #expect(maxRelativeDiff(fast.b, slow.b, count: N * V).diff < 1e-4, "\(workers) workers")
        }
    }

    @Test("layernorm forward and backward equal the scalar loops", arguments: [(1, 1), (3, 5), (7, 13), (4, 67)])
    func layerNorm(shape: (Int, Int)) {
        let (N, C) = shape
        let inp = Buf(N * C, seed: 11, scale: 3), w = Buf(C, seed: 12), bias = Buf(C, seed: 13), dout = Buf(N * C, seed: 14)
        for i in 0..<(N * C) { inp[i] += 5 }  // an offset, as residual streams have
        let o1 = Buf(N * C), o2 = Buf(N * C), m1 = Buf(N), m2 = Buf(N), r1 = Buf(N), r2 = Buf(N)
        layerNormForward(o1.b, m1.b, r1.b, inp.b, w.b, bias.b, rows: N, C: C)
        Reference.layerNormForward(o2.b, m2.b, r2.b, inp.b, w.b, bias.b, rows: N, C: C)
        #expect(maxRelativeDiff(o1.b, o2.b, count: N * C).diff < 1e-4)
        #expect(maxRelativeDiff(r1.b, r2.b, count: N).diff < 1e-4)
        let di1 = Buf(N * C, seed: 15), dw1 = Buf(C, seed: 16), db1 = Buf(C, seed: 17)
        let di2 = Buf(copy: di1), dw2 = Buf(copy: dw1), db2 = Buf(copy: db1)
        layerNormBackward(di1.b, dw1.b, db1.b, dout.b, inp.b, w.b, m1.b, r1.b, rows: N, C: C)
        Reference.layerNormBackward(di2.b, dw2.b, db2.b, dout.b, inp.b, w.b, m1.b, r1.b, rows: N, C: C)
        #expect(maxRelativeDiff(di1.b, di2.b, count: N * C).diff < 1e-4)
        #expect(maxRelativeDiff(dw1.b, dw2.b, count: C).diff < 1e-4)
        #expect(maxRelativeDiff(db1.b, db2.b, count: C).diff < 1e-5)
    }

    @Test("GELU forward and backward equal libm's tanh formula", arguments: [1, 7, 8, 37, 1000])
    func gelu(n: Int) {
        let inp = Buf(n, seed: 21, scale: 3), dout = Buf(n, seed: 22)
        let o1 = Buf(n), o2 = Buf(n)
        geluForward(o1.b, inp.b, count: n)
        Reference.geluForward(o2.b, inp.b, count: n)
        #expect(maxRelativeDiff(o1.b, o2.b, count: n).diff < 1e-5)
        let d1 = Buf(n, seed: 23), d2 = Buf(copy: d1), d3 = Buf(copy: d1)
        geluBackward(d1.b, inp.b, dout.b, count: n)
        Reference.geluBackward(d2.b, inp.b, dout.b, count: n)
        #expect(maxRelativeDiff(d1.b, d2.b, count: n).diff < 1e-5)
        // With gelu'(x) saved by the forward pass, the backward is one product and gives the same gradient.
        let o3 = Buf(n), deriv = Buf(n)
        geluForward(o3.b, inp.b, count: n, derivative: deriv.b)
        #expect(maxRelativeDiff(o3.b, o1.b, count: n).diff == 0)
        geluBackward(d3.b, derivative: deriv.b, dout.b, count: n)
        #expect(maxRelativeDiff(d3.b, d1.b, count: n).diff == 0)
    }

    @Test("attention forward and backward equal the full-matrix version",
          arguments: [(1, 1, 4, 1), (2, 5, 12, 3), (2, 9, 24, 2), (1, 12, 16, 2), (1, 13, 16, 1), (3, 20, 40, 5),
                     (2, 32, 64, 4), (1, 33, 64, 4), (1, 44, 32, 2)])
    func attention(shape: (Int, Int, Int, Int)) {
        for p: Float in [0, 0.3] {
            let (B, T, C, NH) = shape
            let mask: DropoutMask? = p > 0 ? DropoutMask(key: 99, p: p) : nil
            let inp = Buf(B * T * 3 * C, seed: 31), dout = Buf(B * T * C, seed: 32)
            let scratch = Buf(attentionScratchCount(T: T, headSize: C / NH))
            let o1 = Buf(B * T * C), o2 = Buf(B * T * C), a1 = Buf(B * NH * T * T), a2 = Buf(B * NH * T * T)
            attentionForward(o1.b, a1.b, inp.b, scratch: scratch.b, B: B, T: T, C: C, NH: NH, dropout: mask, sampleOffset: 3)
            Reference.attentionForward(o2.b, a2.b, inp.b, B: B, T: T, C: C, NH: NH, dropout: mask, sampleOffset: 3)
            #expect(maxRelativeDiff(o1.b, o2.b, count: B * T * C).diff < 1e-5)
            #expect(maxRelativeDiff(a1.b, a2.b, count: B * NH * T * T).diff < 1e-5)
            let d1 = Buf(B * T * 3 * C, seed: 33), d2 = Buf(copy: d1)
            attentionBackward(d1.b, dout.b, a1.b, inp.b, scratch: scratch.b, B: B, T: T, C: C, NH: NH, dropout: mask, sampleOffset: 3)
            Reference.attentionBackward(d2.b, dout.b, a2.b, inp.b, B: B, T: T, C: C, NH: NH, dropout: mask, sampleOffset: 3)
            #expect(maxRelativeDiff(d1.b, d2.b, count: B * T * 3 * C).diff < 1e-4)
            // Overwrite mode writes every element once: from a garbage-filled buffer it equals += from zero.
            let d3 = Buf(B * T * 3 * C, seed: 34), d4 = Buf(B * T * 3 * C)
            attentionBackward(d3.b, dout.b, a1.b, inp.b, scratch: scratch.b, B: B, T: T, C: C, NH: NH, dropout: mask, sampleOffset: 3, overwrite: true)
            attentionBackward(d4.b, dout.b, a1.b, inp.b, scratch: scratch.b, B: B, T: T, C: C, NH: NH, dropout: mask, sampleOffset: 3)
            #expect(maxRelativeDiff(d3.b, d4.b, count: B * T * 3 * C).diff == 0)
        }
    }

    @Test("attention split over threads by (sample, head) gives the one-thread result bit for bit", arguments: [2, 3])
    func attentionThreads(threads: Int) {
        let (B, T, C, NH) = (2, 21, 24, 3)
        let mask = DropoutMask(key: 5, p: 0.2)
        let inp = Buf(B * T * 3 * C, seed: 51), dout = Buf(B * T * C, seed: 52)
        let per = attentionScratchCount(T: T, headSize: C / NH)
        let one = Buf(per), many = Buf(threads * per)
        let o1 = Buf(B * T * C), o2 = Buf(B * T * C), a1 = Buf(B * NH * T * T), a2 = Buf(B * NH * T * T)
        attentionForward(o1.b, a1.b, inp.b, scratch: one.b, B: B, T: T, C: C, NH: NH, dropout: mask)
        attentionForward(o2.b, a2.b, inp.b, scratch: many.b, B: B, T: T, C: C, NH: NH, dropout: mask, threads: threads)
        #expect(maxRelativeDiff(o1.b, o2.b, count: B * T * C).diff == 0)
        #expect(maxRelativeDiff(a1.b, a2.b, count: B * NH * T * T).diff == 0)
        let d1 = Buf(B * T * 3 * C), d2 = Buf(B * T * 3 * C)
        attentionBackward(d1.b, dout.b, a1.b, inp.b, scratch: one.b, B: B, T: T, C: C, NH: NH, dropout: mask)
        attentionBackward(d2.b, dout.b, a1.b, inp.b, scratch: many.b, B: B, T: T, C: C, NH: NH, dropout: mask,
                          threads: threads)
        #expect(maxRelativeDiff(d1.b, d2.b, count: B * T * 3 * C).diff == 0)
    }

    @Test("attention over documents packed in rows equals the full-matrix version with the block-diagonal mask",
          arguments: [(2, 9, 24, 2), (1, 33, 64, 4), (3, 20, 40, 5)])
    func attentionDocuments(shape: (Int, Int, Int, Int)) {
        let (B, T, C, NH) = shape
        // A boundary token (id 0) every few tokens, at irregular places.
        let ids = Tokens((0..<(B * T)).map { i in Int32((i * 7 + i / 3) % 5) })
        let starts = Tokens(Array(repeating: 0, count: B * T)), positions = Tokens(Array(repeating: 0, count: B * T))
        documentSegments(starts: starts.b, positions: positions.b, ids.b, boundary: 0, B: B, T: T)
        for p: Float in [0, 0.3] {
            let mask: DropoutMask? = p > 0 ? DropoutMask(key: 98, p: p) : nil
            let inp = Buf(B * T * 3 * C, seed: 35), dout = Buf(B * T * C, seed: 36)
            let scratch = Buf(attentionScratchCount(T: T, headSize: C / NH))
            let o1 = Buf(B * T * C), o2 = Buf(B * T * C), a1 = Buf(B * NH * T * T), a2 = Buf(B * NH * T * T)
            attentionForward(o1.b, a1.b, inp.b, scratch: scratch.b, B: B, T: T, C: C, NH: NH, dropout: mask,
                             sampleOffset: 1, segments: starts.b)
            Reference.attentionForward(o2.b, a2.b, inp.b, B: B, T: T, C: C, NH: NH, dropout: mask, sampleOffset: 1,
                                       segments: starts.b)
            #expect(maxRelativeDiff(o1.b, o2.b, count: B * T * C).diff < 1e-5)
            #expect(maxRelativeDiff(a1.b, a2.b, count: B * NH * T * T).diff < 1e-5)
            let d1 = Buf(B * T * 3 * C), d2 = Buf(B * T * 3 * C)
            attentionBackward(d1.b, dout.b, a1.b, inp.b, scratch: scratch.b, B: B, T: T, C: C, NH: NH, dropout: mask,
                              sampleOffset: 1)
            Reference.attentionBackward(d2.b, dout.b, a2.b, inp.b, B: B, T: T, C: C, NH: NH, dropout: mask, sampleOffset: 1)
            #expect(maxRelativeDiff(d1.b, d2.b, count: B * T * 3 * C).diff < 1e-4)
        }
    }

    @Test("softmax cross-entropy equals the log-sum-exp in Double, ignoring padded rows", arguments: [1, 3, 13, 65, 257])
    func crossEntropy(V: Int) {
        let N = 6
        let logits = Buf(N * V, seed: 41, scale: 4)
        let copy = Buf(copy: logits)
        let targets = Tokens((0..<N).map { $0 == 2 ? ignoreIndex : Int32(($0 * 7) % V) })
        let l1 = Buf(N), l2 = Buf(N)
        let s1 = softmaxCrossEntropyForward(l1.b, logits.b, targets.b, rows: N, V: V)
        let s2 = Reference.softmaxCrossEntropyForward(l2.b, copy.b, targets.b, rows: N, V: V)
        #expect(abs(s1 - s2) < 1e-4 * max(1, abs(s2)))
        #expect(l1[2] == 0)
        #expect(maxRelativeDiff(l1.b, l2.b, count: N).diff < 1e-5)
        #expect(maxRelativeDiff(logits.b, copy.b, count: N * V).diff < 1e-5)  // both now hold probabilities
    }

    @Test("cross-entropy keeps a finite loss where the target's probability underflows")
    func crossEntropyUnderflow() {
        let logits = Buf(3)
        logits[0] = 200; logits[1] = -200; logits[2] = 0
        let losses = Buf(1)
        let t = Tokens([1])
        softmaxCrossEntropyForward(losses.b, logits.b, t.b, rows: 1, V: 3)
        #expect(abs(losses[0] - 400) < 1e-3)
    }
}

@Suite("Zeroed buffers")
struct ZeroedBufferTests {
    @Test("a huge-page buffer starts on a 2 MB boundary, reads as zeros and holds writes at both ends; small ones are plain mappings",
          arguments: [2, 1000, hugePageBytes / 4, hugePageBytes / 4 + 3, 19 * hugePageBytes / 4 + 1])
    func hugePageBuffer(count: Int) {
        let b = allocateZeroedFloats(count, hugePages: true)
        defer { freeZeroedFloats(b) }
        let address = Int(bitPattern: b.baseAddress!)
        #expect(address % 4096 == 0)
        if count * 4 >= hugePageBytes { #expect(address % hugePageBytes == 0) }
        #expect(b[0] == 0 && b[count / 2] == 0 && b[count - 1] == 0)
        b[0] = 1; b[count - 1] = 2
        #expect(b[0] == 1 && b[count - 1] == 2)
    }
}

@Suite("Argmax")
struct ArgmaxTests {
    static func scalar(_ x: [Float]) -> Int {
        var best = 0
        for i in 1..<x.count where x[i] > x[best] { best = i }
        return best
    }

    @Test("argmax is the scalar loop's first largest index: ties, NaNs, infinities, ragged and 50,257-long rows",
          arguments: [1, 2, 9, 31, 50257])
    func matchesScalarLoop(n: Int) {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<12 {
            var x = (0..<n).map { _ in Float(Int.random(in: -20...20, using: &rng)) }  // many ties
            if trial % 3 == 1 { x[Int.random(in: 0..<n, using: &rng)] = .nan }
            if trial % 4 == 2 { x[Int.random(in: 0..<n, using: &rng)] = .infinity }
            if trial == 5 { x = [Float](repeating: -.infinity, count: n) }
            if trial == 7 { x[0] = .nan }
            let fast = x.withUnsafeBufferPointer { argmax($0) }
            #expect(fast == (n == 1 ? 0 : Self.scalar(x)), "n \(n), trial \(trial)")
        }
    }
}

@Suite("Log-sum-exp")
struct LogSumExpTests {
    @Test("logSumExp equals log Σ exp in Double to 1e-5, with banned (-inf) logits, ragged lengths and a 50,257-entry row",
          arguments: [1, 7, 16, 33, 50257])
    func matchesDouble(n: Int) {
        var rng = SystemRandomNumberGenerator()
        var x = (0..<n).map { _ in Float.random(in: -30...12, using: &rng) }
        if n > 2 { x[1] = -.infinity; x[n - 1] = -.infinity }
        let mx = x.max()!
        let exact = log(x.reduce(0.0) { $0 + exp(Double($1 - mx)) }) + Double(mx)
        let fast = x.withUnsafeBufferPointer { logSumExp($0.baseAddress!, $0.count) }
        #expect(abs(Double(fast) - exact) <= 1e-5 * max(1, abs(exact)), "n \(n): \(fast) against \(exact)")
    }

    @Test("logSumExp of all-banned logits is -inf, not NaN")
    func allBanned() {
        let x = [Float](repeating: -.infinity, count: 20)
        #expect(x.withUnsafeBufferPointer { logSumExp($0.baseAddress!, $0.count) } == -.infinity)
    }
}

@Suite("Finite check")
struct FiniteCheckTests {
    @Test("firstNonFinite finds the first NaN or infinity at any position, and nil when all are finite")
    func findsFirst() {
        for n in [0, 1, 7, 31, 32, 33, 100] {
            var x = (0..<n).map { Float($0) * 1e30 }  // large but finite (x·0 stays 0)
            #expect(x.withUnsafeBufferPointer { firstNonFinite($0) } == nil)
            for (i, bad) in [(n - 1, Float.nan), (n / 2, Float.infinity), (0, -Float.infinity)] where i >= 0 && n > 0 {
                let saved = x[i]
                x[i] = bad
                #expect(x.withUnsafeBufferPointer { firstNonFinite($0) } == i, "n \(n), index \(i)")
                x[i] = saved
            }
        }
    }
}

@Suite("Decode attention matches its naive twin")
struct DecodeAttentionTwinTests {
    /// n crosses the 32-position key blocks and the 8-lane tail; hs covers 16-, 8- and 1-channel value loops; `first`
    /// (a document's start) falls on a block's start, inside one, and past a whole block.
    @Test("one query row against a blocked key cache equals softmax(q·K/√hs)·V in Double",
          arguments: [(1, 8, 0), (5, 12, 0), (8, 16, 0), (31, 64, 0), (32, 24, 0), (33, 7, 0), (70, 16, 0),
                      (129, 40, 0), (1, 16, 5), (30, 16, 3), (40, 64, 31), (9, 8, 33), (64, 24, 40)])
    func equalsNaive(shape: (Int, Int, Int)) {
        let (n, hs, first) = shape
        let capacity = (first + n + 31) / 32 * 32 + 32   // a cache wider than its positions, as KVCache's is
        let q = Buf(hs, seed: 1), keys = Buf(n * hs, seed: 2, scale: 2), values = Buf(n * hs, seed: 3)
        // The fast kernel reads keys in blocks of 32 positions (keyOffset); every other lane holds garbage on purpose.
        let blocked = Buf(hs * capacity, seed: 4, scale: 100)
        for j in 0..<n {
            for d in 0..<hs { blocked[keyOffset(position: first + j, channel: d, headSize: hs)] = keys[j * hs + d] }
        }
        let out = Buf(hs), att = Buf(n + 39), want = Buf(hs)
        let scale = 1 / Float(hs).squareRoot()
        let inv = decodeAttentionRow(out: out.b.ptr, att: att.b.ptr, q: q.b.ptr, keys: blocked.b.ptr, first: first,
                                     values: values.b.ptr, stride: hs, n: n, hs: hs, scale: scale)
        let p = Reference.decodeAttentionRow(out: want.b.ptr, q: q.b.ptr, keys: keys.b.ptr, values: values.b.ptr,
                                             n: n, hs: hs, scale: scale)
        var worstOut: Float = 0, worstP: Float = 0
        for d in 0..<hs { worstOut = max(worstOut, abs(out[d] - want[d])) }
        for j in 0..<n { worstP = max(worstP, abs(att[j] * inv - p[j])) }
        // fastExp is within 1e-6 relative (its own test) and the sums run in a different order: 1e-5 on values of
        // order 1 allows for both, where a wrong index or a missed position moves results by 1e-2 or more.
        #expect(worstOut < 1e-5, "out, n \(n) hs \(hs) first \(first)")
        #expect(worstP < 1e-6, "probabilities, n \(n) hs \(hs) first \(first)")
    }
}
