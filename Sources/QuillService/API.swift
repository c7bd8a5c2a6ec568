// The routes of API.md: dispatch by path and method, authentication, body forms (JSON, text + query string),
// and the JSON answers. Each handler validates its request into typed values before it touches the model.
import Foundation
import HTTPTypes
import QuillHTTP
import QuillModel
import QuillTokenizers
import QuillJSON

public final class QuillAPI: Sendable {
    public let model: LoadedModel
    public let actor: ModelActor
    public let config: ServerConfig
    public let metrics: ServiceMetrics
    let startedAt: Date
    let openAPIDocument: [UInt8]?
    /// The accepted keys' bytes; nil when the server has none (every route open). A key file that cannot be read
    /// here gives an empty list: every guarded route refuses, rather than opening.
    let apiKeys: [[UInt8]]?
    /// The chat template of /v1/chat/completions: the server's chat_template setting, else the checkpoint's,
    /// else plain.
    public let chatTemplate: ChatTemplate
    public static let version = "0.1.0"

    /// Live reload (POST /admin/reload): loads the checkpoint again and swaps it in; nil where the server has none.
    let reload: (@Sendable () async throws(APIError) -> ReloadOutcome)?
    /// Times this server swapped in a new checkpoint, and when this API's model was loaded.
    let reloads: Int
    let loadedAt: Date

    /// `actor`: the model actor to share (a reloaded model's API keeps the server's); nil makes one.
    public init(model: LoadedModel, config: ServerConfig, metrics: ServiceMetrics = ServiceMetrics(),
                actor: ModelActor? = nil, startedAt: Date = Date(), reloads: Int = 0,
                reload: (@Sendable () async throws(APIError) -> ReloadOutcome)? = nil) {
        self.model = model
        self.config = config
        self.metrics = metrics
        self.startedAt = startedAt
        self.loadedAt = Date()
        self.reloads = reloads
        self.reload = reload
        let workers = config.threads > 0 ? config.threads : ProcessInfo.processInfo.activeProcessorCount
        self.actor = actor ?? ModelActor(model: model, batchCapacity: config.batchCapacity,
                                         queueCapacity: config.queueCapacity, workers: workers, metrics: metrics,
                                         promptCacheBytes: config.promptCacheMB << 20,
                                         promptCacheEntries: config.promptCacheEntries)
        openAPIDocument = FileManager.default.contents(atPath: config.openapi).map { Array($0) }
        let configured = config.apiKey != nil || !config.apiKeys.isEmpty || config.apiKeyFile != nil
        apiKeys = configured ? ((try? config.allAPIKeys()) ?? []).map { Array($0.utf8) } : nil
        chatTemplate = config.chatTemplate.flatMap(ChatTemplate.init(rawValue:)) ?? model.config.chatTemplate ?? .default
    }

    /// A generation on this API's model (the one its request started with, whatever a reload does meanwhile).
    func submit(_ request: GenerationRequest) async throws(APIError) -> AsyncStream<GenerationEvent> {
        do { return try await actor.submit(request, on: model) } catch { throw APIError(error) }
    }

    func promptLogprobs(tokens: [Int32], top: Int) async throws(APIError) -> [TokenLogprob] {
        do { return try await actor.promptLogprobs(tokens: tokens, top: top, on: model) } catch { throw APIError(error) }
    }

    /// Whether `given` equals one of `keys`, in time that depends on the lengths only: every key is compared to
    /// the end, so how far a guess matches never shows in the answer's timing.
    static func matchesKey(_ given: [UInt8], _ keys: [[UInt8]]) -> Bool {
        var found: UInt8 = 0
        for k in keys {
            var diff: UInt8 = k.count == given.count ? 0 : 1
            for i in 0..<max(k.count, given.count) {
                diff |= (i < k.count ? k[i] : 0) ^ (i < given.count ? given[i] : 0)
            }
            found |= diff == 0 ? 1 : 0
        }
        return found == 1
    }

    /// Whether a page from `origin` may call this server (cors_origins).
    func corsAllows(_ origin: String) -> Bool {
        config.corsOrigins.contains("*") || config.corsOrigins.contains(origin)
    }

