// The model actor: owns the GPT's inference state and steps every in-flight generation together (continuous
// batching). It runs on its own serial Dispatch queue, so compute never blocks Swift's cooperative threads or the
// HTTP queues. Requests join after their prefill and leave when done; results flow back as AsyncStreams.
import DequeModule
import Dispatch
import Foundation
import QuillModel
import QuillTokenizers

/// A serial executor on a Dispatch queue of its own.
final class DispatchQueueExecutor: SerialExecutor, @unchecked Sendable {
    let queue: DispatchQueue
    init(label: String) { queue = DispatchQueue(label: label, qos: .userInitiated) }
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }
}

/// What to generate.
public struct GenerationRequest: Sendable {
    /// The whole prompt (the model sees its last block_size tokens).
    public var prompt: [Int32]
    public var maxTokens: Int
    public var options: DecodingOptions
    /// Up to 4 stop strings; generation ends before the first occurrence, which is not returned.
    public var stop: [String]
    /// Report each token's log-probability (with `options.logprobs` alternatives) even when that is 0.
    public var reportLogprobs: Bool
    /// One `.delta` event per step (streaming). When false, the deltas are merged into one, sent just before
    /// `.done`: a waiting handler is then woken once per generation instead of once per token.
    public var streaming: Bool
    /// Reuse the keys and values of a cached sequence that began with the same tokens (llama.cpp's cache_prompt).
    public var cachePrompt: Bool

    public init(prompt: [Int32], maxTokens: Int, options: DecodingOptions, stop: [String] = [],
                reportLogprobs: Bool = false, streaming: Bool = true, cachePrompt: Bool = true) {
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.options = options
        self.stop = stop
        self.reportLogprobs = reportLogprobs || options.logprobs > 0
        self.streaming = streaming
        self.cachePrompt = cachePrompt
    }
}

/// One token's log-probability and its best alternatives, with pieces.
public struct TokenLogprob: Sendable {
    public struct Alternative: Sendable {
        public var token: Int32
        /// The vocabulary's spelling (GPT-2's `Ġ` for a space).
        public var piece: String
        /// The token's own text (bytes of a partial character become U+FFFD).
        public var text: String
        public var logprob: Float
    }
    public var token: Int32
    public var piece: String
    public var text: String
    public var logprob: Float
    public var top: [Alternative]
}

/// Timings of one generation, in milliseconds.
public struct GenerationTimings: Sendable {
    public var queuedMs: Double
    public var promptMs: Double
    public var generateMs: Double
    public var tokensPerSecond: Double
    /// Prompt tokens copied from the prompt cache instead of computed.
    public var cachedTokens: Int = 0
}

public enum GenerationEvent: Sendable {
    /// One step: the new text that is safe to emit (may be ""), the token made, and its log-probabilities.
    case delta(text: String, tokens: [Int32], logprobs: [TokenLogprob])
    case done(finishReason: FinishReason, promptTokens: Int, completionTokens: Int, truncated: Bool,
              timings: GenerationTimings)
}

/// A whole generation gathered from its events: what the non-streamed answers of /complete, /v1/completions and
/// /v1/chat/completions are made of. A cancelled handler (the client went away) ends the loop, which cancels the
/// generation; `done` is nil then.
struct CollectedGeneration {
    var text = ""
    var tokens: [Int32] = []
    var logprobs: [TokenLogprob] = []
    var done: (finishReason: FinishReason, promptTokens: Int, completionTokens: Int, truncated: Bool,
               timings: GenerationTimings)?

    /// Reads `events` to the end; the token counts go to `metrics` once, when the generation is done.
    static func collect(_ events: AsyncStream<GenerationEvent>, metrics: ServiceMetrics) async -> CollectedGeneration {
        var c = CollectedGeneration()
        for await event in events {
            switch event {
            case .delta(let text, let tokens, let logprobs):
                c.text += text
                c.tokens += tokens
                c.logprobs += logprobs
            case .done(let reason, let prompt, let completion, let truncated, let timings):
                c.done = (reason, prompt, completion, truncated, timings)
                metrics.tokens(prompt: prompt, generated: completion)
            }
        }
        return c
    }
}

