// KV-cache inference against the full forward pass, batching invariance, and the decoding strategies.
import Foundation
@testable import QuillModel
import QuillTensor
import Testing

@Suite("Inference")
struct InferenceTests {
    static let config = GPTConfig(vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16)

    /// The full forward pass's logits at the last position of `tokens`.
    func fullLogits(_ m: GPT, _ tokens: [Int32]) throws -> [Float] {
        m.isTraining = false
        try m.forward(inputs: tokens, targets: nil, batchSize: 1, sequenceLength: tokens.count)
        return m.logits(sample: 0, position: tokens.count - 1)
    }

    /// Besides the tiny config: a window of 40 (attention's 32-position score blocks), head size 12 (no multiple
    /// of 8) and widths 108 and 36 (packed weight panels cut short).
    static let wide = GPTConfig(vocabSize: 13, blockSize: 40, nLayer: 2, nHead: 3, nEmbd: 36)

    @Test("cached decoding gives the full forward's logits at every step, across context shifts",
          arguments: [(config, PositionalEncoding.learned), (config, .sinusoidal), (wide, .learned)])
    func cachedEqualsFull(base: GPTConfig, pos: PositionalEncoding) throws {
        var c = base
        c.positional = pos
        let m = try GPT(config: c, seed: 5)
        var rng = SplitMix64(seed: 1)
        for i in 0..<m.parameterCount { m.parameters[i] += rng.nextGaussian() * 0.2 }
        let engine = InferenceEngine(model: m)
        let s = try GenerationSession(prompt: [1, 2, 3], config: c, options: DecodingOptions(strategy: .greedy),
                                      maxTokens: 2 * c.blockSize + 4)
        var worst: Float = 0
        while !s.isFinished {
            let items = [(cache: s.cache, tokens: s.tokensForStep())]
            let logits = try engine.extend(items)[0]
            let full = try fullLogits(m, s.context)
            for v in 0..<c.vocabSize { worst = max(worst, abs(logits[v] - full[v])) }
            s.accept(logits)
        }
        #expect(worst < 1e-4)
        #expect(s.shifts >= 2)  // 3 + 2·window + 4 tokens through the window
    }

    @Test("a session's output is the same alone and inside a batch of 8 with other prompts")
    func batchInvariance() throws {
        let m = try GPT(config: Self.config, seed: 2)
        let engine = InferenceEngine(model: m)
        let opts = DecodingOptions(strategy: .topK, temperature: 0.9, topK: 5, seed: 77)
        let alone = try GenerationSession(prompt: [4, 5], config: Self.config, options: opts, maxTokens: 12)
        let a = try engine.generate([alone])[0]
        var batch: [GenerationSession] = []
        for i in 0..<8 {
            let prompt: [Int32] = i == 3 ? [4, 5] : (0..<(i % 4 + 1)).map { Int32(($0 + i) % 13) }
            let o = i == 3 ? opts : DecodingOptions(strategy: .sample, temperature: 1, seed: UInt64(i))
            batch.append(try GenerationSession(prompt: prompt, config: Self.config, options: o, maxTokens: i == 3 ? 12 : 4 + i))
        }
        let b = try engine.generate(batch)
        #expect(b[3] == a)
        #expect(b[7].count == 11 && b[0].count == 4)  // sessions leave when done, the others go on
    }

    @Test("top_k = 1 equals greedy, and temperature 0 is greedy whatever the strategy")
    func topKOneIsGreedy() {
        var rng = SplitMix64(seed: 3)
        let logits = (0..<50).map { _ in rng.nextGaussian() * 3 }
        let best = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
        for seed in 0..<20 {
            var k1 = Sampler(options: DecodingOptions(strategy: .topK, temperature: 1.5, topK: 1, seed: UInt64(seed)))
            var t0 = Sampler(options: DecodingOptions(strategy: .topP, temperature: 0, seed: UInt64(seed)))
            #expect(k1.choose(logits).token == best && t0.choose(logits).token == best)
        }
    }

    @Test("the k best logits come out in the order of a full sort, ties by lower id, for every k")
    func bestMatchesSort() {
        var rng = SplitMix64(seed: 9)
        // A vocabulary of 1,000 with many exact ties (values rounded to a coarse grid).
        let logits = (0..<1000).map { _ in (rng.nextGaussian() * 4).rounded() / 2 }
        let sorted = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        for k in [1, 2, 5, 40, 124, 125, 999, 1000, 5000] {
            #expect(Sampler.best(k, of: logits) == Array(sorted.prefix(k)), "k = \(k)")
        }
    }

    @Test("sampled frequencies match the softmax (chi-square, 4 degrees of freedom)")
    func chiSquare() {
        let logits: [Float] = [1.0, 0.5, -0.3, 2.0, 0.0]
        let t: Float = 0.8
        let e = logits.map { exp(Double($0 / t)) }
        let p = e.map { $0 / e.reduce(0, +) }
        var s = Sampler(options: DecodingOptions(strategy: .sample, temperature: t, seed: 11))
        let n = 20_000
        var counts = [Int](repeating: 0, count: 5)
        for _ in 0..<n { counts[Int(s.choose(logits).token)] += 1 }
        let chi2 = (0..<5).reduce(0.0) { $0 + pow(Double(counts[$1]) - Double(n) * p[$1], 2) / (Double(n) * p[$1]) }
        #expect(chi2 < 18.47)  // p = 0.001 critical value
    }

