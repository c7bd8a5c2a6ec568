// /v1/completions and /v1/models follow OpenAI's legacy completions API.
import Foundation
import QuillService
import Testing
import QuillJSON

@Suite("OpenAI", .serialized)
struct OpenAITests {
    @Test("a completion has OpenAI's object, choices and usage")
    func completionShape() async throws {
        try await Fixture.withServer { server in
            let r = try await RawClient.post(port: server.port, "/v1/completions",
                                       json: #"{"model":"tiny","prompt":"ROMEO:","max_tokens":5,"temperature":0}"#)
            #expect(r.status == 200)
            let j = r.json
            #expect(j["object"]?.string == "text_completion")
            #expect(j["model"]?.string == "tiny")
            #expect(j["created"]?.int != nil)
            let choice = j["choices"]?.array?.first
            #expect(choice?["index"]?.int == 0)
            #expect(choice?["finish_reason"]?.string == "length")
            #expect(choice?["logprobs"] == .null)
            #expect(j["usage"]?["completion_tokens"]?.int == 5)
            #expect(j["usage"]?["prompt_tokens"]?.int == 6)
            // Temperature 0 is greedy: the same text as /complete's greedy.
            let native = try await RawClient.post(port: server.port, "/complete",
                                            json: #"{"prompt":"ROMEO:","max_tokens":5,"strategy":"greedy"}"#)
            #expect(choice?["text"] == native.json["text"])
        }
    }

    @Test("n, several prompts, echo and logprobs give one choice each, in order")
    func manyChoices() async throws {
        try await Fixture.withServer { server in
            let r = try await RawClient.post(port: server.port, "/v1/completions", json:
                #"{"prompt":["RO","JU"],"n":2,"max_tokens":4,"seed":3,"echo":true,"logprobs":2}"#)
            let choices = r.json["choices"]?.array ?? []
            #expect(choices.count == 4)
            #expect(choices.compactMap { $0["index"]?.int } == [0, 1, 2, 3])
            #expect(choices[0]["text"]?.string?.hasPrefix("RO") == true)
            #expect(choices[2]["text"]?.string?.hasPrefix("JU") == true)
            // With echo, the logprobs begin with the prompt's two tokens (the first has none), then the four new ones.
            let lp = choices[0]["logprobs"]
            #expect(lp?["tokens"]?.array?.count == 6)
            #expect(lp?["token_logprobs"]?.array?.count == 6 && lp?["token_logprobs"]?.array?.first == .null)
            #expect(lp?["top_logprobs"]?.array?.first == .null)
            #expect(lp?["top_logprobs"]?.array.map { if case .object(let o) = $0[2] { o.count } else { 0 } } == 2)
            #expect(lp?["text_offset"]?.array?.compactMap(\.int).prefix(3) == [0, 1, 2])
            #expect(r.json["usage"]?["completion_tokens"]?.int == 16)
        }
    }

    @Test("streamed chunks carry the text and end with a finish reason and [DONE]")
    func streaming() async throws {
        try await Fixture.withServer { server in
            let body = #""prompt":"ROMEO:","max_tokens":8,"seed":11"#
            let plain = try await RawClient.post(port: server.port, "/v1/completions", json: "{\(body)}").json
            let r = try await RawClient.post(port: server.port, "/v1/completions", json: "{\(body),\"stream\":true}")
            let events = r.events
            #expect(events.last == "[DONE]")
            let chunks = events.dropLast().compactMap { try? JSONValue.parse(Array($0.utf8)) }
            #expect(chunks.allSatisfy { $0["object"]?.string == "text_completion" })
            let text = chunks.compactMap { $0["choices"]?.array?.first?["text"]?.string }.joined()
            #expect(text == plain["choices"]?.array?.first?["text"]?.string)
            #expect(chunks.last?["choices"]?.array?.first?["finish_reason"]?.string == "length")
        }
    }
}
