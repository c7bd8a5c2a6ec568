// OpenAI's legacy completions API (`/v1/completions`, `/v1/models`), so its SDKs work with base_url
// http://HOST:PORT/v1. Defaults are OpenAI's (max_tokens 16, temperature 1, top_p 1); `top_k` is an extension.
import Foundation
import QuillHTTP
import QuillModel
import QuillJSON

enum OpenAI {
    static func modelObject(_ api: QuillAPI) -> ModelObject {
        ModelObject(id: api.model.name, created: Int(api.startedAt.timeIntervalSince1970))
    }

    static func models(_ api: QuillAPI) -> ModelList { ModelList(data: [modelObject(api)]) }

    static func unknownModel(_ name: String) -> APIError {
        APIError(status: 404, message: "the model \(APIError.clip(name)) does not exist; GET /v1/models lists it",
                 type: "not_found_error", param: "model", code: "model_not_found")
    }

    struct Choice: Sendable {
        var index: Int
        var prompt: String
        var tokens: [Int32]
        var request: GenerationRequest
        /// With echo and logprobs: the prompt's log-probabilities (tokens 1...).
        var promptScores: [TokenLogprob]? = nil
    }

    static func completions(_ api: QuillAPI, _ request: HTTPServerRequest) async throws(APIError)
        -> HTTPServerResponse {
        let (p, _) = try api.body(request, textField: nil)
        let r = try p.decode(OpenAICompletionRequest.self)
        typealias D = OpenAICompletionRequest.Default
        if let name = r.model, name != api.model.name { throw unknownModel(name) }
        let prompts = try promptList(api, r.prompt)
        let echo = r.echo ?? D.echo
        // max_tokens 0 scores the prompt only (echo with logprobs: what lm-evaluation-harness sends).
        let maxTokens = try Limits.int(r.maxTokens, "max_tokens", default: D.maxTokens, in: 0...api.config.maxTokensLimit)
        if maxTokens == 0 && !echo {
            throw .invalid("max_tokens 0 generates nothing: it is for scoring a prompt, with echo true", param: "max_tokens")
        }
        let n = try Limits.int(r.n, "n", default: D.n, in: 1...8)
        let stream = r.stream ?? D.stream
        let includeUsage = r.streamOptions?.includeUsage ?? false
        var logprobs: Int? = nil
        if let k = r.logprobs { logprobs = try Limits.int(k, "logprobs", default: 0, in: 0...5) }
        let s = try p.decode(OpenAISamplingRequest.self)
        let stop = try api.stopStrings(s.stop)
        let sampling = try Self.sampling(api, s, controls: p.decode(SamplingRequest.self), maxTokens: maxTokens)
        let cachePrompt = s.cachePrompt ?? OpenAISamplingRequest.Default.cachePrompt
        // echo with logprobs: the prompt's own log-probabilities first (the first token has none).
        var promptScores: [[TokenLogprob]] = []
        if echo, let k = logprobs {
            for prompt in prompts { promptScores.append(try await api.promptLogprobs(tokens: prompt.tokens, top: k)) }
        }
        if maxTokens == 0 {
            var results: [TextCompletion.Choice] = []
            var promptTokens = 0
            for (pi, prompt) in prompts.enumerated() {
                promptTokens += prompt.tokens.count
                for i in 0..<n {
                    let lp = logprobs == nil ? nil
                        : logprobsObject([], textOffset: 0, prompt: (prompt.tokens, promptScores[pi], api.model))
                    results.append(.init(text: prompt.text, index: pi * n + i, logprobs: Nullable(lp),
                                         finishReason: Nullable("length")))
                }
            }
            api.metrics.tokens(prompt: promptTokens, generated: 0)
            return QuillAPI.json(TextCompletion(id: QuillAPI.newID("cmpl"), created: Int(Date().timeIntervalSince1970),
                                                model: api.model.name, choices: results, usage: Usage(promptTokens, 0)))
        }
        var choices: [Choice] = []
        for (pi, promptItem) in prompts.enumerated() {
            let prompt = promptItem.text, tokens = promptItem.tokens
            for i in 0..<n {
                let index = pi * n + i
                let options = sampling.options(index: index, logprobs: logprobs ?? 0)
                choices.append(Choice(index: index, prompt: prompt, tokens: tokens,
                                      request: GenerationRequest(prompt: tokens, maxTokens: maxTokens,
                                                                 options: options, stop: stop,
                                                                 reportLogprobs: logprobs != nil, streaming: stream,
                                                                 cachePrompt: cachePrompt),
                                      promptScores: promptScores.isEmpty ? nil : promptScores[pi]))
            }
        }
        let streams = try await submitAll(api, choices.map(\.request))
        let id = QuillAPI.newID("cmpl")
        let created = Int(Date().timeIntervalSince1970)
        let name = api.model.name
        let wantLogprobs = logprobs != nil
        let metrics = api.metrics

        if stream {
            let pairs = Array(zip(choices, streams))
            let usage = UsageTally()
            let includeUsage = includeUsage
            return SSE.stream { writer in
                await withTaskGroup(of: Void.self) { group in
                    for (choice, events) in pairs {
                        group.addTask {
                            if echo {
                                let lp = choice.promptScores.map {
                                    logprobsObject([], textOffset: 0, prompt: (choice.tokens, $0, api.model))
                                }
                                writer.send(chunk(id, created, name, choice.index, choice.prompt, lp, nil))
                            }
                            for await event in events {
                                switch event {
                                case .delta(let text, _, let lps):
                                    let lp = wantLogprobs ? logprobsObject(lps, textOffset: 0) : nil
                                    if !text.isEmpty || lp != nil {
                                        // A client too far behind: leaving the loop cancels this generation.
                                        if !writer.send(chunk(id, created, name, choice.index, text, lp, nil)) { return }
                                    }
                                case .done(let reason, let promptTokens, let completionTokens, _, let timings):
                                    metrics.tokens(prompt: promptTokens, generated: completionTokens)
                                    usage.add(prompt: promptTokens, completion: completionTokens,
                                              cached: timings.cachedTokens, countPrompt: choice.index % n == 0)
                                    writer.send(chunk(id, created, name, choice.index, "", nil, finishReason(reason)))
                                }
                            }
                        }
                    }
                }
                if writer.fellBehind {
                    SSE.slowReader(writer)
                } else if !Task.isCancelled {
                    if includeUsage {
                        let (p, c, cached) = usage.totals
                        writer.send(TextCompletion(id: id, created: created, model: name, choices: [],
                                                   usage: Usage(p, c, cached: cached)))
                    }
                    writer.done()
                }
            }
        }

        var results: [TextCompletion.Choice] = []
        var promptTokens = 0, completionTokens = 0, cachedTokens = 0
        var countedPrompts = Set<Int>()
        for (choice, events) in zip(choices, streams) {
            let generation = await CollectedGeneration.collect(events, metrics: metrics)
            let text = (echo ? choice.prompt : "") + generation.text
            let lps = generation.logprobs
            let reason = generation.done?.finishReason ?? .length
            if let done = generation.done {
                completionTokens += done.completionTokens
                if countedPrompts.insert(choice.index / n).inserted {
                    promptTokens += done.promptTokens
                    cachedTokens += done.timings.cachedTokens
                }
            }
            let lp = wantLogprobs ? logprobsObject(lps, textOffset: echo ? choice.prompt.utf8.count : 0,
                                                   prompt: choice.promptScores.map { (choice.tokens, $0, api.model) })
                : nil
            results.append(.init(text: text, index: choice.index, logprobs: Nullable(lp),
                                 finishReason: Nullable(finishReason(reason))))
        }
        return QuillAPI.json(TextCompletion(id: id, created: created, model: name, choices: results,
                                            usage: Usage(promptTokens, completionTokens, cached: cachedTokens)))
    }

