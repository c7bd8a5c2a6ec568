// The sampling controls (SamplingControls): each changes the distribution as its definition says, in the
// documented order, and the generation-level ones (min_tokens, ignore_eos, stop_token_ids) end sessions as defined.
import Foundation
@testable import QuillModel
import QuillTensor
import Testing

@Suite("Sampling controls")
struct SamplingControlsTests {
    let logits: [Float] = [2.0, 1.5, -0.5, 1.0, 0.2, -1.0]

    func logSoftmax(_ l: [Float]) -> [Float] {
        let mx = l.max()!
        let lse = Float(log(l.reduce(0.0) { $0 + exp(Double($1 - mx)) })) + mx
        return l.map { $0 - lse }
    }

    func sampler(_ c: SamplingControls, strategy: DecodingStrategy = .sample, seed: UInt64 = 1) -> Sampler {
        Sampler(options: DecodingOptions(strategy: strategy, temperature: 1, topK: 40, topP: 1, seed: seed, controls: c))
    }

    @Test("logit_bias -100 bans a token: it never appears in 1,000 samples, even the most likely one")
    func banned() {
        var c = SamplingControls()
        c.logitBias = [0: -100, 3: 2]
        var s = sampler(c)
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<1000 { counts[Int(s.choose(logits).token)] += 1 }
        #expect(counts[0] == 0)
        // +2 on token 3: its logit becomes 3.0, the best; it is now drawn most often.
        #expect(counts[3] == counts.max())
        var g = sampler(c, strategy: .greedy)
        #expect(g.choose(logits).token == 3)
    }

    @Test("repeat_penalty divides a repeated token's positive logit and multiplies a negative one, within repeat_last_n")
    func repeatPenalty() {
        var c = SamplingControls()
        c.repeatPenalty = 2
        c.repeatLastN = 3
        // Context: token 0 (logit 2.0) and token 2 (logit -0.5) are in the last 3; token 1 only before the window.
        let context: [Int32] = [1, 5, 0, 2]
        let adjusted = Sampler.adjusted(logits, controls: c, context: context, generated: 0, endOfText: nil)
        #expect(adjusted[0] == 1.0 && adjusted[2] == -1.0)
        #expect(adjusted[1] == 1.5 && adjusted[3] == 1.0)
        #expect(adjusted[5] == -1.0 * 2)  // token 5 at -1.0 is in the window too
        // The reported log-probability is the adjusted distribution's.
        var s = sampler(c, strategy: .greedy)
        let choice = s.choose(logits, context: context)
        #expect(choice.token == 1)
        #expect(abs(choice.logprob - logSoftmax(adjusted)[1]) < 1e-5)
        // repeat_last_n 0 turns it off; -1 covers the whole context.
        c.repeatLastN = 0
        #expect(Sampler.adjusted(logits, controls: c, context: context, generated: 0, endOfText: nil) == logits)
        c.repeatLastN = -1
        #expect(Sampler.adjusted(logits, controls: c, context: context, generated: 0, endOfText: nil)[1] == 0.75)
    }

    @Test("presence and frequency penalties subtract presence + frequency × count from each occurring token")
    func presenceAndFrequency() {
        var c = SamplingControls()
        c.presencePenalty = 0.5
        c.frequencyPenalty = 0.25
        let adjusted = Sampler.adjusted(logits, controls: c, context: [3, 3, 3, 4], generated: 0, endOfText: nil)
        #expect(abs(adjusted[3] - (1.0 - 0.5 - 0.75)) < 1e-6)
        #expect(abs(adjusted[4] - (0.2 - 0.5 - 0.25)) < 1e-6)
        #expect(adjusted[0] == 2.0)
    }

