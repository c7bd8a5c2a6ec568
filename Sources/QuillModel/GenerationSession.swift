// One sequence being generated: its cache, its sampler, the tokens it has made and why it stopped; and the
// batched step that advances many sessions in one forward pass (continuous batching: sessions join with their
// prompt still to prefill and leave when done, without disturbing the others).
import QuillTensor

public enum FinishReason: String, Sendable, Codable {
    /// max_tokens reached.
    case length
    /// The model's end-of-text token.
    case eos
    /// A stop condition of the caller (stop strings are matched on text by the layer that has the tokenizer).
    case stop
}

public final class GenerationSession: @unchecked Sendable {
    public let maxTokens: Int
    public let stopToken: Int32?
    /// True when the prompt was longer than the context window and only its last block_size tokens are used.
    public let truncated: Bool
    public private(set) var generated: [TokenChoice] = []
    public private(set) var finishReason: FinishReason?
    /// The generation ended on one of its stop_token_ids (which, like end-of-text, is not part of the text).
    public private(set) var stoppedOnToken = false
    public var isFinished: Bool { finishReason != nil }
    /// Context shifts so far (each re-prefills the kept half of the window).
    public private(set) var shifts = 0

    public private(set) var cache: KVCache
    /// Prompt tokens taken from another sequence's cache instead of being computed (a prompt cache hit).
    public private(set) var reusedTokens = 0
    var sampler: Sampler
    let documentToken: Int32?
    /// The tokens of the current context, in order; the last `pending.count` are not in the cache yet.
    var context: [Int32]
    var pending: [Int32]

    public init(prompt: [Int32], config: GPTConfig, options: DecodingOptions, maxTokens: Int, stopToken: Int32? = nil)
        throws(ModelError) {
        guard !prompt.isEmpty else { throw .invalidBatch("a generation needs at least one prompt token") }
        guard maxTokens >= 1 else { throw .invalidBatch("max tokens must be >= 1") }
        for (i, t) in prompt.enumerated() where t < 0 || Int(t) >= config.vocabSize {
            throw .tokenOutOfRange(id: t, index: i, vocabSize: config.vocabSize)
        }
        self.maxTokens = maxTokens
        self.stopToken = stopToken
        self.cache = KVCache(config: config)
        self.sampler = Sampler(options: options)
        // A model that keeps documents apart sees nothing before the prompt's last document token.
        var kept = prompt[...]
        if let d = config.documentToken.map(Int32.init), let last = prompt.lastIndex(of: d) { kept = prompt[last...] }
        documentToken = config.documentToken.map(Int32.init)
        truncated = kept.count > config.blockSize
        context = Array(kept.suffix(config.blockSize))
        pending = context
    }

    /// The tokens whose keys and values the cache holds, in position order.
    public var cachedTokens: ArraySlice<Int32> { context.prefix(cache.count) }

    /// The tokens the first step will process (the prompt as the model sees it), before any step.
    public var promptContext: [Int32] { context }

    /// Starts from the first `n` positions of `source`, whose tokens must be this prompt's first n (the caller
    /// checks): they are copied, not computed, and the first step processes the rest. n < the prompt's length, so
    /// the last prompt token is always computed (its logits choose the first token).
    public func reuse(_ source: KVCache, count n: Int) {
        precondition(generated.isEmpty && cache.count == 0 && n >= 1 && n < context.count)
        cache.copyPrefix(from: source, count: n)
        pending = Array(context[n...])
        reusedTokens = n
    }

    /// Starts from `cache` itself (a finished sequence's, of the same shape, that nobody else uses), keeping its
    /// first `n` positions, whose tokens must be this prompt's first n: nothing is copied, and the first step
    /// overwrites the positions past n.
    public func adopt(_ taken: KVCache, count n: Int) {
        precondition(generated.isEmpty && cache.count == 0 && n >= 1 && n < context.count && n <= taken.count
                     && taken.sameShape(as: cache) && taken.documentStart == 0)
        taken.count = n
        cache = taken
        pending = Array(context[n...])
        reusedTokens = n
    }

    /// Ends the session now (a cancelled request, a matched stop string).
    public func finish(_ reason: FinishReason) {
        if finishReason == nil { finishReason = reason }
    }

    /// The tokens the cache must take this step: the pending ones, after a context shift if they do not fit.
    func tokensForStep() -> [Int32] {
        if cache.count + pending.count > cache.capacity {
            // Context shift (llama.cpp's): keep the newest half of the window and recompute it from position 0,
            // since learned absolute positions cannot be moved.
            let keep = max(1, cache.capacity / 2)
            context = Array(context.suffix(keep))
            pending = context
            cache.reset()
            shifts += 1
        }
        return pending
    }

    func accept(_ logits: [Float]) {
        let choice = sampler.choose(logits, context: context, generated: generated.count, endOfText: stopToken)
        generated.append(choice)
        pending = []
        let controls = sampler.options.controls
        if choice.token == stopToken && !controls.ignoreEOS {
            finishReason = .eos
            return
        }
        if controls.stopTokenIDs.contains(choice.token) {
            finishReason = .stop
            stoppedOnToken = true
            return
        }
        if choice.token == documentToken {
            // A new document: the old one is out of its sight, so it starts the window afresh.
            context = []
            cache.reset()
        }
        context.append(choice.token)
        pending = [choice.token]
        if generated.count >= maxTokens { finishReason = .length }
    }
}

extension InferenceEngine {
    /// Advances every unfinished session by one token, all in one batched forward pass. Sessions whose prompt
    /// is not processed yet are prefilled in the same pass. Returns the sessions that made a token.
    @discardableResult
    public func step(_ sessions: [GenerationSession]) throws(ModelError) -> [GenerationSession] {
        let active = sessions.filter { !$0.isFinished }
        guard !active.isEmpty else { return [] }
        let items = active.map { (cache: $0.cache, tokens: $0.tokensForStep()) }
        let logits = try extend(items)
        for (s, l) in zip(active, logits) { s.accept(l) }
        return active
    }

    /// Runs sessions to completion (a convenience over step); returns the generated token ids of each.
    public func generate(_ sessions: [GenerationSession]) throws(ModelError) -> [[Int32]] {
        while sessions.contains(where: { !$0.isFinished }) { try step(sessions) }
        return sessions.map { $0.generated.map(\.token) }
    }
}
