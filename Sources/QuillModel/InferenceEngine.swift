// Inference with KV caches: a forward pass over only the new tokens of many sequences at once (prompt prefill
// and one-token decode steps alike), each attending to its own cache. Rows are split by sequence over the cores,
// each worker running its sequences' rows through every layer single-threaded, as in training.
import Foundation
import QuillTensor

public final class InferenceEngine: @unchecked Sendable {
    /// The weights it decodes with: borrowed embeddings and norms, the block matrices packed (InferenceWeights).
    public let weights: InferenceWeights
    public var config: GPTConfig { weights.config }
    private let workerLimit: Int
    private var scratch: [InferenceScratch] = []

    /// An engine over decode weights built once (from a mapped file, or from a model).
    public init(weights: InferenceWeights, workers: Int = Parallel.defaultWorkers) {
        self.weights = weights
        self.workerLimit = max(1, workers)
    }

    /// Packs the model's weights: an engine decodes with the weights as they were at its creation, so make a new
    /// one after training changes them.
    public convenience init(model: GPT, workers: Int = Parallel.defaultWorkers) {
        self.init(weights: InferenceWeights(model: model), workers: workers)
    }

    /// The softmax attention weights of every layer and head for `tokens` (one sequence of at most block_size
    /// tokens), computed by a prefill into a fresh cache: [layer][head][query][key], each row summing to 1, zero
    /// above the diagonal.
    public func attention(tokens: [Int32]) throws(ModelError) -> [[[[Float]]]] {
        let c = config, T = tokens.count
        guard T >= 1 else { throw .invalidBatch("attention needs at least one token") }
        guard T <= c.blockSize else {
            throw .invalidBatch("\(T) tokens exceed the context of \(c.blockSize)")
        }
        for (i, t) in tokens.enumerated() where t < 0 || Int(t) >= c.vocabSize {
            throw .tokenOutOfRange(id: t, index: i, vocabSize: c.vocabSize)
        }
        let capture = allocateFloats(c.nLayer * c.nHead * T * T)
        defer { freeFloats(capture) }
        while scratch.isEmpty { scratch.append(InferenceScratch()) }
        _ = scratch[0].run(weights: weights, items: [(KVCache(config: c), tokens)], capture: capture)
        return (0..<c.nLayer).map { l in
            (0..<c.nHead).map { h in
                (0..<T).map { t in
                    Array(UnsafeBufferPointer(start: capture.ptr + ((l * c.nHead + h) * T + t) * T, count: T))
                }
            }
        }
    }

    /// The negative log-likelihood (nats) of each of tokens[1...] given the tokens before it: one sequence of at
    /// most block_size tokens, run as one prefill into a fresh cache, with the LM head over every row. This is the
    /// score llama-perplexity sums, computed by the decode weights (so in their precision).
    public func score(tokens: [Int32]) throws(ModelError) -> [Float] {
        guard tokens.count >= 2 else { throw .invalidBatch("scoring needs at least two tokens") }
        return try promptLogprobs(tokens: tokens, top: 0).map { -$0.logprob }
    }

    /// For each of tokens[1...], its log-probability given the tokens before it and the `top` most likely tokens
    /// there with theirs (best first): the prompt log-probabilities of echo + logprobs. One sequence of at most
    /// block_size tokens, one prefill, in the decode weights' precision.
    public func promptLogprobs(tokens: [Int32], top: Int) throws(ModelError)
        -> [(logprob: Float, top: [(token: Int32, logprob: Float)])] {
        let c = config, T = tokens.count
        guard T <= c.blockSize else { throw .invalidBatch("\(T) tokens exceed the context of \(c.blockSize)") }
        for (i, t) in tokens.enumerated() where t < 0 || Int(t) >= c.vocabSize {
            throw .tokenOutOfRange(id: t, index: i, vocabSize: c.vocabSize)
        }
        guard T >= 2 else { return [] }
        while scratch.isEmpty { scratch.append(InferenceScratch()) }
        var out = [(logprob: Float, top: [(token: Int32, logprob: Float)])](repeating: (0, []), count: T - 1)
        _ = scratch[0].run(weights: weights, items: [(KVCache(config: c), tokens)], split: workerLimit) { i, logits in
            guard i + 1 < T else { return }
            var mx = -Float.infinity
            for v in logits { mx = max(mx, v) }
            var sum: Double = 0
            for v in logits { sum += Double(expf(v - mx)) }
            let lse = Float(log(sum)) + mx
            var alternatives: [(token: Int32, logprob: Float)] = []
            if top > 0 {
                let row = Array(logits)
                alternatives = Sampler.best(top, of: row).map { (Int32($0), row[$0] - lse) }
            }
            out[i] = (logits[Int(tokens[i + 1])] - lse, alternatives)
        }
        return out
    }

