// The prompt cache through the API: a prompt that begins as an earlier one did reuses its keys and values (timings
// and usage say how many tokens), gives the text it gives without the cache, and counts in /metrics.
import Foundation
import QuillService
import Testing

@Suite("Prompt cache over HTTP", .serialized)
struct PromptCacheServiceTests {
    static let prompt = "ROMEO: But soft"  // with what follows, inside the window of 32

    static func complete(_ port: Int, _ prompt: String, cache: Bool = true) async throws -> HTTPReply {
        try await RawClient.post(port: port, "/complete",
            json: #"{"prompt":"\#(prompt)","max_tokens":4,"strategy":"greedy","cache_prompt":\#(cache)}"#)
    }

    @Test("a prompt that extends an earlier one reuses its tokens and gives the same text as without the cache")
    func hitReusesAndAgrees() async throws {
        try await Fixture.withServer { server in
            let first = try await Self.complete(server.port, Self.prompt)
            #expect(first.json["timings"]?["cached_tokens"]?.int == 0)
            let longer = Self.prompt + ", what"
            let hit = try await Self.complete(server.port, longer)
            // The first request's cache holds its prompt and all but its last token.
            let cached = hit.json["timings"]?["cached_tokens"]?.int ?? 0
            #expect(cached >= Self.prompt.count && cached < longer.count, "\(hit.text)")
            let uncached = try await Self.complete(server.port, longer, cache: false)
            #expect(uncached.json["timings"]?["cached_tokens"]?.int == 0)
            #expect(hit.json["text"]?.string == uncached.json["text"]?.string)
            #expect(hit.json["usage"]?["prompt_tokens"]?.int == longer.count)  // usage still counts the whole prompt
            // OpenAI's usage reports the reused tokens as prompt_tokens_details.cached_tokens.
            let oa = try await RawClient.post(port: server.port, "/v1/completions",
                                              json: #"{"prompt":"\#(longer)","max_tokens":2,"temperature":0}"#)
            #expect((oa.json["usage"]?["prompt_tokens_details"]?["cached_tokens"]?.int ?? 0) >= Self.prompt.count)
            let metrics = try await RawClient.request(port: server.port, path: "/metrics").text
            #expect(metrics.contains("quill_prompt_cache_hits_total 2"), "\(metrics)")
            #expect(metrics.contains("quill_prompt_cache_queries_total 3"))
            let info = try await RawClient.request(port: server.port, path: "/info")
            #expect((info.json["server"]?["prompt_cache"]?["entries"]?.int ?? 0) >= 1)
        }
    }

    @Test("prompt_cache_mb 0 turns the cache off")
    func off() async throws {
        try await Fixture.withServer({ $0.promptCacheMB = 0 }) { server in
            _ = try await Self.complete(server.port, Self.prompt)
            let again = try await Self.complete(server.port, Self.prompt)
            #expect(again.json["timings"]?["cached_tokens"]?.int == 0)
        }
    }
}