    @Test("typical_p keeps the tokens whose surprisal is closest to the entropy, until their mass reaches typical_p")
    func typicalP() {
        // By hand: p = softmax(logits); H = -Σ p log p; keep tokens by |-log p_i - H| ascending until Σ p ≥ 0.4.
        let p = logSoftmax(logits).map { exp(Double($0)) }
        let h = -p.reduce(0) { $0 + $1 * log($1) }
        let ranked = p.indices.sorted { abs(-log(p[$0]) - h) < abs(-log(p[$1]) - h) }
        var expected = Set<Int>(), mass = 0.0
        for i in ranked where mass < 0.4 {
            expected.insert(i)
            mass += p[i]
        }
        // The most likely token is less surprising than typical here: unlike top-p, the set leaves it out.
        #expect(expected == [1, 3])
        var c = SamplingControls()
        c.typicalP = 0.4
        var s = sampler(c)
        var seen = Set<Int>()
        for _ in 0..<1000 { seen.insert(Int(s.choose(logits).token)) }
        #expect(seen == expected)
        // typical_p 1 keeps every token.
        var all = sampler(SamplingControls())
        var every = Set<Int>()
        for _ in 0..<2000 { every.insert(Int(all.choose(logits).token)) }
        #expect(every.count == logits.count)
    }

    @Test("min_p drops tokens less likely than min_p times the best one")
    func minP() {
        var c = SamplingControls()
        // p_i / p_max = e^(l_i - 2): token 1 (e^-0.5 = 0.61) and 3 (e^-1 = 0.37) stay at min_p 0.3; 4 (0.18) goes.
        c.minP = 0.3
        var s = sampler(c)
        var seen = Set<Int32>()
        for _ in 0..<1000 { seen.insert(s.choose(logits).token) }
        #expect(seen == [0, 1, 3])
    }

    @Test("min_tokens bans end-of-text and stop_token_ids until that many tokens are made")
    func minTokens() {
        var c = SamplingControls()
        c.minTokens = 2
        c.stopTokenIDs = [1]
        var g = sampler(c, strategy: .greedy)
        // Token 0 (the best) is end-of-text here, token 1 a stop token: the first two picks are token 3.
        #expect(g.choose(logits, generated: 0, endOfText: 0).token == 3)
        #expect(g.choose(logits, generated: 1, endOfText: 0).token == 3)
        #expect(g.choose(logits, generated: 2, endOfText: 0).token == 0)
    }

    @Test("ignore_eos goes on past end-of-text, and stop_token_ids end a session with reason stop")
    func sessionEnds() throws {
        let config = GPTConfig(vocabSize: 9, blockSize: 16, nLayer: 1, nHead: 1, nEmbd: 8)
        let m = try GPT(config: config, seed: 2)
        let engine = InferenceEngine(model: m)
        // Greedy on a fixed model: the first token it picks, used as end-of-text or as a stop token below.
        let probe = try GenerationSession(prompt: [1, 2], config: config, options: DecodingOptions(strategy: .greedy), maxTokens: 1)
        let first = try engine.generate([probe])[0][0]

        let eos = try GenerationSession(prompt: [1, 2], config: config, options: DecodingOptions(strategy: .greedy),
                                        maxTokens: 5, stopToken: first)
        _ = try engine.generate([eos])
        #expect(eos.finishReason == .eos && eos.generated.count == 1)

        var c = SamplingControls()
        c.ignoreEOS = true
        let ignoring = try GenerationSession(prompt: [1, 2], config: config,
                                             options: DecodingOptions(strategy: .greedy, controls: c), maxTokens: 5,
                                             stopToken: first)
        _ = try engine.generate([ignoring])
        #expect(ignoring.finishReason == .length && ignoring.generated.count == 5 && ignoring.generated[0].token == first)

        var s = SamplingControls()
        s.stopTokenIDs = [first]
        let stopped = try GenerationSession(prompt: [1, 2], config: config,
                                            options: DecodingOptions(strategy: .greedy, controls: s), maxTokens: 5)
        _ = try engine.generate([stopped])
        #expect(stopped.finishReason == .stop && stopped.stoppedOnToken && stopped.generated.count == 1)
    }

    @Test("no control set leaves the logits and the choices exactly as before")
    func neutral() {
        #expect(!SamplingControls().reshapes)
        var a = Sampler(options: DecodingOptions(strategy: .sample, temperature: 0.9, seed: 5))
        var b = Sampler(options: DecodingOptions(strategy: .sample, temperature: 0.9, seed: 5))
        for _ in 0..<50 { #expect(a.choose(logits) == b.choose(logits, context: [0, 0, 1], generated: 3, endOfText: 0)) }
    }
}