    public func handle(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        let origin = request.headerFields[.origin].flatMap { corsAllows($0) ? $0 : nil }
        var response: HTTPServerResponse
        if let origin, request.method == .options, request.headerFields[.accessControlRequestMethod] != nil {
            // A CORS preflight from an allowed origin: no key needed, the browser sends it with the real request.
            response = HTTPServerResponse(status: .noContent, headerFields: [
                .accessControlAllowMethods: "GET, POST, HEAD",
                .accessControlAllowHeaders: "Authorization, Content-Type",
                .accessControlMaxAge: "600",
            ], body: .bytes([]))
        } else {
            do {
                response = try await route(request)
            } catch {
                response = Self.error(error)
            }
        }
        if let origin {
            response.headerFields[.accessControlAllowOrigin] = config.corsOrigins.contains("*") ? "*" : origin
            response.headerFields[.vary] = "Origin"
        }
        return response
    }

    private func route(_ request: HTTPServerRequest) async throws(APIError) -> HTTPServerResponse {
        var path = request.path
        if path.count > 1, path.hasSuffix("/") { path.removeLast() }
        guard let (pattern, parameter) = Route.match(path) else {
            throw .notFound("no route \(APIError.clip(request.path)); see GET /openapi.yaml for the API")
        }
        let routes = Route.byPath[pattern] ?? []
        let method = request.method == .head ? .get : request.method
        guard let route = routes.first(where: { $0.method == method }) else {
            throw .methodNotAllowed(request.method.rawValue, path: pattern, allow: routes.map(\.method.rawValue))
        }
        if let keys = apiKeys, route.access == .key {
            let auth = Array((request.headerFields[.authorization] ?? "").utf8)
            let prefix = Array("Bearer ".utf8)
            guard auth.starts(with: prefix), Self.matchesKey(Array(auth.dropFirst(prefix.count)), keys) else {
                throw .unauthorized
            }
        }
        return try await route.handle(self, request, parameter)
    }

    // MARK: - Bodies

    /// The request's fields and, for the text form, its text. JSON when Content-Type says so or the body starts
    /// with `{`; otherwise the body is UTF-8 text (routes that take text) and options come from the query string.
    func body(_ request: HTTPServerRequest, textField: String?) throws(APIError) -> (Params, String?) {
        let query = Params(query: request.query)
        let contentType = (request.headerFields[.contentType] ?? "").lowercased()
        let firstNonSpace = request.body.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        let isJSON = contentType.hasPrefix("application/json") || firstNonSpace == UInt8(ascii: "{")
        guard String(validating: request.body, as: UTF8.self) != nil else {
            throw .invalid("the request body is not valid UTF-8", code: "invalid_utf8")
        }
        if isJSON {
            let value: JSONValue
            do { value = try JSONValue.parse(request.body) } catch {
                throw .invalid("the request body is not valid JSON: \(error.description)", code: "invalid_json")
            }
            return (try Params(json: value).merging(query), nil)
        }
        guard textField != nil else {
            if request.body.isEmpty { return (query, nil) }
            throw APIError(status: 415, message: "send a JSON object with Content-Type: application/json",
                           code: "unsupported_media_type")
        }
        if request.body.isEmpty { return (query, nil) }
        return (query, String(decoding: request.body, as: UTF8.self))
    }

    // MARK: - /complete

    struct CompletionOptions {
        var prompt: String
        /// A prompt given as token ids (prompt is then their text).
        var promptIDs: [Int32]? = nil
        /// prompt_logprobs: report the prompt's log-probabilities with this many alternatives (nil: not asked).
        var promptLogprobs: Int? = nil
        var maxTokens: Int
        var options: DecodingOptions
        var stop: [String]
        var echo: Bool
        var logprobs: Int
        var stream: Bool
        var cachePrompt: Bool
    }

