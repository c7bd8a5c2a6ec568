// Whole-model tests on tiny configurations: layout, initial loss, gradient check, worker independence,
// overfitting one batch, determinism, and the errors bad input gets.
import Foundation
import QuillModel
import QuillTensor
import Testing

let tiny = GPTConfig(vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8)

/// A seeded batch of B·T ids below V.
func randomBatch(B: Int, T: Int, V: Int, seed: UInt64) -> (x: [Int32], y: [Int32]) {
    var rng = SplitMix64(seed: seed)
    let x = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(V)) }
    let y = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(V)) }
    return (x, y)
}

@Suite("GPT")
struct GPTTests {
    @Test("the layout uses Hugging Face GPT-2 names and counts parameters as PyTorch does")
    func layout() throws {
        let c = GPTConfig(vocabSize: 65, blockSize: 128, nLayer: 8, nHead: 8, nEmbd: 128)
        let l = GPT.layout(for: c)
        let C = 128
        #expect(l.count == 65 * C + 128 * C + 8 * (12 * C * C + 13 * C) + 2 * C)
        #expect(l["h.0.attn.c_attn.weight"]?.shape == [C, 3 * C])
        #expect(l["h.7.mlp.c_proj.weight"]?.shape == [4 * C, C])
        #expect(l["wte.weight"]?.shape == [65, C])
        #expect(l["ln_f.bias"]?.shape == [C])
        #expect(l["lm_head.weight"] == nil)  // tied to wte
        let noBias = GPT.layout(for: GPTConfig(vocabSize: 65, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 8,
                                               positional: .sinusoidal, bias: false))
        #expect(noBias["wpe.weight"] == nil && noBias["h.0.ln_1.bias"] == nil)
        #expect(noBias.tensors.map(\.name) == ["wte.weight", "h.0.ln_1.weight", "h.0.attn.c_attn.weight",
                                               "h.0.attn.c_proj.weight", "h.0.ln_2.weight", "h.0.mlp.c_fc.weight",
                                               "h.0.mlp.c_proj.weight", "ln_f.weight"])
    }

    @Test("invalid configurations are rejected with the field named")
    func validation() {
        #expect(throws: ModelError.invalidConfig(field: "n_embd", message: "n_embd (10) must be divisible by n_head (3)")) {
            try GPTConfig(vocabSize: 5, blockSize: 4, nLayer: 1, nHead: 3, nEmbd: 10).validate()
        }
        #expect(throws: ModelError.self) { try GPT(config: GPTConfig(vocabSize: 0, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 4)) }
        #expect(throws: ModelError.self) { try GPTConfig(vocabSize: 5, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 4, dropout: 1).validate() }
        #expect(throws: ModelError.self) { try GPTConfig(vocabSize: 5, blockSize: 0, nLayer: 1, nHead: 1, nEmbd: 4).validate() }
    }

    @Test("the config round-trips through JSON with snake_case keys")
    func configJSON() throws {
        let c = GPTConfig(vocabSize: 65, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384, dropout: 0.2,
                          positional: .sinusoidal, bias: false)
        let data = try JSONEncoder().encode(c)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"n_embd\":384") && text.contains("\"block_size\":256"))
        #expect(try JSONDecoder().decode(GPTConfig.self, from: data) == c)
    }

    @Test("bad token ids, shapes and a backward without forward are errors, not crashes")
    func badInput() throws {
        let m = try GPT(config: tiny)
        #expect(throws: ModelError.tokenOutOfRange(id: 11, index: 1, vocabSize: 11)) {
            try m.forward(inputs: [0, 11], targets: nil, batchSize: 1, sequenceLength: 2)
        }
        #expect(throws: ModelError.self) { try m.forward(inputs: [0, 1], targets: [0, -5], batchSize: 1, sequenceLength: 2) }
        #expect(throws: ModelError.self) { try m.forward(inputs: Array(repeating: 0, count: 9), targets: nil, batchSize: 1, sequenceLength: 9) }
        #expect(throws: ModelError.self) { try m.forward(inputs: [0, 1, 2], targets: nil, batchSize: 1, sequenceLength: 2) }
        #expect(throws: ModelError.noForwardPass) { try m.backward() }
    }

    @Test("the loss at initialisation is close to ln V", arguments: [PositionalEncoding.learned, .sinusoidal])
    func initialLoss(pos: PositionalEncoding) throws {
        let c = GPTConfig(vocabSize: 65, blockSize: 32, nLayer: 2, nHead: 4, nEmbd: 32, positional: pos)
        let m = try GPT(config: c)
        let b = randomBatch(B: 4, T: 32, V: 65, seed: 5)
        let loss = try #require(try m.forward(inputs: b.x, targets: b.y, batchSize: 4, sequenceLength: 32))
        #expect(abs(loss - log(65)) < 0.05)
    }

    @Test("whole-model gradients match finite differences", arguments: [
        GPTConfig(vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8),
        GPTConfig(vocabSize: 7, blockSize: 8, nLayer: 1, nHead: 1, nEmbd: 12, dropout: 0.2, positional: .sinusoidal, bias: false),
    ])
    func gradientCheck(config: GPTConfig) throws {
        let m = try GPT(config: config, seed: 3, workers: 2)
        // Larger weights than GPT-2's 0.02 so that every path carries a measurable gradient.
        var rng = SplitMix64(seed: 9)
        for i in 0..<m.parameterCount { m.parameters[i] += rng.nextGaussian() * 0.3 }
        let B = 3, T = 5
        var b = randomBatch(B: B, T: T, V: config.vocabSize, seed: 11)
        b.y[4] = ignoreIndex
        func loss() throws -> Double {
            m.trainingPasses = 0  // the same dropout masks on every pass
            return Double(try m.forward(inputs: b.x, targets: b.y, batchSize: B, sequenceLength: T)!)
        }
        _ = try loss()
        m.zeroGradients()
        try m.backward()
        let eps: Float = 1e-2
        for t in m.layout.tensors {
            var worst: Float = 0
            let picks = Swift.stride(from: t.offset, to: t.offset + t.count, by: max(1, t.count / 6))
            for i in picks {
                let saved = m.parameters[i]
                m.parameters[i] = saved + eps
                let lp = try loss()
                m.parameters[i] = saved - eps
                let lm = try loss()
                m.parameters[i] = saved
                let numeric = Float((lp - lm) / Double(2 * eps))
                let analytic = m.gradients[i]
                worst = max(worst, abs(numeric - analytic) / max(1e-2, abs(numeric) + abs(analytic)))
            }
            #expect(worst < 0.03, "\(t.name): relative error \(worst)")
        }
    }

    @Test("backward without accumulating sets every gradient, whatever the block held, on one and two workers",
          arguments: [1, 2])
    func backwardOverwrites(workers: Int) throws {
        // T = 6 of a block size of 9: wpe's rows past T get no gradient and must read zero, not what was there.
        let c = GPTConfig(vocabSize: 13, blockSize: 9, nLayer: 2, nHead: 2, nEmbd: 16)
        let m = try GPT(config: c, seed: 3, workers: workers)
        let b = randomBatch(B: 4, T: 6, V: 13, seed: 4)
        try m.forward(inputs: b.x, targets: b.y, batchSize: 4, sequenceLength: 6)
        m.zeroGradients()
        try m.backward()
        let want = (0..<m.parameterCount).map { m.gradients[$0] }
        for i in 0..<m.parameterCount { m.gradients[i] = Float(i % 7) - 3.5 }
        try m.forward(inputs: b.x, targets: b.y, batchSize: 4, sequenceLength: 6)
        try m.backward(accumulate: false)
        var differ = 0
        for i in 0..<m.parameterCount where m.gradients[i] != want[i] { differ += 1 }
        #expect(differ == 0)
        // And accumulating on top of it adds the same gradients again.
        try m.forward(inputs: b.x, targets: b.y, batchSize: 4, sequenceLength: 6)
        try m.backward(accumulate: true)
        var worst: Float = 0
        for i in 0..<m.parameterCount { worst = max(worst, abs(m.gradients[i] - 2 * want[i])) }
        #expect(worst < 1e-6)
    }

    @Test("one worker and two workers compute the same loss and gradients")
    func workerIndependence() throws {
        let c = GPTConfig(vocabSize: 13, blockSize: 9, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0.1)
        let one = try GPT(config: c, seed: 1, workers: 1), two = try GPT(config: c, seed: 1, workers: 2)
        let b = randomBatch(B: 5, T: 9, V: 13, seed: 2)
        let l1 = try one.forward(inputs: b.x, targets: b.y, batchSize: 5, sequenceLength: 9)!
        let l2 = try two.forward(inputs: b.x, targets: b.y, batchSize: 5, sequenceLength: 9)!
        #expect(abs(l1 - l2) < 1e-6)
        try one.backward()
        try two.backward()
        var worst: Float = 0
        for i in 0..<one.parameterCount { worst = max(worst, abs(one.gradients[i] - two.gradients[i])) }
        #expect(worst < 1e-6)
    }

    @Test("the model overfits one fixed batch to a loss below 0.05")
    func overfit() throws {
        let c = GPTConfig(vocabSize: 16, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32)
        let m = try GPT(config: c, seed: 7)
        let opt = AdamW(layout: m.layout, config: AdamWConfig(weightDecay: 0))
        let b = randomBatch(B: 4, T: 16, V: 16, seed: 8)
        var loss: Float = .infinity
        for _ in 0..<300 {
            loss = try m.forward(inputs: b.x, targets: b.y, batchSize: 4, sequenceLength: 16)!
            if loss < 0.05 { break }
            m.zeroGradients()
            try m.backward()
            clipGradientNorm(m.gradients, maxNorm: 1)
            opt.update(params: m.parameters, grads: m.gradients, lr: 1e-2)
        }
        #expect(loss < 0.05)
    }

    @Test("the same seed gives identical losses, dropout included")
    func determinism() throws {
        func run() throws -> [Float] {
            let c = GPTConfig(vocabSize: 20, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0.2)
            let m = try GPT(config: c, seed: 42)
            let opt = AdamW(layout: m.layout)
            var losses: [Float] = []
            for s in 0..<5 {
                let b = randomBatch(B: 3, T: 8, V: 20, seed: UInt64(s))
                losses.append(try m.forward(inputs: b.x, targets: b.y, batchSize: 3, sequenceLength: 8)!)
                m.zeroGradients()
                try m.backward()
                opt.update(params: m.parameters, grads: m.gradients, lr: 1e-3)
            }
            return losses
        }
        let a = try run(), b = try run()
        #expect(a == b)
        #expect(Set(a).count == a.count)  // and the losses do change from step to step
    }

    @Test("dropout is off outside training: evaluation is deterministic")
    func evalMode() throws {
        let c = GPTConfig(vocabSize: 20, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0.5)
        let m = try GPT(config: c)
        let b = randomBatch(B: 2, T: 8, V: 20, seed: 1)
        let t1 = try m.forward(inputs: b.x, targets: b.y, batchSize: 2, sequenceLength: 8)!
        let t2 = try m.forward(inputs: b.x, targets: b.y, batchSize: 2, sequenceLength: 8)!
        #expect(t1 != t2)
        m.isTraining = false
        let e1 = try m.forward(inputs: b.x, targets: b.y, batchSize: 2, sequenceLength: 8)!
        let e2 = try m.forward(inputs: b.x, targets: b.y, batchSize: 2, sequenceLength: 8)!
        #expect(e1 == e2)
    }

    @Test("logits without targets equal those implied by the loss with targets")
    func logitsAgreeWithLoss() throws {
        let m = try GPT(config: tiny)
        let b = randomBatch(B: 2, T: 4, V: 11, seed: 4)
        try m.forward(inputs: b.x, targets: nil, batchSize: 2, sequenceLength: 4)
        var total = 0.0
        for s in 0..<2 {
            for t in 0..<4 {
                let z = m.logits(sample: s, position: t)
                let mx = z.max()!
                let lse = log(z.reduce(0.0) { $0 + exp(Double($1 - mx)) }) + Double(mx)
                total += lse - Double(z[Int(b.y[s * 4 + t])])
            }
        }
        let loss = try m.forward(inputs: b.x, targets: b.y, batchSize: 2, sequenceLength: 4)!
        #expect(abs(Float(total / 8) - loss) < 1e-5)
    }
}
