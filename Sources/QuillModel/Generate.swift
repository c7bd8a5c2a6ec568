// Generation for any LanguageModel, used by the trainer's samples and `quill-train sample`: through KV caches for a
// GPT; for other models (the bigram) through the training forward pass, the context always in one fixed
// (1, block_size) shape, right-padded, so no buffer is reallocated per token (causal attention ignores the padding).
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
    /// Continues `prompt` (token ids, at least one) by up to `maxNewTokens` ids; stops early at `stopToken`
    /// (which is returned as the last id). A GPT decodes through KV caches (`InferenceEngine`); other models run
    /// their full forward pass per token. Dropout is off while generating; the previous mode is restored afterwards.
    public func generate(prompt: [Int32], maxNewTokens: Int, options: SamplingOptions = SamplingOptions(),
                         stopToken: Int32? = nil) throws(ModelError) -> [Int32] {
        guard !prompt.isEmpty else { throw .invalidBatch("generation needs a prompt of at least one token") }
        let decoding = DecodingOptions(strategy: options.topK == nil ? .sample : .topK, temperature: options.temperature,
                                       topK: options.topK ?? 0, seed: options.seed)
        if let gpt = self as? GPT {
            let session = try GenerationSession(prompt: prompt, config: gpt.config, options: decoding,
                                                maxTokens: maxNewTokens, stopToken: stopToken)
            return try InferenceEngine(model: gpt, workers: 1).generate([session])[0]
        }
        let wasTraining = isTraining
        isTraining = false
        defer { isTraining = wasTraining }
        let T = contextLength
        var sampler = Sampler(options: decoding)
        var context = prompt
        var out: [Int32] = []
        var window = [Int32](repeating: 0, count: T)
        for _ in 0..<maxNewTokens {
            let tail = context.suffix(T)
            for (i, id) in tail.enumerated() { window[i] = id }
            try forward(inputs: window, targets: nil, batchSize: 1, sequenceLength: T)
            let next = sampler.choose(self.logits(sample: 0, position: tail.count - 1)).token
            out.append(next)
            if next == stopToken { break }
            context.append(next)
        }
        return out
    }
}
