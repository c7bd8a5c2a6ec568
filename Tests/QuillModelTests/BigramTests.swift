// The bigram baseline behind the same training interface.
import Foundation
import QuillModel
import QuillTensor
import Testing

@Suite("Bigram")
struct BigramTests {
    @Test("initial loss is close to ln V and the gradient matches finite differences")
    func lossAndGradient() throws {
        let m = try Bigram(vocabSize: 9, contextLength: 8, seed: 2)
        let b = randomBatch(B: 2, T: 6, V: 9, seed: 3)
        let l0 = try m.forward(inputs: b.x, targets: b.y, batchSize: 2, sequenceLength: 6)!
        #expect(abs(l0 - log(9)) < 0.05)
        m.zeroGradients()
        try m.backward()
        let eps: Float = 1e-2
        for i in Swift.stride(from: 0, to: m.parameterCount, by: 5) {
            let saved = m.parameters[i]
            m.parameters[i] = saved + eps
            let lp = try m.forward(inputs: b.x, targets: b.y, batchSize: 2, sequenceLength: 6)!
            m.parameters[i] = saved - eps
            let lm = try m.forward(inputs: b.x, targets: b.y, batchSize: 2, sequenceLength: 6)!
            m.parameters[i] = saved
            let numeric = (lp - lm) / (2 * eps)
            #expect(abs(numeric - m.gradients[i]) < 1e-3)
        }
    }

    @Test("the bigram table learns a deterministic successor map")
    func learnsSuccessors() throws {
        let V = 6
        let m = try Bigram(vocabSize: V, contextLength: 12)
        let x: [Int32] = (0..<12).map { Int32($0 % V) }
        let y: [Int32] = x.map { ($0 + 1) % Int32(V) }
        let opt = AdamW(layout: m.layout, config: AdamWConfig(weightDecay: 0))
        var loss: Float = 9
        for _ in 0..<300 {
            loss = try m.forward(inputs: x, targets: y, batchSize: 1, sequenceLength: 12)!
            m.zeroGradients()
            try m.backward()
            opt.update(params: m.parameters, grads: m.gradients, lr: 0.1)
        }
        #expect(loss < 0.05)
    }
}