    /// Appends `tokens` to each sequence's cache and returns, per sequence, the logits after its last new token.
    /// A sequence may bring many tokens (prefill) or one (decode); caches must have room for them.
    public func extend(_ items: [(cache: KVCache, tokens: [Int32])]) throws(ModelError) -> [[Float]] {
        let V = config.vocabSize
        for (i, item) in items.enumerated() {
            guard !item.tokens.isEmpty else { throw .invalidBatch("sequence \(i) brings no tokens") }
            guard item.cache.count + item.tokens.count <= item.cache.capacity else {
                throw .invalidBatch("sequence \(i): \(item.cache.count) cached + \(item.tokens.count) new tokens exceed the context of \(item.cache.capacity)")
            }
            for t in item.tokens where t < 0 || Int(t) >= V { throw .tokenOutOfRange(id: t, index: i, vocabSize: V) }
        }
        guard !items.isEmpty else { return [] }
        // Share the sequences among the workers by rows, largest first, each to the least loaded worker: a
        // prefill or a context shift (many rows, one sequence) then goes to one worker and the one-row decode
        // steps to the others, instead of cutting the batch into contiguous runs around it.
        let totalRows = items.reduce(0) { $0 + $1.tokens.count }
        let W = min(workerLimit, items.count, max(1, totalRows / 8))
        var groups = [[Int]](repeating: [], count: W)
        var load = [Int](repeating: 0, count: W)
        let rows = items.map(\.tokens.count)
        for i in items.indices.sorted(by: { rows[$0] > rows[$1] || (rows[$0] == rows[$1] && $0 < $1) }) {
            let g = load.indices.min { load[$0] < load[$1] || (load[$0] == load[$1] && $0 < $1) }!
            groups[g].append(i)
            load[g] += rows[i]
        }
        for g in groups.indices { groups[g].sort() }
        while scratch.count < W { scratch.append(InferenceScratch()) }
        var results = [[Float]](repeating: [], count: items.count)
        let scr = scratch
        if W == 1 {
            // One group (one sequence, or a few rows): split each large product's columns, and the attention heads,
            // over all the workers instead, so that a single decode stream reads the weights on every core.
            return scr[0].run(weights: weights, items: items, split: workerLimit)
        }
        results.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(W) { g in
                let members = groups[g]
                let logits = scr[g].run(weights: self.weights, items: members.map { items[$0] })
                for (j, l) in zip(members, logits) { out[j] = l }
            }
        }
        return results
    }
}

/// One worker's buffers, grown to the largest row count seen.
final class InferenceScratch: @unchecked Sendable {
    private var rows = 0
    private var block: FloatBuffer = allocateFloats(0)
    private var x, ln, qkv, atty, branch, fch, fchGelu, res2, mean, rstd, last, logits, att: FloatBuffer
    private var tokens: TokenBuffer = TokenBuffer.allocate(capacity: 1)

    init() {
        x = block; ln = block; qkv = block; atty = block; branch = block; fch = block; fchGelu = block
        res2 = block; mean = block; rstd = block; last = block; logits = block; att = block
    }

    deinit { freeFloats(block); tokens.deallocate() }

    private func ensure(rows n: Int, items: Int, config c: GPTConfig, parts: Int) {
        guard n > rows || items > rowsForItems || c.blockSize > attCapacity || parts > attParts else { return }
        freeFloats(block)
        tokens.deallocate()
        let C = c.nEmbd, V = c.vocabSize, T = c.blockSize
        let n = max(n, rows), m = max(items, rowsForItems), parts = max(parts, attParts)
        let sizes = [n * C, n * C, 3 * n * C, n * C, n * C, 4 * n * C, 4 * n * C, n * C, n, n, m * C, m * V,
                     parts * ((T + 7) & ~7)]
        var offs: [Int] = [], total = 0
        for s in sizes { offs.append(total); total += (s + 15) & ~15 }
        block = allocateFloats(total)
        func b(_ i: Int) -> FloatBuffer { block.slice(offs[i], sizes[i]) }
        x = b(0); ln = b(1); qkv = b(2); atty = b(3); branch = b(4); fch = b(5); fchGelu = b(6); res2 = b(7)
        mean = b(8); rstd = b(9); last = b(10); logits = b(11); att = b(12)
        tokens = TokenBuffer.allocate(capacity: n)
        rows = n
        rowsForItems = m
        attCapacity = T
        attParts = parts
    }
    private var rowsForItems = 0
    private var attCapacity = 0
    /// Score rows held in `att`: one per thread of a split pass.
    private var attParts = 0

