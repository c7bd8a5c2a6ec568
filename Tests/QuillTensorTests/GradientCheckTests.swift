// Finite-difference gradient checks for every kernel's backward pass: L = Σ out · r for a fixed random r,
// centred differences on sampled inputs, relative error bounded.
import QuillTensor
import Testing

@Suite("Every backward pass matches finite differences")
struct GradientCheckTests {
    @Test("matmul gradients for input, weight and bias")
    func matmul() {
        let N = 5, IC = 7, OC = 6
        let inp = Buf(N * IC, seed: 1), w = Buf(IC * OC, seed: 2), b = Buf(OC, seed: 3), r = Buf(N * OC, seed: 4)
        let out = Buf(N * OC)
        func loss() -> Double {
            matmulForward(out.b, inp.b, w.b, b.b, rows: N, inChannels: IC, outChannels: OC)
            return dot(out.b, r, count: N * OC)
        }
        let di = Buf(N * IC), dw = Buf(IC * OC), db = Buf(OC)
        matmulBackward(di.b, dw.b, db.b, r.b, inp.b, w.b, rows: N, inChannels: IC, outChannels: OC)
        checkGradient("matmul dinp", input: inp, analytic: di, loss: loss)
        checkGradient("matmul dweight", input: w, analytic: dw, loss: loss)
        checkGradient("matmul dbias", input: b, analytic: db, loss: loss)
    }

    @Test("LM head gradients for input and tied embedding")
    func lmHead() {
        let N = 4, C = 9, V = 11
        let inp = Buf(N * C, seed: 5), wte = Buf(V * C, seed: 6), r = Buf(N * V, seed: 7), out = Buf(N * V)
        func loss() -> Double {
            lmHeadForward(out.b, inp.b, wte.b, rows: N, C: C, V: V)
            return dot(out.b, r, count: N * V)
        }
        let di = Buf(N * C), dw = Buf(V * C)
        lmHeadBackward(di.b, dw.b, r.b, inp.b, wte.b, rows: N, C: C, V: V)
        checkGradient("lm head dinp", input: inp, analytic: di, loss: loss)
        checkGradient("lm head dwte", input: wte, analytic: dw, loss: loss)
    }

    @Test("layernorm gradients for input, weight and bias")
    func layerNorm() {
        let N = 4, C = 11
        let inp = Buf(N * C, seed: 8), w = Buf(C, seed: 9), b = Buf(C, seed: 10), r = Buf(N * C, seed: 11)
        let out = Buf(N * C), mean = Buf(N), rstd = Buf(N)
        func loss() -> Double {
            layerNormForward(out.b, mean.b, rstd.b, inp.b, w.b, b.b, rows: N, C: C)
            return dot(out.b, r, count: N * C)
        }
        _ = loss()
        let di = Buf(N * C), dw = Buf(C), db = Buf(C)
        layerNormBackward(di.b, dw.b, db.b, r.b, inp.b, w.b, mean.b, rstd.b, rows: N, C: C)
        checkGradient("layernorm dinp", input: inp, analytic: di, eps: 3e-3, loss: loss)
        checkGradient("layernorm dweight", input: w, analytic: dw, loss: loss)
        checkGradient("layernorm dbias", input: b, analytic: db, loss: loss)
    }

    @Test("GELU gradient")
    func gelu() {
        let n = 29
        let inp = Buf(n, seed: 12, scale: 2), r = Buf(n, seed: 13), out = Buf(n)
        func loss() -> Double { geluForward(out.b, inp.b, count: n); return dot(out.b, r, count: n) }
        let di = Buf(n)
        geluBackward(di.b, inp.b, r.b, count: n)
        checkGradient("gelu", input: inp, analytic: di, eps: 1e-3, loss: loss)
    }

    @Test("attention gradients for q, k and v, with and without dropout", arguments: [Float(0), 0.25])
    func attention(p: Float) {
        let B = 2, T = 6, C = 8, NH = 2
        let mask: DropoutMask? = p > 0 ? DropoutMask(key: 7, p: p) : nil
        let inp = Buf(B * T * 3 * C, seed: 14), r = Buf(B * T * C, seed: 15)
        let out = Buf(B * T * C), att = Buf(B * NH * T * T), scratch = Buf(attentionScratchCount(T: T, headSize: C / NH))
        func loss() -> Double {
            attentionForward(out.b, att.b, inp.b, scratch: scratch.b, B: B, T: T, C: C, NH: NH, dropout: mask)
            return dot(out.b, r, count: B * T * C)
        }
        _ = loss()
        let di = Buf(B * T * 3 * C)
        attentionBackward(di.b, r.b, att.b, inp.b, scratch: scratch.b, B: B, T: T, C: C, NH: NH, dropout: mask)
        checkGradient("attention dqkv", input: inp, analytic: di, eps: 3e-3, samples: 120, loss: loss)
    }