    func completionOptions(_ p: Params, text: String?) throws(APIError) -> CompletionOptions {
        let r = try p.decode(CompleteRequest.self)
        typealias D = CompleteRequest.Default
        var promptIDs: [Int32]? = nil
        if text == nil, case .ids(let ids)? = r.prompt {
            let V = model.config.vocabSize
            guard !ids.isEmpty, ids.allSatisfy({ $0 >= 0 && $0 < V }) else {
                throw .invalid("a prompt of token ids needs at least one, each in 0..<\(V)", param: "prompt")
            }
            promptIDs = ids.map(Int32.init)
        }
        var given = text
        if given == nil, let promptIDs { given = model.decode(promptIDs) }
        if given == nil, case .text(let s)? = r.prompt { given = s }
        guard let prompt = given else { throw .missing("prompt") }
        let maxTokens = try Limits.int(r.maxTokens, "max_tokens", default: D.maxTokens, in: 1...config.maxTokensLimit)
        guard let strategy = DecodingStrategy(rawValue: r.strategy ?? D.strategy) else {
            throw .invalid("strategy must be one of greedy, sample, top_k, top_p", param: "strategy")
        }
        let temperature = try Limits.double(r.temperature, "temperature", default: D.temperature,
                                            check: { $0 >= 0 && $0 <= 100 }, range: "between 0 and 100")
        let topK = try Limits.int(r.topK, "top_k", default: D.topK, in: 1...1_000_000)
        let topP = try Limits.double(r.topP, "top_p", default: D.topP, check: { $0 > 0 && $0 <= 1 }, range: "in (0, 1]")
        let logprobs = try Limits.int(r.logprobs, "logprobs", default: D.logprobs, in: 0...20)
        var promptLogprobs: Int? = nil
        if let k = r.promptLogprobs { promptLogprobs = try Limits.int(k, "prompt_logprobs", default: 0, in: 0...20) }
        let options = DecodingOptions(strategy: strategy, temperature: Float(temperature), topK: topK,
                                      topP: Float(topP), seed: r.seed ?? UInt64.random(in: 0...UInt64.max),
                                      logprobs: logprobs,
                                      controls: try samplingControls(p.decode(SamplingRequest.self), maxTokens: maxTokens))
        return CompletionOptions(prompt: prompt, promptIDs: promptIDs, promptLogprobs: promptLogprobs,
                                 maxTokens: maxTokens, options: options, stop: try stopStrings(r.stop),
                                 echo: r.echo ?? D.echo, logprobs: logprobs, stream: r.stream ?? D.stream,
                                 cachePrompt: r.cachePrompt ?? D.cachePrompt)
    }

    /// The sampling controls of a request (SamplingControls; the same fields on /complete and /v1/*):
    /// logit_bias, repeat_penalty (or vLLM's repetition_penalty), repeat_last_n, presence_penalty,
    /// frequency_penalty, min_p, typical_p, min_tokens, ignore_eos, stop_token_ids.
    func samplingControls(_ r: SamplingRequest, maxTokens: Int) throws(APIError) -> SamplingControls {
        typealias D = SamplingRequest.Default
        var c = SamplingControls()
        let V = model.config.vocabSize
        if let bias = r.logitBias?.pairs {
            guard bias.count <= 1024 else { throw .invalid("logit_bias may list at most 1024 tokens", param: "logit_bias") }
            for (key, b) in bias {
                guard let id = Int(key), id >= 0, id < V else {
                    throw .invalid("logit_bias keys must be token ids in 0..<\(V), got \"\(APIError.clip(key, bytes: 40))\"",
                                   param: "logit_bias")
                }
                guard b.isFinite, b >= -100, b <= 100 else {
                    throw .invalid("logit_bias values must be numbers between -100 and 100", param: "logit_bias")
                }
                c.logitBias[Int32(id)] = Float(b)
            }
        }
        guard r.repeatPenalty == nil || r.repetitionPenalty == nil else {
            throw .invalid("give repeat_penalty or repetition_penalty, not both", param: "repetition_penalty")
        }
        let (penalty, penaltyName) = r.repetitionPenalty.map { ($0, "repetition_penalty") } ?? (r.repeatPenalty, "repeat_penalty")
        c.repeatPenalty = Float(try Limits.double(penalty, penaltyName, default: D.repeatPenalty,
                                                  check: { $0 > 0 && $0 <= 10 }, range: "in (0, 10]"))
        c.repeatLastN = try Limits.int(r.repeatLastN, "repeat_last_n", default: D.repeatLastN, in: -1...1_048_576)
        c.presencePenalty = Float(try Limits.double(r.presencePenalty, "presence_penalty", default: D.presencePenalty,
                                                    check: { abs($0) <= 2 }, range: "between -2 and 2"))
        c.frequencyPenalty = Float(try Limits.double(r.frequencyPenalty, "frequency_penalty", default: D.frequencyPenalty,
                                                     check: { abs($0) <= 2 }, range: "between -2 and 2"))
        c.minP = Float(try Limits.double(r.minP, "min_p", default: D.minP, check: { $0 >= 0 && $0 <= 1 },
                                         range: "between 0 and 1"))
        c.typicalP = Float(try Limits.double(r.typicalP, "typical_p", default: D.typicalP, check: { $0 > 0 && $0 <= 1 },
                                             range: "in (0, 1]"))
        c.minTokens = try Limits.int(r.minTokens, "min_tokens", default: D.minTokens, in: 0...maxTokens)
        c.ignoreEOS = r.ignoreEos ?? D.ignoreEOS
        if let ids = r.stopTokenIds {
            guard ids.count <= 64 else { throw .invalid("stop_token_ids may list at most 64 tokens", param: "stop_token_ids") }
            for id in ids where id < 0 || id >= V {
                throw .invalid("stop_token_ids must be token ids in 0..<\(V), got \(id)", param: "stop_token_ids")
            }
            c.stopTokenIDs = Set(ids.map(Int32.init))
        }
        return c
    }

