// Plain autoregressive generation through the training forward pass (no KV cache): the notebooks' way, used by
// the trainer's samples and `quill-train sample`. The context always runs through one fixed (1, block_size) shape,
// right-padded, so no buffer is reallocated per token; causal attention makes the padding invisible.
import Foundation
import QuillTensor

public struct SamplingOptions: Sendable, Equatable {
    /// 0 means greedy.
    public var temperature: Float
    /// Keep only the k most likely tokens (nil: all).
    public var topK: Int?
    public var seed: UInt64

    public init(temperature: Float = 0.8, topK: Int? = 40, seed: UInt64 = 1337) {
        self.temperature = temperature
        self.topK = topK
        self.seed = seed
    }
}

extension LanguageModel {
    /// Continues `prompt` (token ids, at least one) by up to `maxNewTokens` ids; stops early at `stopToken`.
    /// Dropout is off while generating; the previous mode is restored afterwards.
    public func generate(prompt: [Int32], maxNewTokens: Int, options: SamplingOptions = SamplingOptions(),
                         stopToken: Int32? = nil) throws(ModelError) -> [Int32] {
        guard !prompt.isEmpty else { throw .invalidBatch("generation needs a prompt of at least one token") }
        let wasTraining = isTraining
        isTraining = false
        defer { isTraining = wasTraining }
        let T = contextLength
        var rng = SplitMix64(seed: options.seed)
        var context = prompt
        var out: [Int32] = []
        var window = [Int32](repeating: 0, count: T)
        for _ in 0..<maxNewTokens {
            let tail = context.suffix(T)
            for (i, id) in tail.enumerated() { window[i] = id }
            try forward(inputs: window, targets: nil, batchSize: 1, sequenceLength: T)
            let logits = self.logits(sample: 0, position: tail.count - 1)
            let next = Int32(pickToken(logits, options: options, rng: &rng))
            out.append(next)
            if next == stopToken { break }
            context.append(next)
        }
        return out
    }
}

/// Greedy when temperature is 0; else softmax(logits / temperature) restricted to the top k, sampled.
func pickToken(_ logits: [Float], options: SamplingOptions, rng: inout SplitMix64) -> Int {
    if options.temperature <= 0 {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return best
    }
    var order = Array(logits.indices)
    if let k = options.topK, k < logits.count {
        order.sort { logits[$0] > logits[$1] }
        order = Array(order.prefix(max(1, k)))
    }
    let mx = order.map { logits[$0] }.max()!
    var weights = order.map { Double(exp((logits[$0] - mx) / options.temperature)) }
    let total = weights.reduce(0, +)
    var u = Double(rng.nextFloat()) * total
    for (j, w) in weights.enumerated() {
        u -= w
        if u <= 0 { return order[j] }
    }
    weights.removeAll()
    return order.last!
}