public actor ModelActor {
    /// Generations stepped together at most.
    public nonisolated let batchCapacity: Int
    /// Generations that may wait for a place in the batch; beyond, submit answers 503.
    public nonisolated let queueCapacity: Int
    private let executor: DispatchQueueExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// The model new requests get (live reload replaces it); requests already submitted keep theirs.
    public private(set) var model: LoadedModel
    /// One engine per model that has work: the current one, and an old one until its last generation ends.
    private var engines: [ObjectIdentifier: InferenceEngine] = [:]
    private let workers: Int
    private var active: [Job] = []
    private var waiting = Deque<Job>()
    private var running = false
    private var nextID: UInt64 = 0
    private let metrics: ServiceMetrics?
    /// Finished sequences of the current model, for prompts that begin as theirs did.
    private var promptCache: PromptCache
    private let promptCacheBytes: Int
    private let promptCacheEntries: Int

    public init(model: LoadedModel, batchCapacity: Int = 16, queueCapacity: Int = 64, workers: Int,
                metrics: ServiceMetrics? = nil, promptCacheBytes: Int = 0, promptCacheEntries: Int = 32) {
        self.model = model
        self.batchCapacity = max(1, batchCapacity)
        self.queueCapacity = max(0, queueCapacity)
        self.workers = workers
        self.engines[ObjectIdentifier(model)] = InferenceEngine(weights: model.weights, workers: workers)
        self.executor = DispatchQueueExecutor(label: "quill.model")
        self.metrics = metrics
        self.promptCacheBytes = promptCacheBytes
        self.promptCacheEntries = promptCacheEntries
        self.promptCache = PromptCache(capacityBytes: promptCacheBytes, maxEntries: promptCacheEntries, config: model.config)
    }

    /// In flight (stepping) and waiting generations.
    public var load: (active: Int, waiting: Int) { (active.count, waiting.count) }

    /// The prompt cache's entries and bytes.
    public var promptCacheUsage: (entries: Int, bytes: Int) { (promptCache.entries.count, promptCache.bytes) }

    /// Makes `next` the model of new requests (live reload). Generations already submitted finish on the model
    /// they started with; its engine goes when the last of them ends. The prompt cache starts empty.
    public func use(_ next: LoadedModel) {
        guard next !== model else { return }
        model = next
        promptCache = PromptCache(capacityBytes: promptCacheBytes, maxEntries: promptCacheEntries, config: next.config)
        metrics?.promptCacheChanged(entries: 0, bytes: 0)
        _ = engine(for: next)
        dropIdleEngines()
    }

    private func engine(for m: LoadedModel) -> InferenceEngine {
        if let e = engines[ObjectIdentifier(m)] { return e }
        let e = InferenceEngine(weights: m.weights, workers: workers)
        engines[ObjectIdentifier(m)] = e
        return e
    }

    /// Engines of old models that no generation uses any more.
    private func dropIdleEngines() {
        var used: Set<ObjectIdentifier> = [ObjectIdentifier(model)]
        for job in active + waiting { used.insert(ObjectIdentifier(job.model)) }
        for key in engines.keys where !used.contains(key) { engines[key] = nil }
    }

    /// Queues a generation on `on` (default: the current model). The stream yields one `.delta` per step and a
    /// final `.done`, then finishes. Cancelling the stream's consumer (a client that went away) stops the
    /// generation within one step.
    public func submit(_ request: GenerationRequest, on given: LoadedModel? = nil) throws(ModelServiceError)
        -> AsyncStream<GenerationEvent> {
        let model = given ?? self.model
        guard active.count + waiting.count < batchCapacity + queueCapacity else {
            metrics?.rejected()
            throw .busy(active: active.count, waiting: waiting.count)
        }
        let session: GenerationSession
        do {
            session = try GenerationSession(prompt: request.prompt, config: model.config, options: request.options,
                                            maxTokens: request.maxTokens, stopToken: model.endOfText)
        } catch {
            throw .invalidRequest(error.description)
        }
        _ = engine(for: model)
        nextID &+= 1
        let id = nextID
        let (stream, continuation) = AsyncStream<GenerationEvent>.makeStream(bufferingPolicy: .unbounded)
        let job = Job(id: id, model: model, session: session, request: request, continuation: continuation)
        continuation.onTermination = { [weak self] reason in
            guard case .cancelled = reason, let self else { return }
            Task { await self.cancel(id) }
        }
        waiting.append(job)
        metrics?.queueChanged(active: active.count, waiting: waiting.count)
        if !running {
            running = true
            Task { await self.run() }
        }
        return stream
    }

    /// Stops a generation whose client went away.
    func cancel(_ id: UInt64) {
        if let i = waiting.firstIndex(where: { $0.id == id }) {
            waiting.remove(at: i)
        } else if let job = active.first(where: { $0.id == id }) {
            job.cancelled = true
        }
        metrics?.queueChanged(active: active.count, waiting: waiting.count)
    }

    /// The log-probability of each of tokens[1...] given those before it, with `top` alternatives (scoring: echo +
    /// logprobs, prompt_logprobs). At most block_size tokens.
    public func promptLogprobs(tokens: [Int32], top: Int, on given: LoadedModel? = nil) throws(ModelServiceError)
        -> [TokenLogprob] {
        let model = given ?? self.model
        let scored: [(logprob: Float, top: [(token: Int32, logprob: Float)])]
        do { scored = try engine(for: model).promptLogprobs(tokens: tokens, top: top) } catch {
            throw .invalidRequest("cannot score the prompt: \(error.description)", param: "prompt")
        }
        dropIdleEngines()
        return zip(tokens.dropFirst(), scored).map { token, s in
            TokenLogprob(token: token, piece: model.piece(token), text: model.tokenText(token), logprob: s.logprob,
                         top: s.top.map { .init(token: $0.token, piece: model.piece($0.token),
                                                text: model.tokenText($0.token), logprob: $0.logprob) })
        }
    }

    /// Attention weights [L][H][T][T] of a text's tokens (at most block_size of them).
    public func attention(tokens: [Int32], on given: LoadedModel? = nil) throws(ModelServiceError) -> [[[[Float]]]] {
        let model = given ?? self.model
        defer { dropIdleEngines() }
        do { return try engine(for: model).attention(tokens: tokens) } catch { throw .invalidRequest(error.description) }
    }

    /// A job joins the batch: with cache_prompt, the longest prefix of its prompt that a finished sequence (the
    /// prompt cache) or a running one of the same model already holds is copied instead of computed.
    private func admit(_ job: Job) {
        job.admitted = DispatchTime.now().uptimeNanoseconds
        active.append(job)
        guard job.request.cachePrompt, job.model === model, promptCache.isEnabled else { return }
        let prompt = job.session.promptContext
        // A finished sequence's cache is taken over (nothing copied); a running one's positions are copied.
        var best: (cache: KVCache, count: Int, finished: Bool)? = promptCache.longestPrefix(of: prompt).map {
            ($0.cache, $0.count, true)
        }
        for other in active where other !== job && other.model === job.model && other.session.cache.documentStart == 0 {
            let n = PromptCache.commonPrefix(other.session.cachedTokens, prompt)
            if n > (best?.count ?? 0) { best = (other.session.cache, n, false) }
        }
        // The last prompt token is always computed: its logits choose the first new token.
        let n = min(best?.count ?? 0, prompt.count - 1)
        guard let best, n >= 1, best.cache.sameShape(as: job.session.cache) else {
            metrics?.promptCache(hitTokens: 0)
            return
        }
        if best.finished {
            promptCache.remove(best.cache)
            job.session.adopt(best.cache, count: n)
            metrics?.promptCacheChanged(entries: promptCache.entries.count, bytes: promptCache.bytes)
        } else {
            job.session.reuse(best.cache, count: n)
        }
        metrics?.promptCache(hitTokens: n)
    }

    /// A finished job's cache joins the prompt cache (only the current model's).
    private func retire(_ job: Job) {
        guard !job.failed, job.model === model, promptCache.isEnabled, job.session.cache.count > 0,
              job.session.cache.documentStart == 0 else { return }
        promptCache.insert(tokens: Array(job.session.cachedTokens), cache: job.session.cache)
        metrics?.promptCacheChanged(entries: promptCache.entries.count, bytes: promptCache.bytes)
    }

    private func run() async {
        while true {
            active.removeAll { job in
                if job.cancelled {
                    job.continuation.finish()
                    retire(job)
                }
                return job.cancelled
            }
            while active.count < batchCapacity, !waiting.isEmpty {
                admit(waiting.removeFirst())
            }
            metrics?.queueChanged(active: active.count, waiting: waiting.count)
            if active.isEmpty {
                dropIdleEngines()
                running = false
                return
            }
            // One forward pass per model: during a reload the old model's generations and the new one's step
            // side by side, never in one batch.
            var groups: [(engine: InferenceEngine, jobs: [Job])] = []
            for job in active {
                let e = engine(for: job.model)
                if let g = groups.firstIndex(where: { $0.engine === e }) { groups[g].jobs.append(job) } else {
                    groups.append((e, [job]))
                }
            }
            for group in groups {
                let started = DispatchTime.now().uptimeNanoseconds
                let stepped: [GenerationSession]
                do {
                    stepped = try group.engine.step(group.jobs.map(\.session))
                } catch {
                    // Sessions are validated on submit; a failure here is a bug. End these generations rather
                    // than loop.
                    for job in group.jobs { job.fail() }
                    continue
                }
                let ended = DispatchTime.now().uptimeNanoseconds
                metrics?.stepped(batch: stepped.count, seconds: Double(ended - started) / 1e9)
                for job in group.jobs { job.afterStep(started: started, ended: ended, metrics: metrics) }
            }
            active.removeAll { job in
                if job.session.isFinished { retire(job) }
                return job.session.isFinished
            }
            if groups.count > 1 { dropIdleEngines() }
            await Task.yield()
        }
    }
}