    func stopStrings(_ given: StringOrList?) throws(APIError) -> [String] {
        let stop = given?.values ?? []
        guard stop.count <= 4 else { throw .invalid("stop must have at most 4 strings", param: "stop") }
        for s in stop where s.utf8.count > 256 {
            throw .invalid("each stop string must be at most 256 bytes", param: "stop")
        }
        return stop.filter { !$0.isEmpty }
    }

    /// Prompt tokens: the text's, or the start token for "".
    func promptTokens(_ text: String, param: String = "prompt") throws(APIError) -> [Int32] {
        do { return text.isEmpty ? [model.startToken] : try model.encode(text, param: param) } catch { throw APIError(error) }
    }

    func complete(_ request: HTTPServerRequest) async throws(APIError) -> HTTPServerResponse {
        let (params, text) = try body(request, textField: "prompt")
        let o = try completionOptions(params, text: text)
        let tokens: [Int32]
        if let ids = o.promptIDs { tokens = ids } else { tokens = try promptTokens(o.prompt) }
        // prompt_logprobs: every prompt token's log-probability given those before it (the first has none).
        var scores: [LogprobEntry]? = nil
        if let k = o.promptLogprobs {
            let scored = try await promptLogprobs(tokens: tokens, top: k)
            scores = [LogprobEntry(unscored: tokens[0], piece: model.piece(tokens[0]), text: model.tokenText(tokens[0]))]
                + scored.map(LogprobEntry.init)
        }
        let promptScores = scores
        let events = try await submit(GenerationRequest(prompt: tokens, maxTokens: o.maxTokens,
                                                              options: o.options, stop: o.stop, streaming: o.stream,
                                                              cachePrompt: o.cachePrompt))
        let id = Self.newID("cmpl")
        let name = model.name
        if o.stream {
            return SSE.response(events: events, echo: o.echo ? o.prompt : nil) { [metrics] event in
                switch event {
                case .delta(let text, let tokens, let logprobs):
                    return JSONValue(encoding: CompleteDelta(text: text, tokens: tokens,
                                                             logprobs: o.logprobs > 0 ? logprobs.map(LogprobEntry.init) : nil))
                case .done(let reason, let promptTokens, let completionTokens, let truncated, let timings):
                    metrics.tokens(prompt: promptTokens, generated: completionTokens)
                    return JSONValue(encoding: CompleteResult(
                        id: id, model: name, text: "", tokens: [], finishReason: reason.rawValue, truncated: truncated,
                        usage: Usage(promptTokens, completionTokens), timings: Timings(timings),
                        promptLogprobs: promptScores))
                }
            }
        }
        let generation = await CollectedGeneration.collect(events, metrics: metrics)
        guard let (reason, promptCount, completionCount, truncated, timings) = generation.done else {
            throw .server("the generation ended without a result")
        }
        return Self.json(CompleteResult(
            id: id, model: name, text: (o.echo ? o.prompt : "") + generation.text, tokens: generation.tokens,
            finishReason: reason.rawValue, truncated: truncated, usage: Usage(promptCount, completionCount),
            timings: Timings(timings), logprobs: o.logprobs > 0 ? generation.logprobs.map(LogprobEntry.init) : nil,
            promptLogprobs: promptScores))
    }