    @Test("top-p never samples outside the nucleus")
    func nucleus() {
        let logits: [Float] = [3, 2.5, 0, -1, -2, 1.0]
        // Softmax ≈ [0.52, 0.32, 0.026, 0.0096, 0.0035, 0.071]: the 0.9 nucleus is {0, 1, 5}.
        var s = Sampler(options: DecodingOptions(strategy: .topP, temperature: 1, topP: 0.9, seed: 5))
        var seen = Set<Int32>()
        for _ in 0..<5_000 { seen.insert(s.choose(logits).token) }
        #expect(seen == [0, 1, 5])
    }

    @Test("log-probabilities are the model's, with the best alternatives first")
    func logprobs() {
        let logits: [Float] = [0, 1, 2]
        var s = Sampler(options: DecodingOptions(strategy: .greedy, logprobs: 2))
        let c = s.choose(logits)
        let lse = log(exp(0.0) + exp(1.0) + exp(2.0))
        #expect(c.token == 2 && abs(Double(c.logprob) - (2 - lse)) < 1e-5)
        #expect(c.top.map(\.token) == [2, 1])
    }

    @Test("a prompt longer than the window keeps its last block_size tokens and says it was truncated")
    func truncation() throws {
        let s = try GenerationSession(prompt: (0..<12).map { Int32($0 % 13) }, config: Self.config,
                                      options: DecodingOptions(), maxTokens: 1)
        #expect(s.truncated && s.context == [4, 5, 6, 7, 8, 9, 10, 11])
        let short = try GenerationSession(prompt: [1], config: Self.config, options: DecodingOptions(), maxTokens: 1)
        #expect(!short.truncated)
        #expect(throws: ModelError.self) { try GenerationSession(prompt: [], config: Self.config, options: DecodingOptions(), maxTokens: 1) }
        #expect(throws: ModelError.self) { try GenerationSession(prompt: [13], config: Self.config, options: DecodingOptions(), maxTokens: 1) }
    }

    @Test("the end-of-text token finishes a session with reason eos")
    func endOfText() throws {
        let m = try GPT(config: Self.config, seed: 9)
        let engine = InferenceEngine(model: m)
        let probe = try GenerationSession(prompt: [2], config: Self.config, options: DecodingOptions(strategy: .greedy), maxTokens: 1)
        let first = try engine.generate([probe])[0][0]
        let s = try GenerationSession(prompt: [2], config: Self.config, options: DecodingOptions(strategy: .greedy),
                                      maxTokens: 10, stopToken: first)
        _ = try engine.generate([s])
        #expect(s.finishReason == .eos && s.generated.count == 1)
        #expect(probe.finishReason == .length)
    }
}

@Suite("Stop strings and attention capture")
struct StopAndAttentionTests {
    @Test("a stop string split across pieces is caught and nothing past it is emitted")
    func splitStop() {
        var m = StopStringMatcher(stops: ["\n\nROMEO:", "END"])
        var out = ""
        for piece in ["Good", " night.", "\n", "\nRO", "MEO: and", " more"] { out += m.feed(piece) }
        #expect(m.stopped && out == "Good night.")
        #expect(m.feed("late") == "" && m.finish() == "")
    }

    @Test("held-back text is released when it turns out not to be a stop string")
    func heldBack() {
        var m = StopStringMatcher(stops: ["ENDING"])
        #expect(m.feed("the EN") == "the ")
        #expect(m.feed("D") == "")
        #expect(m.feed("LESS") == "ENDLESS")
        #expect(m.feed(" END") == " ")
        #expect(m.finish() == "END" && !m.stopped)
    }

    @Test("the earliest of several stop strings wins, and no stops means everything passes")
    func earliest() {
        var m = StopStringMatcher(stops: ["b c", "a"])
        #expect(m.feed("xx b c a") == "xx ")
        var none = StopStringMatcher(stops: [""])
        #expect(none.feed("abc") == "abc" && !none.stopped)
    }

    @Test("attention rows sum to 1 and are causal, for every layer and head")
    func attention() throws {
        let c = GPTConfig(vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8)
        let m = try GPT(config: c, seed: 4)
        let w = try m.attentionWeights(tokens: [1, 5, 2, 7, 3])
        #expect(w.count == 2 && w[0].count == 2 && w[0][0].count == 5 && w[0][0][0].count == 5)
        for layer in w {
            for head in layer {
                for (t, row) in head.enumerated() {
                    #expect(abs(row.reduce(0, +) - 1) < 1e-5)
                    for j in (t + 1)..<5 where j < 5 { #expect(row[j] == 0) }
                }
            }
        }
    }
}

@Suite("generate")
struct GenerateTests {
    @Test("a GPT's generate (KV caches) equals greedy decoding through the full forward pass")
    func greedyMatchesFullForward() throws {
        let c = GPTConfig(vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16)
        let m = try GPT(config: c, seed: 21)
        var rng = SplitMix64(seed: 2)
        for i in 0..<m.parameterCount { m.parameters[i] += rng.nextGaussian() * 0.3 }
        let fast = try m.generate(prompt: [3, 1], maxNewTokens: 6, options: SamplingOptions(temperature: 0))
        var context: [Int32] = [3, 1]
        m.isTraining = false
        for _ in 0..<6 {
            try m.forward(inputs: context, targets: nil, batchSize: 1, sequenceLength: context.count)
            let l = m.logits(sample: 0, position: context.count - 1)
            context.append(Int32(l.indices.max { l[$0] < l[$1] }!))
        }
        #expect(fast == Array(context.dropFirst(2)))
    }
}