/// One generation: the session, its text decoding and stop strings, its timings and its stream.
final class Job: @unchecked Sendable {  // used only on the model actor's queue
    let id: UInt64
    /// The model this generation started on, and finishes on.
    let model: LoadedModel
    let session: GenerationSession
    let request: GenerationRequest
    let continuation: AsyncStream<GenerationEvent>.Continuation
    var decoder: StreamingDecoder
    var stops: StopStringMatcher
    var cancelled = false
    /// Its step threw: its cache is not trusted.
    var failed = false
    let submitted = DispatchTime.now().uptimeNanoseconds
    var admitted: UInt64 = 0
    var prefillDone: UInt64 = 0
    var firstStep = true
    /// Deltas not yet sent (a request that is not streaming gets them all at the end).
    var pendingText = ""
    var pendingTokens: [Int32] = []
    var pendingLogprobs: [TokenLogprob] = []

    init(id: UInt64, model: LoadedModel, session: GenerationSession, request: GenerationRequest,
         continuation: AsyncStream<GenerationEvent>.Continuation) {
        self.id = id
        self.model = model
        self.session = session
        self.request = request
        self.continuation = continuation
        self.decoder = StreamingDecoder(tokenizer: model.tokenizer)
        self.stops = StopStringMatcher(stops: request.stop)
    }