    // MARK: - /tokenize, /detokenize

    /// Most tokens one /tokenize answer lists (about 0.8 MB of JSON); more is a 400 `too_many_tokens`.
    static let maxTokenizeTokens = 32768

    func tokenize(_ request: HTTPServerRequest) throws(APIError) -> HTTPServerResponse {
        let (params, bodyText) = try body(request, textField: "text")
        let r = try params.decode(TokenizeRequest.self)
        guard let text = bodyText ?? r.text else { throw .missing("text") }
        let explain = r.explain ?? TokenizeRequest.Default.explain
        let countOnly = r.countOnly ?? TokenizeRequest.Default.countOnly
        let encoded: EncodedText
        do {
            encoded = try model.tokenizer.encodeWithOffsets(text)
        } catch {
            do { _ = try model.encode(text, param: "text") } catch { throw APIError(error) }  // unknown_characters
            throw .invalid("text cannot be tokenized", param: "text")
        }
        if countOnly {
            return Self.json(TokenizeAnswer(tokenizer: model.tokenizer.kind.rawValue, count: encoded.ids.count))
        }
        // The answer grows about 25 bytes a token (id, piece, offsets), and building it is what costs: one request
        // must not take seconds of a core and a response of tens of megabytes.
        guard encoded.ids.count <= Self.maxTokenizeTokens else {
            throw .invalid("text is \(encoded.ids.count) tokens; /tokenize lists at most \(Self.maxTokenizeTokens) "
                + "(send \"count_only\": true for the count alone)", param: "text", code: "too_many_tokens")
        }
        var answer = TokenizeAnswer(tokenizer: model.tokenizer.kind.rawValue, count: encoded.ids.count,
                                    tokens: encoded.ids, pieces: encoded.ids.map { model.piece(Int32($0)) },
                                    offsets: encoded.offsets.map { [$0.lowerBound, $0.upperBound] })
        if explain, let bpe = model.tokenizer as? BytePairTokenizer {
            answer.explain = bpe.explain(text).map { TokenizeAnswer.Word(word: $0.word, steps: $0.steps) }
        }
        return Self.json(answer)
    }

    func detokenize(_ request: HTTPServerRequest) throws(APIError) -> HTTPServerResponse {
        let (params, _) = try body(request, textField: nil)
        guard let ids = try params.decode(DetokenizeRequest.self).tokens else { throw .missing("tokens") }
        let V = model.tokenizer.vocabularySize
        if let bad = ids.first(where: { $0 < 0 || $0 >= V }) {
            throw .invalid("token \(bad) is outside the vocabulary: ids must be in 0..<\(V)", param: "tokens",
                           code: "invalid_token")
        }
        let text: String
        do { text = try model.tokenizer.decode(ids) } catch { throw .invalid("tokens cannot be decoded", param: "tokens") }
        return Self.json(DetokenizeAnswer(text: text))
    }

    // MARK: - /attention

    func attention(_ request: HTTPServerRequest) async throws(APIError) -> HTTPServerResponse {
        let (params, bodyText) = try body(request, textField: "text")
        let r = try params.decode(AttentionRequest.self)
        guard let text = bodyText ?? r.text else { throw .missing("text") }
        guard !text.isEmpty else { throw .invalid("text must not be empty", param: "text") }
        let L = model.config.nLayer, H = model.config.nHead
        var layer: Int? = nil, head: Int? = nil
        if let l = r.layer { layer = try Limits.int(l, "layer", default: 0, in: 0...(L - 1)) }
        if let h = r.head { head = try Limits.int(h, "head", default: 0, in: 0...(H - 1)) }
        let tokens: [Int32]
        do { tokens = try model.encode(text, param: "text") } catch { throw APIError(error) }
        guard tokens.count <= model.config.blockSize else {
            throw APIError(status: 400, message: "text is \(tokens.count) tokens; the context window is "
                + "\(model.config.blockSize)", param: "text", code: "context_length_exceeded")
        }
        let weights: [[[[Float]]]]
        do { weights = try await actor.attention(tokens: tokens, on: model) } catch { throw APIError(error) }
        let layers = layer.map { [$0] } ?? Array(0..<L)
        let heads = head.map { [$0] } ?? Array(0..<H)
        let att = layers.map { l in heads.map { h in weights[l][h].map(RoundedWeights.init) } }
        return Self.json(AttentionAnswer(tokens: tokens, pieces: tokens.map { model.piece($0) }, nLayer: L, nHead: H,
                                         layers: layers, heads: heads, attention: att))
    }

