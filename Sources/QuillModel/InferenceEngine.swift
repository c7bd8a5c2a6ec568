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
            let lse = logSumExp(logits.baseAddress!, logits.count)
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
    /// A pass's activations, carved out of `block` in `ensure`: `rows` rows of each, `last` and `logits` for
    /// `rowsForItems` rows, and one row of attention scores per thread.
    private struct Buffers {
        var x, ln, qkv, atty, branch, fch, fchGelu, res2, mean, rstd, last, logits, att: FloatBuffer
    }
    private var b: Buffers
    private var tokens: TokenBuffer = TokenBuffer.allocate(capacity: 1)

    init() {
        let e = block
        b = Buffers(x: e, ln: e, qkv: e, atty: e, branch: e, fch: e, fchGelu: e, res2: e, mean: e, rstd: e, last: e,
                    logits: e, att: e)
    }

    deinit { freeFloats(block); tokens.deallocate() }

    private func ensure(rows n: Int, items: Int, config c: GPTConfig, parts: Int) {
        guard n > rows || items > rowsForItems || c.blockSize > attCapacity || parts > attParts else { return }
        freeFloats(block)
        tokens.deallocate()
        let C = c.nEmbd, V = c.vocabSize, T = c.blockSize
        let n = max(n, rows), m = max(items, rowsForItems), parts = max(parts, attParts)
        let scoreRow = scoreRowFloats(T)
        (b, block) = carveFloats { a in
            Buffers(x: a.take(n * C), ln: a.take(n * C), qkv: a.take(3 * n * C), atty: a.take(n * C),
                    branch: a.take(n * C), fch: a.take(4 * n * C), fchGelu: a.take(4 * n * C), res2: a.take(n * C),
                    mean: a.take(n), rstd: a.take(n), last: a.take(m * C), logits: a.take(m * V),
                    att: a.take(parts * scoreRow))
        }
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
        let b = self.b
        let attStride = scoreRowFloats(c.blockSize)
        // Attention multiply-adds of this pass (scores and weighted values), to decide whether to split it.
        var attentionWork = 0
        for item in items { attentionWork += item.tokens.count * (item.cache.count + item.tokens.count) * 2 * C }
        let attentionParts = attentionWork >= attentionSplitMinimumWork ? parts : 1
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
                let o = b.x.ptr + r * C, e = w.wte.ptr + Int(t) * C, q = pos.ptr + (p - start) * C
                for j in 0..<C { o[j] = e[j] + q[j] }
                r += 1
            }
        }
        let starts = rowStart
        let scale = 1 / Float(hs).squareRoot()
        for l in 0..<c.nLayer {
            let p = w.layers[l]
            layerNormForward(b.ln, b.mean, b.rstd, b.x, p.ln1w, p.ln1b, rows: N, C: C)
            p.attn.forward(b.qkv, b.ln, p.attnB, rows: N, workers: split)
            // Write this step's keys and values into the caches, then attend over positions 0...p.
            r = 0
            for item in items {
                let kc = item.cache.keys(l), vc = item.cache.values(l)
                let cap = item.cache.stride
                for i in 0..<item.tokens.count {
                    let p = item.cache.count + i
                    let k = b.qkv.ptr + r * 3 * C + C
                    for h in 0..<NH {
                        let dst = kc + h * hs * cap + keyOffset(position: p, channel: 0, headSize: hs)
                        for d in 0..<hs { dst[d << 5] = k[h * hs + d] }
                    }
                    let v = b.qkv.ptr + r * 3 * C + 2 * C
                    for h in 0..<NH { (vc + (h * cap + p) * hs).update(from: v + h * hs, count: hs) }
                    r += 1
                }
            }
            // Each thread takes a range of heads, with its own row of scores.
            Parallel.forEach(attentionParts) { part in
                let heads = Parallel.range(part, of: attentionParts, total: NH)
                let scores = b.att.ptr + part * attStride
                var r = 0
                for item in items {
                    let kc = item.cache.keys(l), vc = item.cache.values(l)
                    for i in 0..<item.tokens.count {
                        let s0 = starts[r]
                        let n = item.cache.count + i + 1 - s0
                        for h in heads {
                            let inv = decodeAttentionRow(
                                out: b.atty.ptr + r * C + h * hs, att: scores, q: b.qkv.ptr + r * 3 * C + h * hs,
                                keys: kc + h * hs * item.cache.stride, first: s0,
                                values: vc + (h * item.cache.stride + s0) * hs, stride: hs, n: n, hs: hs, scale: scale)
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
            p.proj.forward(b.branch, b.atty, p.projB, rows: N, workers: split)
            residualForward(b.res2, b.x, b.branch, count: N * C)
            layerNormForward(b.ln, b.mean, b.rstd, b.res2, p.ln2w, p.ln2b, rows: N, C: C)
            p.fc.forward(b.fch, b.ln, p.fcB, rows: N, workers: split)
            geluForward(b.fchGelu, b.fch, count: 4 * N * C)
            p.fcProj.forward(b.branch, b.fchGelu, p.fcProjB, rows: N, workers: split)
            residualForward(b.x, b.res2, b.branch, count: N * C)
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
                layerNormForward(b.ln, b.mean, b.rstd, b.x.slice(r0 * C, M * C), w.lnfw, w.lnfb, rows: M, C: C)
                head(w, rows: M, C: C, V: V, split: split)
                for i in 0..<M { everyRow(r0 + i, UnsafeBufferPointer(start: b.logits.ptr + i * V, count: V)) }
                r0 += M
            }
            return []
        }
        // Final norm and LM head for each sequence's last row only.
        r = 0
        for (j, item) in items.enumerated() {
            r += item.tokens.count
            (b.last.ptr + j * C).update(from: b.x.ptr + (r - 1) * C, count: C)
            item.cache.count += item.tokens.count
        }
        let M = items.count
        layerNormForward(b.ln, b.mean, b.rstd, b.last, w.lnfw, w.lnfb, rows: M, C: C)
        head(w, rows: M, C: C, V: V, split: split)
        return (0..<M).map { Array(UnsafeBufferPointer(start: b.logits.ptr + $0 * V, count: V)) }
    }

    /// logits (M, V) = ln (M, C) · wteᵀ: the q8 head's panels, or wte itself in f32.
    private func head(_ w: InferenceWeights, rows M: Int, C: Int, V: Int, split: Int) {
        if let head = w.head {
            q8MatmulForward(b.logits, b.ln, head, nil, rows: M, workers: split)
        } else {
            lmHeadForward(b.logits, b.ln, w.wte, rows: M, C: C, V: V, workers: split)
        }
    }
}

/// Floats of one row of decodeAttentionRow's scores for up to T positions: T, the lanes of a document that starts
/// inside a key block (up to 31) and the last block's eight (up to 7), rounded to a line.
@inline(__always)
func scoreRowFloats(_ T: Int) -> Int { (T + 31 + 7 + 15) & ~15 }

/// Attention multiply-adds of a pass at or above which its heads are shared among the workers: an eighth of the
/// products' threshold, since the alternative is not one thread working but one working while the other waits
/// (a batch-1 step of GPT-2 124M at 128 positions is about 200,000 per layer).
let attentionSplitMinimumWork = splitMinimumWork / 8
