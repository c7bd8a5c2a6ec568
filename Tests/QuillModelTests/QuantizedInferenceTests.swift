// The engine in 8 bits against its twin: the same engine in f32 on the dequantized weights. And scoring, against the
// full forward pass.
import Foundation
@testable import QuillModel
import QuillTensor
import Testing

@Suite("Inference in 8 bits and scoring")
struct QuantizedInferenceTests {
    static let config = GPTConfig(vocabSize: 40, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 64)

    /// A model whose embedding table 8-bit blocks hold exactly (each block of 32 is integers times a power of two,
    /// with a ±127 in it), so that the q8 head and the f32 embeddings read the same values.
    func exactEmbeddingModel(seed: UInt64) throws -> GPT {
        let m = try GPT(config: Self.config, seed: seed)
        let wte = m.layout.slice("wte.weight", of: m.parameters)
        var rng = SplitMix64(seed: seed + 1)
        let step: Float = 1.0 / 1024
        for i in 0..<wte.count { wte[i] = Float(Int(rng.next() % 255) - 127) * step }
        for i in stride(from: 0, to: wte.count, by: 32) { wte[i] = 127 * step }
        return m
    }

    @Test("a q8 engine with float activations decodes as the f32 engine on its dequantized weights: every step's logits agree, across context shifts")
    func q8EqualsDequantizedTwin() throws {
        let worst = try decodeAgainstDequantizedTwin(activations: .float)
        #expect(worst < 1e-4, "largest logit difference \(worst)")
    }

    // With 8-bit activations (VNNI builds), every input of every product is rounded to a step of max |x| / 127 of
    // its block of 32, an error of at most 1/254 of the block's largest value, as llama.cpp's q8_0 products round
    // them; QuantizedTests proves that bound product by product. Through two layers and the head of this model, over
    // 48 greedy steps with context shifts, that moves logits by 0.011 at most (measured). 0.05 leaves
    // 4× room for other seeds while still catching a broken integer path, which errs by the size of the logits.
    @Test("a q8 engine with 8-bit activations decodes as the f32 engine on its dequantized weights, within 0.05 per logit",
          .enabled(if: Q8Weights.integerKernels))
    func q8IntegerActivationsStayClose() throws {
        let worst = try decodeAgainstDequantizedTwin(activations: .int8)
        #expect(worst > 0 && worst < 0.05, "largest logit difference \(worst)")
    }

    /// Greedy decoding past the context's end (so the cache shifts) with q8 weights and with their dequantized f32
    /// twin, both following the q8 engine's choices: the largest difference in any step's logits.
    func decodeAgainstDequantizedTwin(activations: Q8Weights.Activations) throws -> Float {
        let m = try exactEmbeddingModel(seed: 9)
        let twin = try exactEmbeddingModel(seed: 9)
        let C = Self.config.nEmbd
        for l in 0..<Self.config.nLayer {
            for (name, IC, OC) in [("attn.c_attn.weight", C, 3 * C), ("attn.c_proj.weight", C, C),
                                   ("mlp.c_fc.weight", C, 4 * C), ("mlp.c_proj.weight", 4 * C, C)] {
                let w = twin.layout.slice("h.\(l).\(name)", of: twin.parameters)
                let dq = Q8Weights(w, inChannels: IC, outChannels: OC).dequantized()
                w.update(fromContentsOf: dq)
                freeFloats(dq)
            }
        }
        let q8 = InferenceEngine(weights: InferenceWeights(model: m, precision: .q8, activations: activations))
        let f32 = InferenceEngine(model: twin)
        #expect(q8.weights.precision == .q8 && f32.weights.precision == .f32)
        let a = try GenerationSession(prompt: [1, 2, 3], config: Self.config, options: DecodingOptions(strategy: .greedy),
                                      maxTokens: 2 * Self.config.blockSize)
        let b = try GenerationSession(prompt: [1, 2, 3], config: Self.config, options: DecodingOptions(strategy: .greedy),
                                      maxTokens: 2 * Self.config.blockSize)
        var worst: Float = 0
        while !a.isFinished {
            let la = try q8.extend([(a.cache, a.tokensForStep())])[0]
            let lb = try f32.extend([(b.cache, b.tokensForStep())])[0]
            for v in 0..<Self.config.vocabSize { worst = max(worst, abs(la[v] - lb[v])) }
            a.accept(la)
            b.accept(la)   // both follow the q8 choice, so a near tie cannot split the two texts
        }
        #expect(a.shifts >= 1)
        print("q8 (\(activations) activations) against its dequantized twin: largest logit difference \(worst)")
        return worst
    }

    @Test("q8 weights hold the block matrices and head in about a quarter of the f32 panels' bytes")
    func q8IsSmaller() throws {
        let m = try GPT(config: Self.config, seed: 3)
        let f = InferenceWeights(model: m), q = InferenceWeights(model: m, precision: .q8)
        let C = Self.config.nEmbd, V = Self.config.vocabSize
        let blockWeights = Self.config.nLayer * 12 * C * C
        #expect(f.packedBytes == blockWeights * 4)
        // Each panel is 16 columns wide (the 40-token head pads to 48) and each 32 values share a 2-byte scale.
        #expect(q.packedBytes == (blockWeights + 48 * C) * 34 / 32)
        #expect(V <= 48)
    }

    @Test("score gives each token's negative log-likelihood as the full forward pass does")
    func scoreEqualsFullForward() throws {
        let m = try GPT(config: Self.config, seed: 4)
        m.isTraining = false
        var rng = SplitMix64(seed: 2)
        let tokens = (0..<Self.config.blockSize).map { _ in Int32(rng.next() % UInt64(Self.config.vocabSize)) }
        let nll = try InferenceEngine(model: m).score(tokens: tokens)
        try m.forward(inputs: tokens, targets: nil, batchSize: 1, sequenceLength: tokens.count)
        #expect(nll.count == tokens.count - 1)
        for i in 0..<(tokens.count - 1) {
            let l = m.logits(sample: 0, position: i)
            let mx = l.max()!
            let expected = log(l.reduce(0) { $0 + exp(Double($1 - mx)) }) + Double(mx) - Double(l[Int(tokens[i + 1])])
            #expect(abs(Double(nll[i]) - expected) < 1e-4, "position \(i)")
        }
        #expect(throws: ModelError.self) { try InferenceEngine(model: m).score(tokens: [1]) }
        #expect(throws: ModelError.self) { try InferenceEngine(model: m).score(tokens: [Int32](repeating: 1, count: 25)) }
    }
}