    /// The sampling fields of /v1/completions and /v1/chat/completions, with OpenAI's defaults (temperature 1,
    /// top_p 1; top_k only when given) and the sampling controls.
    struct Sampling {
        var strategy: DecodingStrategy
        var temperature: Float
        var topP: Float
        var topK: Int
        var seed: UInt64
        var controls: SamplingControls

        /// Choice `index` of a request: seed + index, so n choices differ and each is reproducible.
        func options(index: Int, logprobs: Int) -> DecodingOptions {
            DecodingOptions(strategy: strategy, temperature: temperature, topK: topK, topP: topP,
                            seed: seed &+ UInt64(index), logprobs: logprobs, controls: controls)
        }
    }

    static func sampling(_ api: QuillAPI, _ r: OpenAISamplingRequest, controls: SamplingRequest, maxTokens: Int)
        throws(APIError) -> Sampling {
        typealias D = OpenAISamplingRequest.Default
        let temperature = try Limits.double(r.temperature, "temperature", default: D.temperature, check: { $0 >= 0 && $0 <= 2 },
                                            range: "between 0 and 2")
        let topP = try Limits.double(r.topP, "top_p", default: D.topP, check: { $0 > 0 && $0 <= 1 }, range: "in (0, 1]")
        var topK: Int? = nil
        if let k = r.topK { topK = try Limits.int(k, "top_k", default: D.topK, in: 1...1_000_000) }
        let strategy: DecodingStrategy = temperature == 0 ? .greedy : topP < 1 ? .topP : topK != nil ? .topK : .sample
        return Sampling(strategy: strategy, temperature: Float(temperature), topP: Float(topP), topK: topK ?? D.topK,
                        seed: r.seed ?? UInt64.random(in: 0...UInt64.max),
                        controls: try api.samplingControls(controls, maxTokens: max(maxTokens, 0)))
    }