    /// The forward pass for these sequences' new tokens; returns the last row's logits per sequence.
    /// With `capture` (L·NH·T·T floats, one sequence of T tokens into an empty cache), each layer's attention
    /// probabilities are written there too.
    /// With `split` > 1 the pass runs on that many threads: large products by output columns, attention by heads
    /// (each head's row computed as on one thread, so the result is bit-equal; the LM head's BLAS calls may sum in
    /// another order).
    /// With `everyRow`, the final norm and the LM head run over every row, `headRows` at a time, and each row's
    /// logits go to everyRow(row, logits) in order; nothing is returned then.
    func run(weights w: InferenceWeights, items: [(cache: KVCache, tokens: [Int32])],
             capture: FloatBuffer? = nil, split: Int = 1,
             everyRow: ((Int, UnsafeBufferPointer<Float>) -> Void)? = nil) -> [[Float]] {
        let c = w.config
        let C = c.nEmbd, NH = c.nHead, hs = C / NH, V = c.vocabSize
        let N = items.reduce(0) { $0 + $1.tokens.count }
        let parts = max(1, min(split, NH))
        let headRows = 32
        ensure(rows: N, items: everyRow == nil ? items.count : max(items.count, min(N, headRows)), config: c, parts: parts)
        let attStride = (c.blockSize + 7) & ~7
        // Attention multiply-adds of this pass (scores and weighted values), to decide whether to split it.
        var attentionWork = 0
        for item in items { attentionWork += item.tokens.count * (item.cache.count + item.tokens.count) * 2 * C }
        let attentionParts = attentionWork >= splitMinimumWork ? parts : 1
        // Embeddings at each row's position: cache.count + i, less the start of its document when the model keeps
        // documents apart (a document token opens a new one; rowStart is where each row's document begins).
        let pos = w.positions
        let boundary = c.documentToken.map(Int32.init)
        var rowStart = [Int](repeating: 0, count: N)
        var r = 0
        for item in items {
            var start = item.cache.documentStart
            for (i, t) in item.tokens.enumerated() {
                let p = item.cache.count + i
                if t == boundary { start = p }
                rowStart[r] = start
                let o = x.ptr + r * C, e = w.wte.ptr + Int(t) * C, q = pos.ptr + (p - start) * C
                for j in 0..<C { o[j] = e[j] + q[j] }
                r += 1
            }
        }
        let starts = rowStart
        let scale = 1 / Float(hs).squareRoot()
        for l in 0..<c.nLayer {
            let p = w.layers[l]
            layerNormForward(ln, mean, rstd, x, p.ln1w, p.ln1b, rows: N, C: C)
            p.attn.forward(qkv, ln, p.attnB, rows: N, workers: split)
            // Write this step's keys and values into the caches, then attend over positions 0...p.
            r = 0
            for item in items {
                let kc = item.cache.keys(l), vc = item.cache.values(l)
                let cap = item.cache.stride
                for i in 0..<item.tokens.count {
                    let p = item.cache.count + i
                    let k = qkv.ptr + r * 3 * C + C
                    for ch in 0..<C { kc[ch * cap + p] = k[ch] }
                    let v = qkv.ptr + r * 3 * C + 2 * C
                    for h in 0..<NH { (vc + (h * cap + p) * hs).update(from: v + h * hs, count: hs) }
                    r += 1
                }
            }
            // Each thread takes a range of heads, with its own row of scores.
            let (atty, att, qkv) = (atty, att, qkv)
            Parallel.forEach(attentionParts) { part in
                let heads = Parallel.range(part, of: attentionParts, total: NH)
                let scores = att.ptr + part * attStride
                var r = 0
                for item in items {
                    let kc = item.cache.keys(l), vc = item.cache.values(l)
                    for i in 0..<item.tokens.count {
                        let s0 = starts[r]
                        let n = item.cache.count + i + 1 - s0
                        for h in heads {
                            let inv = attendRow(out: atty.ptr + r * C + h * hs, att: scores,
                                                q: qkv.ptr + r * 3 * C + h * hs,
                                                keysT: kc + h * hs * item.cache.stride + s0, keyStride: item.cache.stride,
                                                values: vc + (h * item.cache.stride + s0) * hs, stride: hs, n: n,
                                                hs: hs, scale: scale)
                            if let capture {
                                let T = item.tokens.count
                                let row = capture.ptr + ((l * NH + h) * T + i) * T
                                for j in 0..<s0 { row[j] = 0 }
                                for j in 0..<n { row[s0 + j] = scores[j] * inv }
                            }
                        }
                        r += 1
                    }
                }
            }
            p.proj.forward(branch, atty, p.projB, rows: N, workers: split)
            residualForward(res2, x, branch, count: N * C)
            layerNormForward(ln, mean, rstd, res2, p.ln2w, p.ln2b, rows: N, C: C)
            p.fc.forward(fch, ln, p.fcB, rows: N, workers: split)
            geluForward(fchGelu, fch, count: 4 * N * C)
            p.fcProj.forward(branch, fchGelu, p.fcProjB, rows: N, workers: split)
            residualForward(x, res2, branch, count: N * C)
        }
        r = 0
        for item in items {
            r += item.tokens.count
            item.cache.documentStart = starts[r - 1]
        }
        if let everyRow {
            for item in items { item.cache.count += item.tokens.count }
            var r0 = 0
            while r0 < N {
                let M = min(headRows, N - r0)
                layerNormForward(ln, mean, rstd, x.slice(r0 * C, M * C), w.lnfw, w.lnfb, rows: M, C: C)
                head(w, rows: M, C: C, V: V, split: split)
                for i in 0..<M { everyRow(r0 + i, UnsafeBufferPointer(start: logits.ptr + i * V, count: V)) }
                r0 += M
            }
            return []
        }
        // Final norm and LM head for each sequence's last row only.
        r = 0
        for (j, item) in items.enumerated() {
            r += item.tokens.count
            (last.ptr + j * C).update(from: x.ptr + (r - 1) * C, count: C)
            item.cache.count += item.tokens.count
        }
        let M = items.count
        layerNormForward(ln, mean, rstd, last, w.lnfw, w.lnfb, rows: M, C: C)
        head(w, rows: M, C: C, V: V, split: split)
        return (0..<M).map { Array(UnsafeBufferPointer(start: logits.ptr + $0 * V, count: V)) }
    }

