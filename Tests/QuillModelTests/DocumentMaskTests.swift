// Documents kept apart: a model with a document token sees, for every token, only its own document, at positions
// counted from the document's start, in the training forward pass, its gradients, the KV-cache engine and generation.
import Foundation
@testable import QuillModel
import QuillTensor
import Testing

@Suite("Documents kept apart")
struct DocumentMaskTests {
    /// Token 0 opens a document.
    static let config = GPTConfig(vocabSize: 11, blockSize: 12, nLayer: 2, nHead: 2, nEmbd: 16, documentToken: 0)

    func model(_ c: GPTConfig = config) throws -> GPT {
        let m = try GPT(config: c, seed: 3)
        var rng = SplitMix64(seed: 4)
        for i in 0..<m.parameterCount { m.parameters[i] += rng.nextGaussian() * 0.2 }
        m.isTraining = false
        return m
    }

    func logits(_ m: GPT, _ tokens: [Int32]) throws -> [[Float]] {
        try m.forward(inputs: tokens, targets: nil, batchSize: 1, sequenceLength: tokens.count)
        return (0..<tokens.count).map { m.logits(sample: 0, position: $0) }
    }

    func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    @Test("each document in a packed row gets the logits it gets alone, positions counted from its start")
    func packedEqualsAlone() throws {
        let m = try model()
        let packed: [Int32] = [4, 5, 6, 0, 7, 8, 0, 9, 3, 2]
        let all = try logits(m, packed)
        let first = try logits(m, [4, 5, 6])
        let second = try logits(m, [0, 7, 8])
        let third = try logits(m, [0, 9, 3, 2])
        for i in 0..<3 { #expect(maxDiff(all[i], first[i]) < 1e-5) }
        for i in 0..<3 { #expect(maxDiff(all[3 + i], second[i]) < 1e-5) }
        for i in 0..<4 { #expect(maxDiff(all[6 + i], third[i]) < 1e-5) }
        // The same weights without the mask see across the boundary: the check above is not vacuous.
        var open = Self.config
        open.documentToken = nil
        let unmasked = try GPT(config: open, seed: 3)
        unmasked.parameters.baseAddress!.update(from: m.parameters.baseAddress!, count: m.parameterCount)
        unmasked.isTraining = false
        #expect(maxDiff(try logits(unmasked, packed)[7], third[1]) > 1e-3)
    }

    @Test("the loss and gradients of a packed row are the sums of its documents' own")
    func packedGradients() throws {
        let m = try model()
        func lossAndGrads(_ x: [Int32], _ y: [Int32]) throws -> (Float, [Float]) {
            m.zeroGradients()
            let loss = try m.forward(inputs: x, targets: y, batchSize: 1, sequenceLength: x.count)!
            try m.backward()
            return (loss, Array(m.gradients))
        }
        // Row: document A = [4, 5] (predicting 5, 0), document B = [0, 7, 8] (predicting 7, 8, 1).
        let (lp, gp) = try lossAndGrads([4, 5, 0, 7, 8], [5, 0, 7, 8, 1])
        let (la, ga) = try lossAndGrads([4, 5], [5, 0])
        let (lb, gb) = try lossAndGrads([0, 7, 8], [7, 8, 1])
        // Mean over 5 targets = (2·mean A + 3·mean B) / 5; gradients likewise.
        #expect(abs(lp - (2 * la + 3 * lb) / 5) < 1e-5)
        var worst: Float = 0
        for i in gp.indices { worst = max(worst, abs(gp[i] - (2 * ga[i] + 3 * gb[i]) / 5)) }
        #expect(worst < 1e-5)
    }

    @Test("the KV-cache engine and generation follow the same documents as the training pass")
    func engineFollowsDocuments() throws {
        let m = try model()
        let engine = InferenceEngine(model: m)
        let packed: [Int32] = [4, 5, 6, 0, 7, 8, 0, 9, 3]
        let full = try logits(m, packed)
        // One prefill of the whole prompt, then decode steps one token at a time.
        let cache = KVCache(config: Self.config)
        let prefill = try engine.extend([(cache: cache, tokens: Array(packed.prefix(5)))])[0]
        #expect(maxDiff(prefill, full[4]) < 1e-4)
        for i in 5..<packed.count {
            let step = try engine.extend([(cache: cache, tokens: [packed[i]])])[0]
            #expect(maxDiff(step, full[i]) < 1e-4)
        }
        // Scores: the row predicting each next token, across documents.
        let nll = try engine.score(tokens: packed)
        for i in 0..<(packed.count - 1) {
            let row = full[i], mx = row.max()!
            let lse = log(row.reduce(0.0) { $0 + Double(expf($1 - mx)) }) + Double(mx)
            #expect(abs(Double(nll[i]) - (lse - Double(row[Int(packed[i + 1])]))) < 1e-3)
        }
        // A prompt's earlier documents change nothing: generation starts from its last document.
        let options = DecodingOptions(strategy: .greedy)
        let a = try GenerationSession(prompt: [4, 5, 6, 0, 9, 3], config: Self.config, options: options, maxTokens: 20)
        let b = try GenerationSession(prompt: [0, 9, 3], config: Self.config, options: options, maxTokens: 20)
        let out = try engine.generate([a, b])
        #expect(out[0] == out[1])
    }

    @Test("document_token travels in the config JSON and must name a token of the vocabulary")
    func configRoundTrip() throws {
        let data = try JSONEncoder().encode(Self.config)
        #expect(String(decoding: data, as: UTF8.self).contains("\"document_token\":0"))
        #expect(try JSONDecoder().decode(GPTConfig.self, from: data) == Self.config)
        var bad = Self.config
        bad.documentToken = 11
        #expect(throws: ModelError.self) { try bad.validate() }
        let plain = GPTConfig(vocabSize: 11, blockSize: 12, nLayer: 1, nHead: 1, nEmbd: 8)
        #expect(!String(decoding: try JSONEncoder().encode(plain), as: UTF8.self).contains("document_token"))
    }
}
