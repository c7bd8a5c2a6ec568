// /v1/chat/completions and /apply-template: messages go through the model's chat template, and the reply is what
// /v1/completions gives for the rendered prompt with the template's stop strings.
import Foundation
import QuillModel
import QuillService
import Testing
import QuillJSON

@Suite("Chat", .serialized)
struct ChatTests {
    static let messages = #"[{"role":"system","content":"Be brief."},{"role":"user","content":"Romeo, art thou there?"}]"#

    @Test("each named template renders the turns in order and ends with the assistant's turn opened")
    func templatesRender() {
        let m: [ChatTemplate.Message] = [.init(role: .system, content: "S"), .init(role: .user, content: "U"),
                                          .init(role: .assistant, content: "A"), .init(role: .user, content: "V")]
        #expect(ChatTemplate.plain.render(m) == "system: S\nuser: U\nassistant: A\nuser: V\nassistant:")
        #expect(ChatTemplate.chatml.render(m) == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
            + "<|im_start|>assistant\nA<|im_end|>\n<|im_start|>user\nV<|im_end|>\n<|im_start|>assistant\n")
        #expect(ChatTemplate.alpaca.render(m) == "S\n\n### Instruction:\nU\n\n### Response:\nA\n\n### Instruction:\nV\n\n"
            + "### Response:\n")
        for t in ChatTemplate.allCases {
            // A reply that runs on into the next turn is cut by one of the template's stops.
            let next = t.render(m + [.init(role: .assistant, content: "reply")] + [.init(role: .user, content: "x")])
            let reply = String(next.dropFirst(t.render(m).count))
            #expect(t.stops.contains { reply.contains($0) }, "\(t): \(reply)")
        }
    }

    @Test("/apply-template shows the plain transcript of a model without a template, with its stops and token count")
    func applyTemplate() async throws {
        try await Fixture.withServer { server in
            let r = try await RawClient.post(port: server.port, "/apply-template", json: #"{"messages":\#(Self.messages)}"#)
            #expect(r.status == 200, "\(r.text)")
            let prompt = "system: Be brief.\nuser: Romeo, art thou there?\nassistant:"
            #expect(r.json["prompt"]?.string == prompt)
            #expect(r.json["chat_template"]?.string == "plain")
            #expect(r.json["stop"]?.array?.compactMap(\.string) == ChatTemplate.plain.stops)
            #expect(r.json["tokens"]?.int == prompt.count)  // a character model: one token per character
            let info = try await RawClient.request(port: server.port, path: "/info")
            #expect(info.json["model"]?["chat_template"]?.string == "plain")
        }
    }

    @Test("a greedy chat reply equals /v1/completions of the rendered prompt with the template's stops")
    func chatMatchesCompletion() async throws {
        try await Fixture.withServer { server in
            let chat = try await RawClient.post(port: server.port, "/v1/chat/completions",
                json: #"{"messages":\#(Self.messages),"max_tokens":24,"temperature":0}"#)
            #expect(chat.status == 200, "\(chat.text)")
            #expect(chat.json["object"]?.string == "chat.completion")
            let choice = chat.json["choices"]?.array?.first
            #expect(choice?["message"]?["role"]?.string == "assistant")
            let content = choice?["message"]?["content"]?.string ?? "<none>"
            let prompt = ChatTemplate.plain.render([.init(role: .system, content: "Be brief."),
                                                    .init(role: .user, content: "Romeo, art thou there?")])
            let stops = ChatTemplate.plain.stops.map { "\"\($0.replacingOccurrences(of: "\n", with: "\\n"))\"" }
            let plain = try await RawClient.post(port: server.port, "/v1/completions",
                json: #"{"prompt":"\#(prompt.replacingOccurrences(of: "\n", with: "\\n"))","max_tokens":24,"temperature":0,"stop":[\#(stops.joined(separator: ","))]}"#)
            var expected = plain.json["choices"]?.array?.first?["text"]?.string ?? "<none>"
            if expected.hasPrefix(" ") { expected.removeFirst() }  // the space after "assistant:" is not the reply's
            #expect(content == expected)
            #expect(choice?["finish_reason"]?.string == plain.json["choices"]?.array?.first?["finish_reason"]?.string)
            #expect(chat.json["usage"]?["prompt_tokens"]?.int == prompt.count)
            #expect(chat.json["usage"]?["completion_tokens"] == plain.json["usage"]?["completion_tokens"])
        }
    }

    @Test("a streamed chat sends the role first, then content that adds up to the whole reply, then usage")
    func streamedChat() async throws {
        try await Fixture.withServer { server in
            let body = #"{"messages":\#(Self.messages),"max_tokens":12,"temperature":0"#
            let whole = try await RawClient.post(port: server.port, "/v1/chat/completions", json: body + "}")
            let r = try await RawClient.post(port: server.port, "/v1/chat/completions",
                                             json: body + #","stream":true,"stream_options":{"include_usage":true}}"#)
            #expect(r.status == 200)
            let events = r.events
            #expect(events.last == "[DONE]")
            let chunks = events.dropLast().compactMap { try? JSONValue.parse(Array($0.utf8)) }
            #expect(chunks.allSatisfy { $0["object"]?.string == "chat.completion.chunk" })
            #expect(chunks.first?["choices"]?.array?.first?["delta"]?["role"]?.string == "assistant")
            let text = chunks.compactMap { $0["choices"]?.array?.first?["delta"]?["content"]?.string }.joined()
            #expect(text == whole.json["choices"]?.array?.first?["message"]?["content"]?.string)
            let finishes = chunks.compactMap { $0["choices"]?.array?.first?["finish_reason"]?.string }
            #expect(finishes == ["length"])
            #expect(chunks.last?["choices"]?.array?.isEmpty == true)
            #expect(chunks.last?["usage"]?["completion_tokens"]?.int == 12)
        }
    }

    @Test("n choices each have their own index, and logprobs list one entry per token with top_logprobs alternatives")
    func choicesAndLogprobs() async throws {
        try await Fixture.withServer { server in
            let r = try await RawClient.post(port: server.port, "/v1/chat/completions",
                json: #"{"messages":\#(Self.messages),"max_tokens":6,"n":2,"seed":9,"logprobs":true,"top_logprobs":3,"ignore_eos":true}"#)
            #expect(r.status == 200, "\(r.text)")
            let choices = r.json["choices"]?.array ?? []
            #expect(choices.compactMap { $0["index"]?.int } == [0, 1])
            for c in choices {
                let entries = c["logprobs"]?["content"]?.array ?? []
                #expect(entries.count == 6)
                for e in entries {
                    #expect(e["top_logprobs"]?.array?.count == 3)
                    let token = e["token"]?.string ?? ""
                    #expect(e["bytes"]?.array?.compactMap(\.int) == token.utf8.map(Int.init))
                    #expect((e["logprob"]?.double ?? 1) <= 0)
                }
            }
            #expect(r.json["usage"]?["completion_tokens"]?.int == 12)
        }
    }

    @Test("bad messages, roles, templates and logprob fields are 400s that name the field")
    func badRequests() async throws {
        try await Fixture.withServer { server in
            let cases: [(String, String)] = [
                (#"{"max_tokens":2}"#, "messages"),
                (#"{"messages":[]}"#, "messages"),
                (#"{"messages":"hi"}"#, "messages"),
                (#"{"messages":[{"role":"wizard","content":"hi"}]}"#, "messages"),
                (#"{"messages":[{"role":"user"}]}"#, "messages"),
                (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#, "messages"),
                (#"{"messages":[{"role":"user","content":"hi"}],"chat_template":"jinja"}"#, "chat_template"),
                (#"{"messages":[{"role":"user","content":"hi"}],"top_logprobs":2}"#, "top_logprobs"),
                (#"{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":0}"#, "max_completion_tokens"),
                (#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4"}"#, "model"),
            ]
            for (body, param) in cases {
                let r = try await RawClient.post(port: server.port, "/v1/chat/completions", json: body)
                #expect(r.status == (param == "model" ? 404 : 400), "\(body): \(r.text)")
                #expect(r.json["error"]?["param"]?.string == param, "\(body): \(r.text)")
            }
        }
    }

    @Test("text parts, the developer role and a request's chat_template all reach the prompt")
    func partsAndOverrides() async throws {
        // Byte-level BPE: every character of every template can be encoded.
        let bpe = try LoadedModel(path: Fixture.bpeCheckpointPath, workers: 1)
        try await Fixture.withServer(model: bpe) { server in
            let r = try await RawClient.post(port: server.port, "/apply-template", json: #"""
                {"messages":[{"role":"developer","content":"Be"},{"role":"user","content":[{"type":"text","text":"Ro"},{"type":"text","text":"meo"}]}],"chat_template":"alpaca"}
                """#)
            #expect(r.json["prompt"]?.string == "Be\n\n### Instruction:\nRomeo\n\n### Response:\n", "\(r.text)")
            #expect(r.json["chat_template"]?.string == "alpaca")
        }
        // The server's chat_template setting replaces the checkpoint's (here: none).
        try await Fixture.withServer({ $0.chatTemplate = "alpaca" }, model: bpe) { server in
            let r = try await RawClient.post(port: server.port, "/apply-template",
                                             json: #"{"messages":[{"role":"user","content":"Romeo"}]}"#)
            #expect(r.json["chat_template"]?.string == "alpaca")
        }
    }
}
