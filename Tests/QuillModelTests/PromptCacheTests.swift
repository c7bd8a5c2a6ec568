// The prompt cache: a session that copies another's keys and values for a shared prefix computes the same logits
// as one that computes them all, and the cache keeps the longest, most recently used entries within its bound.
import Foundation
@testable import QuillModel
import QuillTensor
import Testing

@Suite("Prompt cache")
struct PromptCacheTests {
    static let config = GPTConfig(vocabSize: 13, blockSize: 40, nLayer: 2, nHead: 3, nEmbd: 36)

    static func model() throws -> GPT {
        let m = try GPT(config: config, seed: 3)
        var rng = SplitMix64(seed: 4)
        for i in 0..<m.parameterCount { m.parameters[i] += rng.nextGaussian() * 0.2 }
        return m
    }

    /// Each step's logits of a greedy session until it finishes.
    static func logits(_ engine: InferenceEngine, _ s: GenerationSession) throws -> [[Float]] {
        var out: [[Float]] = []
        while !s.isFinished {
            let l = try engine.extend([(cache: s.cache, tokens: s.tokensForStep())])[0]
            out.append(l)
            s.accept(l)
        }
        return out
    }

    @Test("a session that copies a shared prefix's keys and values computes the logits of one that computes them all")
    func reuseEqualsCompute() throws {
        let engine = InferenceEngine(model: try Self.model())
        let greedy = DecodingOptions(strategy: .greedy)
        let first = try GenerationSession(prompt: [1, 2, 3, 4, 5, 6, 7], config: Self.config, options: greedy, maxTokens: 5)
        _ = try Self.logits(engine, first)
        // The second prompt shares the first's 7 prompt tokens and its first 2 generated ones.
        let shared = Array(first.cachedTokens.prefix(9))
        let prompt = shared + [8, 9, 10]
        let fresh = try GenerationSession(prompt: prompt, config: Self.config, options: greedy, maxTokens: 20)
        let reusing = try GenerationSession(prompt: prompt, config: Self.config, options: greedy, maxTokens: 20)
        let n = PromptCache.commonPrefix(first.cachedTokens, reusing.promptContext)
        #expect(n == 9)
        reusing.reuse(first.cache, count: n)
        #expect(reusing.reusedTokens == 9 && reusing.tokensForStep() == [8, 9, 10])
        let a = try Self.logits(engine, fresh), b = try Self.logits(engine, reusing)
        #expect(a.count == b.count)
        var worst: Float = 0
        for (x, y) in zip(a, b) { for v in x.indices { worst = max(worst, abs(x[v] - y[v])) } }
        #expect(worst < 1e-4)
        #expect(fresh.generated.map(\.token) == reusing.generated.map(\.token))
        // Taking the first session's cache over (its positions past 9 are overwritten) gives the same again.
        let adopting = try GenerationSession(prompt: prompt, config: Self.config, options: greedy, maxTokens: 20)
        adopting.adopt(first.cache, count: n)
        #expect(adopting.cache === first.cache && adopting.tokensForStep() == [8, 9, 10])
        let c = try Self.logits(engine, adopting)
        worst = 0
        for (x, y) in zip(a, c) { for v in x.indices { worst = max(worst, abs(x[v] - y[v])) } }
        #expect(worst < 1e-4)
        #expect(adopting.generated.map(\.token) == fresh.generated.map(\.token))
    }

    @Test("lookup finds the longest shared prefix; an entry another extends is dropped; the least recently used goes past the bound")
    func entries() throws {
        let bytes = KVCache.bytes(config: Self.config)
        let cache = PromptCache(capacityBytes: 2 * bytes, config: Self.config)
        func filled(_ tokens: [Int32]) -> KVCache {
            let c = KVCache(config: Self.config)
            c.count = tokens.count
            return c
        }
        cache.insert(tokens: [1, 2, 3], cache: filled([1, 2, 3]))
        cache.insert(tokens: [1, 2, 3, 4, 5], cache: filled([1, 2, 3, 4, 5]))
        #expect(cache.entries.map(\.tokens) == [[1, 2, 3, 4, 5]])  // [1, 2, 3] is served by the longer one
        cache.insert(tokens: [7, 8], cache: filled([7, 8]))
        #expect(cache.longestPrefix(of: [1, 2, 3, 4, 9])?.count == 4)
        #expect(cache.longestPrefix(of: [7, 9])?.count == 1)
        #expect(cache.longestPrefix(of: [5]) == nil)
        // [7, 8] was used last: a third entry evicts [1, 2, 3, 4, 5].
        cache.insert(tokens: [9], cache: filled([9]))
        #expect(cache.entries.map(\.tokens).sorted { $0[0] < $1[0] } == [[7, 8], [9]])
        #expect(cache.bytes == 2 * bytes)
        // The entry bound holds whatever the bytes allow: the least recently used goes.
        let few = PromptCache(capacityBytes: 100 * bytes, maxEntries: 2, config: Self.config)
        for t in [[Int32(1)], [2], [3]] { few.insert(tokens: t, cache: filled(t)) }
        #expect(few.entries.map(\.tokens) == [[2], [3]])
        // A bound below one cache keeps nothing.
        let off = PromptCache(capacityBytes: bytes - 1, config: Self.config)
        off.insert(tokens: [1], cache: filled([1]))
        #expect(off.entries.isEmpty && !off.isEnabled)
    }
}
