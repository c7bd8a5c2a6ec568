// Every route of API.md against a real server on 127.0.0.1:0.
import Foundation
import QuillModel
import QuillService
import Testing
import QuillJSON

@Suite("Routes", .serialized)
struct RouteTests {
    @Test("health, info, models and metrics answer with their documented shapes")
    func informationalRoutes() async throws {
        try await Fixture.withServer { server in
            let health = try await RawClient.request(port: server.port, path: "/health")
            #expect(health.status == 200)
            #expect(health.json["status"]?.string == "ok")
            #expect(health.header("Content-Type") == "application/json; charset=utf-8")

            let info = try await RawClient.request(port: server.port, path: "/info").json
            #expect(info["model"]?["n_layer"]?.int == 2)
            #expect(info["model"]?["block_size"]?.int == 32)
            #expect(info["model"]?["document_token"] == .null)  // the fixture is one stream
            #expect(info["model"]?["sha256"]?.string?.count == 64)
            #expect(info["model"]?["training"]?["steps"]?.int == 10)
            #expect(info["server"]?["batch_capacity"]?.int == 16)

            let models = try await RawClient.request(port: server.port, path: "/v1/models").json
            #expect(models["object"]?.string == "list")
            #expect(models["data"]?.array?.first?["id"]?.string == "tiny")

            _ = try await RawClient.post(port: server.port, "/complete", json: #"{"prompt":"RO","max_tokens":3}"#)
            let metrics = try await RawClient.request(port: server.port, path: "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains(#"quill_requests_total{route="/complete",status="200"} 1"#))
            #expect(metrics.text.contains("quill_generated_tokens_total 3"))
            #expect(metrics.text.contains("quill_batch_size_bucket"))

            let page = try await RawClient.request(port: server.port, path: "/")
            #expect(page.status == 200)
            #expect(page.header("Content-Type")?.hasPrefix("text/html") == true)
            #expect(page.text.contains("/playground.js") && page.text.contains("/playground.css"))
        }
    }

    @Test("while the model loads, /health says loading and other routes answer 503 with Retry-After")
    func loadingState() async throws {
        let server = QuillServer(config: Fixture.config())
        try server.start()
        let health = try await RawClient.request(port: server.port, path: "/health")
        #expect(health.status == 503)
        #expect(health.json["status"]?.string == "loading")
        let busy = try await RawClient.post(port: server.port, "/complete", json: #"{"prompt":"RO"}"#)
        #expect(busy.status == 503)
        #expect(busy.header("Retry-After") == "1")
        server.load(Fixture.model)
        #expect(try await RawClient.request(port: server.port, path: "/health").status == 200)
        #expect(try await RawClient.post(port: server.port, "/complete", json: #"{"prompt":"RO","max_tokens":2}"#).status == 200)
        await server.shutdown()
    }

    @Test("greedy completion returns max_tokens tokens whose text is their decoding")
    func greedyCompletion() async throws {
        try await Fixture.withServer { server in
            let r = try await RawClient.post(port: server.port, "/complete",
                                       json: #"{"prompt":"ROMEO:","max_tokens":12,"strategy":"greedy"}"#)
            #expect(r.status == 200)
            let j = r.json
            let tokens = j["tokens"]?.array?.compactMap(\.int) ?? []
            #expect(tokens.count == 12)
            #expect(j["finish_reason"]?.string == "length")
            #expect(j["usage"]?["prompt_tokens"]?.int == 6)
            #expect(j["usage"]?["total_tokens"]?.int == 18)
            #expect(j["truncated"]?.bool == false)
            #expect(j["text"]?.string == (try Fixture.model.tokenizer.decode(tokens)))
            #expect(j["id"]?.string?.hasPrefix("cmpl-") == true)
            #expect(j["timings"]?["generate_ms"]?.double != nil)
            // Greedy is deterministic: the same request gives the same text.
            let again = try await RawClient.post(port: server.port, "/complete",
                                           json: #"{"prompt":"ROMEO:","max_tokens":12,"temperature":0}"#)
            #expect(again.json["text"] == j["text"])
        }
    }

    @Test("the text-body and query-string form equals the JSON form")
    func textBodyForm() async throws {
        try await Fixture.withServer { server in
            let json = try await RawClient.post(port: server.port, "/complete",
                                          json: #"{"prompt":"JULIET:","max_tokens":9,"seed":42,"strategy":"top_k","top_k":5}"#)
            let text = try await RawClient.request(port: server.port, method: "POST",
                                             path: "/complete?max_tokens=9&seed=42&strategy=top_k&top_k=5",
                                             body: Array("JULIET:".utf8))
            #expect(text.status == 200)
            #expect(text.json["text"] == json.json["text"])
        }
    }

    @Test("a long prompt is cut from the left and reported as truncated")
    func truncatedPrompt() async throws {
        try await Fixture.withServer { server in
            let prompt = String(repeating: "Romeo ", count: 10)  // 60 characters, window 32
            let r = try await RawClient.post(port: server.port, "/complete",
                                       json: #"{"prompt":"\#(prompt)","max_tokens":40,"strategy":"greedy"}"#)
            #expect(r.json["truncated"]?.bool == true)
            #expect(r.json["usage"]?["prompt_tokens"]?.int == 60)
            #expect(r.json["tokens"]?.array?.count == 40)  // generation goes on past the window
        }
    }

    @Test("streaming sends the same text as a non-streamed request with the same seed")
    func streamingEqualsNonStreaming() async throws {
        try await Fixture.withServer { server in
            let body = #""prompt":"ROMEO:","max_tokens":25,"seed":7,"strategy":"sample","temperature":1.2"#
            let plain = try await RawClient.post(port: server.port, "/complete", json: "{\(body)}").json
            let streamed = try await RawClient.post(port: server.port, "/complete", json: "{\(body),\"stream\":true}")
            #expect(streamed.header("Content-Type")?.hasPrefix("text/event-stream") == true)
            let events = streamed.events
            #expect(events.last == "[DONE]")
            let objects = events.dropLast().compactMap { try? JSONValue.parse(Array($0.utf8)) }
            let text = objects.compactMap { $0["text"]?.string }.joined()
            #expect(text == plain["text"]?.string)
            #expect(objects.last?["finish_reason"]?.string == "length")
            #expect(objects.last?["usage"]?["completion_tokens"]?.int == 25)
            #expect(objects.count == 26)  // one event per step and the final one
        }
    }

    @Test("a stop string ends the text before it, even when it spans tokens")
    func stopStrings() async throws {
        try await Fixture.withServer { server in
            let base = try await RawClient.post(port: server.port, "/complete",
                                          json: #"{"prompt":"ROMEO:","max_tokens":30,"strategy":"greedy"}"#)
            let full = base.json["text"]?.string ?? ""
            let chars = Array(full)
            try #require(chars.count >= 12)
            let stop = String(chars[8..<11])  // three tokens of a character model
            let first = full.range(of: stop)!
            for stream in [false, true] {
                let r = try await RawClient.post(port: server.port, "/complete", json: JSONValue.object([
                    ("prompt", .string("ROMEO:")), ("max_tokens", .int(30)), ("strategy", .string("greedy")),
                    ("stop", .array([.string("zzzz"), .string(stop)])), ("stream", .bool(stream)),
                ]).text)
                let text: String
                let reason: String?
                if stream {
                    let objects = r.events.dropLast().compactMap { try? JSONValue.parse(Array($0.utf8)) }
                    text = objects.compactMap { $0["text"]?.string }.joined()
                    reason = objects.last?["finish_reason"]?.string
                } else {
                    text = r.json["text"]?.string ?? ""
                    reason = r.json["finish_reason"]?.string
                }
                #expect(text == String(full[..<first.lowerBound]))
                #expect(reason == "stop")
            }
        }
    }

    @Test("echo puts the prompt first and logprobs list the n best alternatives")
    func echoAndLogprobs() async throws {
        try await Fixture.withServer { server in
            let r = try await RawClient.post(port: server.port, "/complete",
                                       json: #"{"prompt":"ROMEO:","max_tokens":4,"strategy":"greedy","echo":true,"logprobs":3}"#)
            let j = r.json
            #expect(j["text"]?.string?.hasPrefix("ROMEO:") == true)
            let lps = j["logprobs"]?.array ?? []
            #expect(lps.count == 4)
            for lp in lps {
                let top = lp["top"]?.array ?? []
                #expect(top.count == 3)
                // Greedy picks the most likely token: it heads the alternatives.
                #expect(top.first?["token"]?.int == lp["token"]?.int)
                #expect((lp["logprob"]?.double ?? 1) <= 0)
            }
        }
    }

    @Test("tokenize gives pieces and offsets, and detokenize inverts it")
    func tokenizeRoundTrip() async throws {
        try await Fixture.withServer { server in
            let t = try await RawClient.post(port: server.port, "/tokenize", json: #"{"text":"Romeo, Juliet"}"#).json
            #expect(t["tokenizer"]?.string == "char")
            #expect(t["count"]?.int == 13)
            #expect(t["pieces"]?.array?.first?.string == "R")
            #expect(t["offsets"]?.array?[1].array?.compactMap(\.int) == [1, 2])
            let ids = t["tokens"]?.array?.compactMap(\.int) ?? []
            let d = try await RawClient.post(port: server.port, "/detokenize",
                                       json: #"{"tokens":[\#(ids.map(String.init).joined(separator: ","))]}"#)
            #expect(d.json["text"]?.string == "Romeo, Juliet")
            let text = try await RawClient.request(port: server.port, method: "POST", path: "/tokenize", body: Array("Romeo".utf8))
            #expect(text.json["count"]?.int == 5)
        }
    }

    @Test("a BPE model's tokenize explains each word's merges, ending in its tokens")
    func explainMerges() async throws {
        let bpe = try LoadedModel(path: Fixture.bpeCheckpointPath, workers: 1)
        try await Fixture.withServer(model: bpe) { server in
            let j = try await RawClient.post(port: server.port, "/tokenize",
                                             json: #"{"text":"Romeo, wherefore","explain":true}"#).json
            #expect(j["tokenizer"]?.string == "bpe")
            let pieces = j["pieces"]?.array?.compactMap(\.string) ?? []
            #expect(pieces.joined() == "Romeo,Ġwherefore")
            let words = j["explain"]?.array ?? []
            #expect(words.compactMap { $0["word"]?.string } == ["Romeo", ",", "Ġwherefore"])
            for w in words {
                let steps = w["steps"]?.array?.map { $0.array?.compactMap(\.string) ?? [] } ?? []
                // From single bytes, each step applies one merge (to every place the pair occurs), down to the
                // word's tokens; the pieces always spell the word.
                #expect(steps.first?.count == w["word"]?.string?.count)
                for s in steps { #expect(s.joined() == w["word"]?.string) }
                for (a, b) in zip(steps, steps.dropFirst()) { #expect(b.count < a.count) }
            }
            #expect(words.flatMap { $0["steps"]?.array?.last?.array?.compactMap(\.string) ?? [] } == pieces)
            // An empty prompt starts from end-of-text on a BPE model.
            let c = try await RawClient.post(port: server.port, "/complete", json: #"{"prompt":"","max_tokens":3}"#)
            #expect(c.status == 200)
            #expect(c.json["usage"]?["prompt_tokens"]?.int == 1)
        }
    }

    @Test("attention rows sum to one and never look ahead")
    func attention() async throws {
        try await Fixture.withServer { server in
            let all = try await RawClient.post(port: server.port, "/attention", json: #"{"text":"To be or not"}"#).json
            #expect(all["n_layer"]?.int == 2 && all["n_head"]?.int == 2)
            let att = all["attention"]?.array ?? []
            #expect(att.count == 2 && att[0].array?.count == 2)
            for layer in att {
                for head in layer.array ?? [] {
                    let rows = head.array ?? []
                    #expect(rows.count == 12)
                    for (i, row) in rows.enumerated() {
                        let v = row.array?.compactMap(\.double) ?? []
                        #expect(abs(v.reduce(0, +) - 1) < 1e-3)
                        #expect(v[(i + 1)...].allSatisfy { $0 == 0 })
                    }
                }
            }
            let one = try await RawClient.post(port: server.port, "/attention", json: #"{"text":"To be","layer":1,"head":0}"#).json
            #expect(one["layers"]?.array?.compactMap(\.int) == [1])
            #expect(one["heads"]?.array?.compactMap(\.int) == [0])
            #expect(one["attention"]?.array?.count == 1)
        }
    }
}

@Suite("The route table")
struct RouteTableTests {
    @Test("every path of the table answers a wrong method with 405 and an Allow of the table's methods, and keyed routes need the key")
    func tableDrivesStatuses() async throws {
        try await Fixture.withServer({ $0.apiKey = "k" }) { server in
            for path in QuillAPI.routePaths {
                let concrete = path.replacingOccurrences(of: "{id}", with: "tiny")
                let methods = QuillAPI.routeMethods(path)
                #expect(!methods.isEmpty)
                let wrong = methods.contains("GET") ? "DELETE" : "GET"
                let refused = try await RawClient.request(port: server.port, method: wrong, path: concrete,
                                                          headers: [("Authorization", "Bearer k")])
                #expect(refused.status == 405, "\(wrong) \(concrete)")
                #expect(refused.header("Allow") == methods.joined(separator: ", "), "\(concrete)")
                // Without the key: 401 for a keyed route, never for an open one.
                let method = methods[0]
                let anonymous = try await RawClient.request(port: server.port, method: method, path: concrete,
                                                            body: method == "POST" ? Array("{}".utf8) : [])
                #expect((anonymous.status == 401) == QuillAPI.routeNeedsKey(path, method: method), "\(method) \(concrete)")
            }
            #expect(try await RawClient.request(port: server.port, path: "/no/such/route").status == 404)
        }
    }

    @Test("the metric labels are the table's paths, a model id counts as /v1/models/{id}, and anything else as other")
    func metricLabels() {
        #expect(ServiceMetrics.routes == QuillAPI.routePaths + ["other"])
        #expect(ServiceMetrics.route("/v1/models/tiny") == "/v1/models/{id}")
        #expect(ServiceMetrics.route("/complete") == "/complete")
        #expect(ServiceMetrics.route("/wp-admin") == "other")
    }
}
