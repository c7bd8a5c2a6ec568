// The sampling controls over HTTP: /complete and /v1/completions take them, apply them, and refuse bad ones with
// the 400 of API.md naming the field.
import Foundation
import QuillService
import Testing

@Suite("Sampling controls over HTTP", .serialized)
struct SamplingControlsServiceTests {
    @Test("logit_bias bans the greedy choice; stop_token_ids ends with reason stop; min_tokens and ignore_eos are taken")
    func applied() async throws {
        try await Fixture.withServer { server in
            let p = server.port
            let plain = try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO","max_tokens":8,"strategy":"greedy"}"#).json
            let tokens = plain["tokens"]?.array?.compactMap(\.int) ?? []
            #expect(tokens.count == 8)
            let first = tokens[0]
            // Banned, the greedy first token never comes, in either route and either form of logit_bias.
            let banned = try await RawClient.post(port: p, "/complete",
                json: #"{"prompt":"RO","max_tokens":8,"strategy":"greedy","logit_bias":{"\#(first)":-100}}"#).json
            let bannedTokens = banned["tokens"]?.array?.compactMap(\.int) ?? [first]
            #expect(bannedTokens.count == 8 && !bannedTokens.contains(first))
            let pairs = try await RawClient.post(port: p, "/complete",
                json: #"{"prompt":"RO","max_tokens":8,"strategy":"greedy","logit_bias":[[\#(first),false]]}"#).json
            let pairTokens = pairs["tokens"]?.array?.compactMap(\.int) ?? [first]
            #expect(pairTokens == bannedTokens)
            let openai = try await RawClient.post(port: p, "/v1/completions",
                json: #"{"prompt":"RO","max_tokens":8,"temperature":0,"logit_bias":{"\#(first)":-100},"logprobs":0}"#).json
            let ids = openai["choices"]?.array?.first?["logprobs"]?["tokens"]?.array?.count ?? 0
            #expect(ids == 8)
            // The greedy run's third token as a stop token: two tokens, then reason stop.
            let stop = tokens[2]
            let stopped = try await RawClient.post(port: p, "/complete",
                json: #"{"prompt":"RO","max_tokens":8,"strategy":"greedy","stop_token_ids":[\#(stop)]}"#).json
            let made = stopped["tokens"]?.array?.compactMap(\.int) ?? []
            #expect(stopped["finish_reason"]?.string == "stop")
            #expect(made.last == stop && made.count == (tokens.firstIndex(of: stop) ?? 0) + 1)
            // ignore_eos and min_tokens are accepted and run to the length asked.
            let long = try await RawClient.post(port: p, "/v1/completions",
                json: #"{"prompt":"RO","max_tokens":6,"temperature":0,"ignore_eos":true,"min_tokens":6,"repetition_penalty":1.3,"presence_penalty":0.5,"frequency_penalty":0.5,"min_p":0.05}"#).json
            #expect(long["choices"]?.array?.first?["finish_reason"]?.string == "length")
        }
    }

    @Test("bad controls are 400s that name the field")
    func refused() async throws {
        try await Fixture.withServer { server in
            let p = server.port
            for (body, param) in [
                (#"{"prompt":"RO","logit_bias":{"999999":1}}"#, "logit_bias"),
                (#"{"prompt":"RO","logit_bias":{"3":500}}"#, "logit_bias"),
                (#"{"prompt":"RO","logit_bias":"no"}"#, "logit_bias"),
                (#"{"prompt":"RO","repeat_penalty":0}"#, "repeat_penalty"),
                (#"{"prompt":"RO","repeat_penalty":1.1,"repetition_penalty":1.1}"#, "repetition_penalty"),
                (#"{"prompt":"RO","repeat_last_n":-2}"#, "repeat_last_n"),
                (#"{"prompt":"RO","presence_penalty":3}"#, "presence_penalty"),
                (#"{"prompt":"RO","frequency_penalty":-2.5}"#, "frequency_penalty"),
                (#"{"prompt":"RO","min_p":1.5}"#, "min_p"),
                (#"{"prompt":"RO","typical_p":0}"#, "typical_p"),
                (#"{"prompt":"RO","max_tokens":4,"min_tokens":5}"#, "min_tokens"),
                (#"{"prompt":"RO","ignore_eos":"yes"}"#, "ignore_eos"),
                (#"{"prompt":"RO","stop_token_ids":[-1]}"#, "stop_token_ids"),
            ] {
                for route in ["/complete", "/v1/completions"] {
                    let r = try await RawClient.post(port: p, route, json: body)
                    #expect(r.status == 400, "\(route) \(body): \(r.text)")
                    #expect(r.json["error"]?["param"]?.string == param, "\(route) \(body): \(r.text)")
                }
            }
        }
    }
}