    func afterStep(started: UInt64, ended: UInt64, metrics: ServiceMetrics?) {
        if firstStep {
            firstStep = false
            prefillDone = ended
        }
        guard let choice = session.generated.last else { return }
        var text = ""
        if session.finishReason != .eos && !session.stoppedOnToken {
            text = stops.feed((try? decoder.feed(Int(choice.token))) ?? "")
            if stops.stopped { session.finish(.stop) }
        }
        if session.isFinished, !stops.stopped {
            text += stops.feed(decoder.finish())
            text += stops.finish()
        }
        var logprobs: [TokenLogprob] = []
        if request.reportLogprobs {
            logprobs = [TokenLogprob(token: choice.token, piece: model.piece(choice.token),
                                     text: model.tokenText(choice.token), logprob: choice.logprob,
                                     top: choice.top.map {
                                         .init(token: $0.token, piece: model.piece($0.token),
                                               text: model.tokenText($0.token), logprob: $0.logprob)
                                     })]
        }
        if request.streaming {
            continuation.yield(.delta(text: text, tokens: [choice.token], logprobs: logprobs))
        } else {
            pendingText += text
            pendingTokens.append(choice.token)
            pendingLogprobs += logprobs
            if session.isFinished {
                continuation.yield(.delta(text: pendingText, tokens: pendingTokens, logprobs: pendingLogprobs))
            }
        }
        if let reason = session.finishReason {
            let generateNs = Double(ended - prefillDone)
            let n = session.generated.count
            let timings = GenerationTimings(
                queuedMs: Double(admitted - submitted) / 1e6,
                promptMs: Double(prefillDone - admitted) / 1e6,
                generateMs: generateNs / 1e6,
                tokensPerSecond: n > 1 && generateNs > 0 ? Double(n - 1) / (generateNs / 1e9) : 0,
                cachedTokens: session.reusedTokens)
            metrics?.finished(timings, completionTokens: n, endToEndSeconds: Double(ended - submitted) / 1e9)
            continuation.yield(.done(finishReason: reason, promptTokens: request.prompt.count, completionTokens: n,
                                     truncated: session.truncated, timings: timings))
            continuation.finish()
        }
    }

    func fail() {
        failed = true
        session.finish(.stop)
        continuation.finish()
    }
}
