// OpenAI's chat API (`/v1/chat/completions`) and `/apply-template`. Messages become a prompt through the model's
// chat template (ChatTemplate: recorded in the checkpoint, `plain` when it has none, or the server's
// `chat_template` setting, or the request's); the reply ends at the template's next turn or a stop string.
import Foundation
import QuillHTTP
import QuillModel
import QuillJSON

enum Chat {
    /// Most messages one request may send.
    static let maxMessages = 1024

    /// The request's messages: 1 to 1,024 objects with a role (system, developer, user, assistant) and content (a
    /// string, or an array of text parts; an assistant's may be absent). Their shapes were checked when the request
    /// was decoded (ChatMessageInput); here, what they mean.
    static func messages(_ given: [ChatMessageInput]?) throws(APIError) -> [ChatTemplate.Message] {
        guard let items = given else { throw .missing("messages") }
        guard !items.isEmpty, items.count <= maxMessages else {
            throw .invalid("messages must hold 1 to \(maxMessages) messages", param: "messages")
        }
        var out: [ChatTemplate.Message] = []
        for (i, item) in items.enumerated() {
            guard let roleName = item.role else {
                throw .invalid("messages[\(i)] needs a role (system, user or assistant)", param: "messages")
            }
            // OpenAI's newer "developer" role is the system message of reasoning models.
            guard let role = roleName == "developer" ? .system : ChatTemplate.Role(rawValue: roleName) else {
                throw .invalid("messages[\(i)].role must be system, developer, user or assistant, not "
                    + "\"\(APIError.clip(roleName, bytes: 40))\"", param: "messages")
            }
            guard let content = item.content else {
                guard role == .assistant else { throw .invalid("messages[\(i)] needs content", param: "messages") }
                out.append(.init(role: role, content: ""))
                continue
            }
            out.append(.init(role: role, content: content.text))
        }
        return out
    }

    /// The template for a request: its `chat_template` when given, else the server's.
    static func template(_ api: QuillAPI, _ r: ChatRequest) throws(APIError) -> ChatTemplate {
        guard let name = r.chatTemplate else { return api.chatTemplate }
        guard let t = ChatTemplate(rawValue: name) else {
            throw .invalid("chat_template must be one of \(ChatTemplate.names)", param: "chat_template")
        }
        return t
    }

    /// POST /apply-template: the prompt a chat request would send the model, without generating.
    static func applyTemplate(_ api: QuillAPI, _ request: HTTPServerRequest) throws(APIError) -> HTTPServerResponse {
        let (p, _) = try api.body(request, textField: nil)
        let r = try p.decode(ChatRequest.self)
        let template = try template(api, r)
        let prompt = template.render(try messages(r.messages))
        let tokens = try api.promptTokens(prompt, param: "messages")
        return QuillAPI.json(AppliedTemplate(prompt: prompt, chatTemplate: template.rawValue, stop: template.stops,
                                             tokens: tokens.count))
    }