    /// logits (M, V) = ln (M, C) · wteᵀ: the q8 head's panels, or wte itself in f32.
    private func head(_ w: InferenceWeights, rows M: Int, C: Int, V: Int, split: Int) {
        if let head = w.head {
            q8MatmulForward(logits, ln, head, nil, rows: M, workers: split)
        } else {
            lmHeadForward(logits, ln, w.wte, rows: M, C: C, V: V, workers: split)
        }
    }
}

/// out (hs) = Σ_j softmax(scale · q·k_j)_j v_j over j in 0..<n. Keys transposed: k_j[d] = keysT[d·keyStride + j];
/// value rows `stride` apart. att: scratch for n scores rounded up to 8. Key rows must be readable up to n rounded up
/// to 8 (KVCache.stride): the last block of scores is computed whole and its extra lanes ignored. Both products keep
/// their sums in registers: scores 32 positions at a time, values four positions at a time (independent FMA chains).
/// On return att[0..<n] holds the softmax numerators; the returned value is 1 / their sum.
@inline(__always) @discardableResult
func attendRow(out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>, q: UnsafeMutablePointer<Float>,
               keysT: UnsafeMutablePointer<Float>, keyStride: Int, values: UnsafeMutablePointer<Float>, stride: Int,
               n: Int, hs: Int, scale: Float) -> Float {
    // Scores s[j] = scale · Σ_d q[d]·kᵀ[d][j].
    var j = 0
    while j + 32 <= n {
        var a0 = Float8(), a1 = Float8(), a2 = Float8(), a3 = Float8()
        var row = keysT + j
        for d in 0..<hs {
            let qd = Float8(repeating: q[d])
            a0 = a0.addingProduct(qd, load8(row)); a1 = a1.addingProduct(qd, load8(row + 8))
            a2 = a2.addingProduct(qd, load8(row + 16)); a3 = a3.addingProduct(qd, load8(row + 24))
            row += keyStride
        }
        let s8 = Float8(repeating: scale)
        store8(a0 * s8, att + j); store8(a1 * s8, att + j + 8); store8(a2 * s8, att + j + 16); store8(a3 * s8, att + j + 24)
        j += 32
    }
    while j < n {  // the last block may run past n into the padding
        var a0 = Float8(), a1 = Float8()
        var row = keysT + j, d = 0
        while d + 2 <= hs {
            a0 = a0.addingProduct(Float8(repeating: q[d]), load8(row))
            a1 = a1.addingProduct(Float8(repeating: q[d + 1]), load8(row + keyStride))
            row += 2 * keyStride; d += 2
        }
        if d < hs { a0 = a0.addingProduct(Float8(repeating: q[d]), load8(row)) }
        store8((a0 + a1) * Float8(repeating: scale), att + j)
        j += 8
    }
    // Softmax numerators; the division by their sum comes last.
    let mx = rowMax(att, n)
    let mx8 = Float8(repeating: mx)
    var s8 = Float8()
    j = 0
    while j + 8 <= n { let e = fastExp(load8(att + j) - mx8); store8(e, att + j); s8 += e; j += 8 }
    var sum = s8.sum()
    while j < n { let e = fastExp(att[j] - mx); att[j] = e; sum += e; j += 1 }
    let inv = 1 / sum
    // out = Σ_j p_j v_j, 16 channels at a time (each value row read once when hs is 16), positions in fours.
    var i = 0
    while i + 16 <= hs {
        var c0 = Float8(), c1 = Float8(), c2 = Float8(), c3 = Float8()
        var d0 = Float8(), d1 = Float8(), d2 = Float8(), d3 = Float8()
        var vp = values + i
        j = 0
        while j + 4 <= n {
            let p0 = Float8(repeating: att[j]), p1 = Float8(repeating: att[j + 1])
            let p2 = Float8(repeating: att[j + 2]), p3 = Float8(repeating: att[j + 3])
            c0 = c0.addingProduct(p0, load8(vp)); d0 = d0.addingProduct(p0, load8(vp + 8))
            c1 = c1.addingProduct(p1, load8(vp + stride)); d1 = d1.addingProduct(p1, load8(vp + stride + 8))
            c2 = c2.addingProduct(p2, load8(vp + 2 * stride)); d2 = d2.addingProduct(p2, load8(vp + 2 * stride + 8))
            c3 = c3.addingProduct(p3, load8(vp + 3 * stride)); d3 = d3.addingProduct(p3, load8(vp + 3 * stride + 8))
            vp += 4 * stride; j += 4
        }
        while j < n {
            let p0 = Float8(repeating: att[j])
            c0 = c0.addingProduct(p0, load8(vp)); d0 = d0.addingProduct(p0, load8(vp + 8))
            vp += stride; j += 1
        }
        let inv8 = Float8(repeating: inv)
        store8(((c0 + c1) + (c2 + c3)) * inv8, out + i)
        store8(((d0 + d1) + (d2 + d3)) * inv8, out + i + 8)
        i += 16
    }
    while i + 8 <= hs {
        var c0 = Float8(), c1 = Float8(), c2 = Float8(), c3 = Float8()
        var vp = values + i
        j = 0
        while j + 4 <= n {
            c0 = c0.addingProduct(Float8(repeating: att[j]), load8(vp))
            c1 = c1.addingProduct(Float8(repeating: att[j + 1]), load8(vp + stride))
            c2 = c2.addingProduct(Float8(repeating: att[j + 2]), load8(vp + 2 * stride))
            c3 = c3.addingProduct(Float8(repeating: att[j + 3]), load8(vp + 3 * stride))
            vp += 4 * stride; j += 4
        }
        while j < n { c0 = c0.addingProduct(Float8(repeating: att[j]), load8(vp)); vp += stride; j += 1 }
        store8(((c0 + c1) + (c2 + c3)) * Float8(repeating: inv), out + i)
        i += 8
    }
    while i < hs {
        var acc: Float = 0
        for j in 0..<n { acc += att[j] * values[j * stride + i] }
        out[i] = acc * inv
        i += 1
    }
    return inv
}