    /// Queues every choice of a request together (so they run in one batch), or none of them.
    static func submitAll(_ api: QuillAPI, _ requests: [GenerationRequest]) async throws(APIError)
        -> [AsyncStream<GenerationEvent>] {
        var streams: [AsyncStream<GenerationEvent>] = []
        for r in requests {
            do { streams.append(try await api.submit(r)) } catch {
                streams.removeAll()  // dropping a stream cancels its generation
                throw error
            }
        }
        return streams
    }

    /// OpenAI says "stop" for both a stop sequence and the model's natural end.
    static func finishReason(_ r: FinishReason) -> String { r == .length ? "length" : "stop" }

    static func chunk(_ id: String, _ created: Int, _ model: String, _ index: Int, _ text: String,
                      _ logprobs: LegacyLogprobs?, _ finish: String?) -> TextCompletion {
        TextCompletion(id: id, created: created, model: model,
                       choices: [.init(text: text, index: index, logprobs: Nullable(logprobs),
                                       finishReason: Nullable(finish))])
    }

    /// OpenAI's logprobs object: tokens, token_logprobs, top_logprobs (piece → logprob), text_offset. With `prompt`
    /// (echo + logprobs), the prompt's tokens come first, from offset 0: the first with null log-probabilities.
    static func logprobsObject(_ lps: [TokenLogprob], textOffset: Int,
                               prompt: (tokens: [Int32], scores: [TokenLogprob], model: LoadedModel)? = nil) -> LegacyLogprobs {
        var out = LegacyLogprobs()
        var offset = textOffset
        func add(_ text: String, _ logprob: Float?, _ top: [TokenLogprob.Alternative]?) {
            out.tokens.append(text)
            out.tokenLogprobs.append(logprob)
            out.topLogprobs.append(top.map { OrderedFields($0.map { ($0.text, $0.logprob) }) })
            out.textOffset.append(offset)
            offset += text.utf8.count
        }
        if let prompt {
            offset = 0
            for (i, t) in prompt.tokens.enumerated() {
                let s = i == 0 ? nil : prompt.scores[i - 1]
                add(prompt.model.tokenText(t), s?.logprob, s?.top)
            }
        }
        for lp in lps { add(lp.text, lp.logprob, lp.top) }
        return out
    }

    /// The prompts: a string, an array of strings, an array of token ids, or an array of arrays of token ids (as
    /// lm-evaluation-harness and vLLM send them); 1 to 16, each with its text and tokens.
    static func promptList(_ api: QuillAPI, _ input: PromptsInput?) throws(APIError) -> [(text: String, tokens: [Int32])] {
        guard case .list(let items)? = input else { throw .missing("prompt") }
        let V = api.model.config.vocabSize
        var out: [(text: String, tokens: [Int32])] = []
        for item in items {
            switch item {
            case .text(let s): out.append((s, try api.promptTokens(s)))
            case .ids(let ids):
                guard ids.allSatisfy({ $0 >= 0 && $0 < V }) else {
                    throw .invalid("token ids in prompt must be integers in 0..<\(V)", param: "prompt")
                }
                guard !ids.isEmpty else { throw .invalid("a prompt of token ids needs at least one", param: "prompt") }
                let t = ids.map(Int32.init)
                out.append((api.model.decode(t), t))
            }
        }
        guard !out.isEmpty, out.count <= 16 else {
            throw .invalid("prompt must be a string or an array of 1 to 16 prompts", param: "prompt")
        }
        return out
    }
}

/// Prompt and completion tokens summed over a streamed request's choices (each prompt counted once, as OpenAI
/// counts it for n > 1).
final class UsageTally: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var prompt = 0, completion = 0, cached = 0
    func add(prompt p: Int, completion c: Int, cached k: Int = 0, countPrompt: Bool) {
        lock.withLock {
            if countPrompt {
                prompt += p
                cached += k
            }
            completion += c
        }
    }
    var totals: (prompt: Int, completion: Int, cached: Int) { lock.withLock { (prompt, completion, cached) } }
}