    /// POST /v1/chat/completions.
    static func completions(_ api: QuillAPI, _ request: HTTPServerRequest) async throws(APIError)
        -> HTTPServerResponse {
        let (p, _) = try api.body(request, textField: nil)
        let r = try p.decode(ChatRequest.self)
        typealias D = ChatRequest.Default
        if let name = r.model, name != api.model.name { throw OpenAI.unknownModel(name) }
        let template = try template(api, r)
        let prompt = template.render(try messages(r.messages))
        let tokens = try api.promptTokens(prompt, param: "messages")
        // max_completion_tokens is OpenAI's current name, max_tokens the older one. Without either: what is left
        // of the context window (at least 16), within max_tokens_limit.
        let limit = api.config.maxTokensLimit
        let fallback = min(limit, max(16, api.model.config.blockSize - tokens.count))
        let maxTokens = r.maxCompletionTokens != nil
            ? try Limits.int(r.maxCompletionTokens, "max_completion_tokens", default: fallback, in: 1...limit)
            : try Limits.int(r.maxTokens, "max_tokens", default: fallback, in: 1...limit)
        let n = try Limits.int(r.n, "n", default: D.n, in: 1...8)
        let stream = r.stream ?? D.stream
        let includeUsage = r.streamOptions?.includeUsage ?? false
        let wantLogprobs = r.logprobs ?? D.logprobs
        let top = try Limits.int(r.topLogprobs, "top_logprobs", default: D.topLogprobs, in: 0...20)
        if r.topLogprobs != nil && !wantLogprobs {
            throw .invalid("top_logprobs needs logprobs: true", param: "top_logprobs")
        }
        let s = try p.decode(OpenAISamplingRequest.self)
        let stop = try api.stopStrings(s.stop) + template.stops
        let sampling = try OpenAI.sampling(api, s, controls: p.decode(SamplingRequest.self), maxTokens: maxTokens)
        let cachePrompt = s.cachePrompt ?? OpenAISamplingRequest.Default.cachePrompt
        let requests = (0..<n).map { i in
            GenerationRequest(prompt: tokens, maxTokens: maxTokens, options: sampling.options(index: i, logprobs: top),
                              stop: stop, reportLogprobs: wantLogprobs, streaming: stream, cachePrompt: cachePrompt)
        }
        let streams = try await OpenAI.submitAll(api, requests)
        let id = QuillAPI.newID("chatcmpl")
        let created = Int(Date().timeIntervalSince1970)
        let name = api.model.name
        let metrics = api.metrics
        // The plain transcript ends with "assistant:"; the space a model writes after it is not the reply's.
        let trimSpace = template == .plain

        if stream {
            let usage = UsageTally()
            return SSE.stream { writer in
                await withTaskGroup(of: Void.self) { group in
                    for (index, events) in streams.enumerated() {
                        group.addTask {
                            var started = false
                            writer.send(chunk(id, created, name, index, .init(role: "assistant", content: ""),
                                              nil, nil))
                            for await event in events {
                                switch event {
                                case .delta(var text, _, let lps):
                                    if trimSpace && !started && !text.isEmpty {
                                        if text.hasPrefix(" ") { text.removeFirst() }
                                        started = true
                                    }
                                    let lp = wantLogprobs ? ChatLogprobs(lps) : nil
                                    if !text.isEmpty || lp != nil {
                                        // A client too far behind: leaving the loop cancels this generation.
                                        if !writer.send(chunk(id, created, name, index, .init(content: text), lp,
                                                              nil)) { return }
                                    }
                                case .done(let reason, let promptTokens, let completionTokens, _, let timings):
                                    metrics.tokens(prompt: promptTokens, generated: completionTokens)
                                    usage.add(prompt: promptTokens, completion: completionTokens,
                                              cached: timings.cachedTokens, countPrompt: index == 0)
                                    writer.send(chunk(id, created, name, index, .init(), nil,
                                                      OpenAI.finishReason(reason)))
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
                        writer.send(ChatCompletion(id: id, object: ChatCompletion.chunk, created: created, model: name,
                                                   choices: [], usage: Usage(p, c, cached: cached)))
                    }
                    writer.done()
                }
            }
        }

        var choices: [ChatCompletion.Choice] = []
        var promptTokens = 0, completionTokens = 0, cachedTokens = 0
        for (index, events) in streams.enumerated() {
            let generation = await CollectedGeneration.collect(events, metrics: metrics)
            var text = generation.text
            let lps = generation.logprobs
            let reason = generation.done?.finishReason ?? .length
            if let done = generation.done {
                if index == 0 {
                    promptTokens = done.promptTokens
                    cachedTokens = done.timings.cachedTokens
                }
                completionTokens += done.completionTokens
            }
            if trimSpace && text.hasPrefix(" ") { text.removeFirst() }
            choices.append(.init(index: index, message: .init(content: text),
                                 logprobs: Nullable(wantLogprobs ? ChatLogprobs(lps) : nil),
                                 finishReason: Nullable(OpenAI.finishReason(reason))))
        }
        return QuillAPI.json(ChatCompletion(id: id, object: ChatCompletion.answer, created: created, model: name,
                                            choices: choices,
                                            usage: Usage(promptTokens, completionTokens, cached: cachedTokens)))
    }

    static func chunk(_ id: String, _ created: Int, _ model: String, _ index: Int, _ delta: ChatCompletion.Delta,
                      _ logprobs: ChatLogprobs?, _ finish: String?) -> ChatCompletion {
        ChatCompletion(id: id, object: ChatCompletion.chunk, created: created, model: model,
                       choices: [.init(index: index, delta: delta, logprobs: Nullable(logprobs),
                                       finishReason: Nullable(finish))])
    }
}