    @Test("attention gradients with documents packed in a row (block-diagonal mask), with and without dropout",
          arguments: [Float(0), 0.25])
    func attentionDocuments(p: Float) {
        let B = 2, T = 7, C = 8, NH = 2
        let mask: DropoutMask? = p > 0 ? DropoutMask(key: 9, p: p) : nil
        // Row 0: documents start at 0, 3 and 4 (token 5 is the boundary); row 1: one document.
        let ids = Tokens([1, 2, 3, 5, 5, 2, 1, 2, 2, 3, 1, 4, 0, 1])
        let starts = Tokens(Array(repeating: 0, count: B * T)), positions = Tokens(Array(repeating: 0, count: B * T))
        documentSegments(starts: starts.b, positions: positions.b, ids.b, boundary: 5, B: B, T: T)
        #expect(Array(starts.b) == [0, 0, 0, 3, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(positions.b) == [0, 1, 2, 0, 0, 1, 2, 0, 1, 2, 3, 4, 5, 6])
        let inp = Buf(B * T * 3 * C, seed: 24), r = Buf(B * T * C, seed: 25)
        let out = Buf(B * T * C), att = Buf(B * NH * T * T), scratch = Buf(attentionScratchCount(T: T, headSize: C / NH))
        func loss() -> Double {
            attentionForward(out.b, att.b, inp.b, scratch: scratch.b, B: B, T: T, C: C, NH: NH, dropout: mask,
                             segments: starts.b)
            return dot(out.b, r, count: B * T * C)
        }
        _ = loss()
        // No weight reaches across a document's start.
        for h in 0..<NH { for t in 0..<T { for t2 in 0..<Int(starts.b[t]) { #expect(att[(h * T + t) * T + t2] == 0) } } }
        let di = Buf(B * T * 3 * C)
        attentionBackward(di.b, r.b, att.b, inp.b, scratch: scratch.b, B: B, T: T, C: C, NH: NH, dropout: mask)
        checkGradient("attention dqkv (documents)", input: inp, analytic: di, eps: 3e-3, samples: 120, loss: loss)
    }

    @Test("softmax cross-entropy gradient, with an ignored row")
    func crossEntropy() {
        let N = 4, V = 9
        let logits = Buf(N * V, seed: 16, scale: 2)
        let targets = Tokens([3, ignoreIndex, 0, 8])
        let probs = Buf(N * V), losses = Buf(N)
        func loss() -> Double {
            for i in 0..<(N * V) { probs[i] = logits[i] }
            return softmaxCrossEntropyForward(losses.b, probs.b, targets.b, rows: N, V: V) / 3
        }
        _ = loss()
        softmaxCrossEntropyBackward(probs.b, targets.b, dloss: 1.0 / 3, rows: N, V: V)
        let d = Buf(copy: probs)
        checkGradient("cross-entropy", input: logits, analytic: d, eps: 1e-3, samples: 36, loss: loss)
        for v in 0..<V { #expect(d[V + v] == 0) }
    }

    @Test("encoder gradients for token and position tables")
    func encoder() {
        let B = 2, T = 3, C = 5, V = 4
        let wte = Buf(V * C, seed: 17), wpe = Buf(T * C, seed: 18), r = Buf(B * T * C, seed: 19), out = Buf(B * T * C)
        let inp = Tokens([0, 2, 2, 3, 0, 1])
        func loss() -> Double {
            encoderForward(out.b, inp.b, wte.b, wpe.b, B: B, T: T, C: C)
            return dot(out.b, r, count: B * T * C)
        }
        let dwte = Buf(V * C), dwpe = Buf(T * C)
        encoderBackward(dwte.b, dwpe.b, r.b, inp.b, B: B, T: T, C: C)
        checkGradient("encoder dwte", input: wte, analytic: dwte, loss: loss)
        checkGradient("encoder dwpe", input: wpe, analytic: dwpe, loss: loss)
    }

    @Test("encoder gradients when positions restart at each document")
    func encoderPositions() {
        let B = 2, T = 3, C = 5, V = 4
        let wte = Buf(V * C, seed: 27), wpe = Buf(T * C, seed: 28), r = Buf(B * T * C, seed: 29), out = Buf(B * T * C)
        let inp = Tokens([0, 2, 2, 3, 0, 1]), positions = Tokens([0, 0, 1, 0, 1, 2])
        func loss() -> Double {
            encoderForward(out.b, inp.b, wte.b, wpe.b, B: B, T: T, C: C, positions: positions.b)
            return dot(out.b, r, count: B * T * C)
        }
        _ = loss()
        // Row 0's second token sits at position 0: its embedding is wte[2] + wpe[0].
        for c in 0..<C { #expect(out[C + c] == wte[2 * C + c] + wpe[c]) }
        let dwte = Buf(V * C), dwpe = Buf(T * C)
        encoderBackward(dwte.b, dwpe.b, r.b, inp.b, B: B, T: T, C: C, positions: positions.b)
        checkGradient("encoder dwte (positions)", input: wte, analytic: dwte, loss: loss)
        checkGradient("encoder dwpe (positions)", input: wpe, analytic: dwpe, loss: loss)
    }

    @Test("residual and dropout pass gradients through exactly")
    func residualAndDropout() {
        let n = 19
        let a = Buf(n, seed: 20), b = Buf(n, seed: 21), r = Buf(n, seed: 22), out = Buf(n)
        let mask = DropoutMask(key: 3, p: 0.4)
        func loss() -> Double {
            residualForward(out.b, a.b, b.b, count: n)
            dropoutForward(out.b, mask: mask, count: n)
            return dot(out.b, r, count: n)
        }
        let dout = Buf(copy: r)
        dropoutBackward(dout.b, mask: mask, count: n)
        let da = Buf(n), db = Buf(n)
        residualBackward(da.b, db.b, dout.b, count: n)
        checkGradient("residual da", input: a, analytic: da, loss: loss)
        checkGradient("residual db", input: b, analytic: db, loss: loss)
    }

    @Test("dropout keeps about 1 - p of the elements and scales them by 1 / (1 - p)")
    func dropoutStatistics() {
        let n = 100_000
        let x = Buf(n)
        for i in 0..<n { x[i] = 1 }
        dropoutForward(x.b, mask: DropoutMask(key: 42, p: 0.2), count: n)
        var kept = 0
        for i in 0..<n where x[i] != 0 { kept += 1; #expect(abs(x[i] - 1.25) < 1e-6) }
        #expect(abs(Double(kept) / Double(n) - 0.8) < 0.01)
    }
}
