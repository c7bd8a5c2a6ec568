// vLLM's latency histograms on /metrics, and OpenAI's stream_options.include_usage.
import Foundation
import QuillService
import Testing
import QuillJSON

@Suite("Latency metrics and streamed usage", .serialized)
struct LatencyMetricsTests {
    @Test("each finished generation adds to time to first token, time per output token, queue time and end-to-end latency")
    func latencyHistograms() async throws {
        try await Fixture.withServer { server in
            for _ in 0..<3 {
                _ = try await RawClient.post(port: server.port, "/complete", json: #"{"prompt":"RO","max_tokens":6}"#)
            }
            _ = try await RawClient.post(port: server.port, "/complete", json: #"{"prompt":"RO","max_tokens":1}"#)
            let text = try await RawClient.request(port: server.port, path: "/metrics").text
            func value(_ line: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap { Double($0.split(separator: " ").last!) }
            }
            #expect(value("quill_time_to_first_token_seconds_count") == 4)
            #expect(value("quill_request_queue_time_seconds_count") == 4)
            #expect(value("quill_e2e_request_latency_seconds_count") == 4)
            // A one-token generation has no time between tokens.
            #expect(value("quill_time_per_output_token_seconds_count") == 3)
            let ttft = value("quill_time_to_first_token_seconds_sum") ?? -1, e2e = value("quill_e2e_request_latency_seconds_sum") ?? -1
            #expect(ttft > 0 && e2e >= ttft, "ttft \(ttft), e2e \(e2e)")
            #expect(text.contains(#"quill_time_to_first_token_seconds_bucket{le="+Inf"} 4"#))
        }
    }

    @Test("stream_options.include_usage adds one chunk before [DONE] with empty choices and the request's usage")
    func includeUsage() async throws {
        try await Fixture.withServer { server in
            let body = #"{"prompt":"RO","max_tokens":3,"stream":true,"n":2,"stream_options":{"include_usage":true}}"#
            let events = try await RawClient.post(port: server.port, "/v1/completions", json: body).events
            #expect(events.last == "[DONE]")
            let usage = try JSONValue.parse(Array(events[events.count - 2].utf8))
            #expect(usage["choices"]?.array?.isEmpty == true)
            #expect(usage["usage"]?["prompt_tokens"]?.int == 2, "the prompt counts once for n = 2")
            #expect(usage["usage"]?["completion_tokens"]?.int == 6)
            #expect(usage["usage"]?["total_tokens"]?.int == 8)
            // Without it, no such chunk.
            let plain = try await RawClient.post(port: server.port, "/v1/completions",
                                                 json: #"{"prompt":"RO","max_tokens":3,"stream":true}"#).events
            #expect(!plain.contains { $0.contains("\"usage\"") })
            let bad = try await RawClient.post(port: server.port, "/v1/completions",
                                               json: #"{"prompt":"RO","stream":true,"stream_options":{"include_usage":1}}"#)
            #expect(bad.status == 400 && bad.json["error"]?["param"]?.string == "stream_options")
        }
    }
}