    // MARK: - /info

    func info() async -> InfoAnswer {
        let load = await actor.load
        let cache = await actor.promptCacheUsage
        let c = model.config
        let t = model.training
        return InfoAnswer(
            model: .init(
                name: model.name, checkpoint: model.path, sha256: model.fileSHA256, parameters: model.parameterCount,
                loadedAt: ISO8601DateFormatter().string(from: loadedAt),
                nLayer: c.nLayer, nHead: c.nHead, nEmbd: c.nEmbd, blockSize: c.blockSize, vocabSize: c.vocabSize,
                documentToken: Nullable(c.documentToken), chatTemplate: chatTemplate.rawValue,
                tokenizer: model.tokenizer.kind.rawValue, format: model.format.rawValue,
                weights: model.precision.rawValue,
                memory: .init(weightsBytes: model.weightBytes, kvCacheBytesPerSequence: model.kvCacheBytesPerSequence,
                              kvCacheBytesMax: model.kvCacheBytesPerSequence * actor.batchCapacity),
                training: .init(steps: t.steps, tokens: t.tokensSeen, trainLoss: Nullable(t.trainLoss),
                                valLoss: Nullable(t.valLoss), bestValLoss: Nullable(t.bestValLoss),
                                durationSeconds: t.durationSeconds, command: Nullable(t.command), history: history)),
            server: .init(
                version: Self.version, uptimeSeconds: (Date().timeIntervalSince(startedAt) * 10).rounded() / 10,
                batchCapacity: actor.batchCapacity, queueCapacity: actor.queueCapacity,
                inFlight: load.active, waiting: load.waiting,
                limits: .init(maxTokensLimit: config.maxTokensLimit, maxConnections: config.maxConnections,
                              maxHeaderBytes: config.maxHeaderBytes, maxBodyBytes: config.maxBodyBytes,
                              requestTimeout: config.requestTimeout, idleTimeout: config.idleTimeout),
                auth: apiKeys != nil, reloads: reloads,
                promptCache: .init(capacityBytes: config.promptCacheMB << 20, capacityEntries: config.promptCacheEntries,
                                   entries: cache.entries, bytes: cache.bytes)))
    }

    /// The training loss history for the playground's plot.
    var history: [HistoryPoint] {
        model.training.history.map { HistoryPoint(step: $0.step, train: $0.trainLoss, val: $0.valLoss) }
    }

    // MARK: - Helpers

    /// A response body of an Encodable type (Responses.swift), written by JSONValueEncoder.
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> HTTPServerResponse {
        json(JSONValue(encoding: value), status: status)
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> HTTPServerResponse {
        HTTPServerResponse(status: status, headerFields: [.contentType: "application/json; charset=utf-8"],
                           body: .bytes(value.serialized()))
    }

    static func page(_ html: [UInt8]) -> HTTPServerResponse {
        HTTPServerResponse(status: .ok, headerFields: [
            .contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
            HTTPField.Name("Content-Security-Policy")!: Playground.contentSecurityPolicy,
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        ], body: .bytes(html))
    }

    static func error(_ e: APIError) -> HTTPServerResponse {
        var r = json(e.json, status: HTTPResponse.Status(code: e.status))
        if let s = e.retryAfter { r.headerFields[.retryAfter] = String(s) }
        if let allow = e.allow { r.headerFields[HTTPField.Name("Allow")!] = allow.joined(separator: ", ") }
        if e.status == 401 { r.headerFields[.wwwAuthenticate] = "Bearer" }
        return r
    }

    static func newID(_ prefix: String) -> String {
        var g = SystemRandomNumberGenerator()
        let hex = (0..<3).map { _ in String(g.next() as UInt64, radix: 16) }.joined()
        return "\(prefix)-\(hex.prefix(24))"
    }
}
