// API.md's error rules: the status, and the JSON error object naming the field.
import Foundation
import QuillService
import Testing

@Suite("Errors", .serialized)
struct ErrorTests {
    func expectError(_ r: HTTPReply, status: Int, code: String, param: String? = nil,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == status, sourceLocation: sourceLocation)
        let e = r.json["error"]
        #expect(e?["code"]?.string == code, "\(r.text)", sourceLocation: sourceLocation)
        #expect(e?["type"]?.string != nil, sourceLocation: sourceLocation)
        #expect((e?["message"]?.string?.isEmpty ?? true) == false, sourceLocation: sourceLocation)
        if let param { #expect(e?["param"]?.string == param, sourceLocation: sourceLocation) }
        #expect(r.header("Content-Type") == "application/json; charset=utf-8", sourceLocation: sourceLocation)
    }

    @Test("values out of range are 400s that name the field and its range")
    func outOfRange() async throws {
        try await Fixture.withServer { server in
            let p = server.port
            let t = try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO","temperature":-1}"#)
            expectError(t, status: 400, code: "invalid_value", param: "temperature")
            #expect(t.json["error"]?["message"]?.string?.contains("between 0 and") == true)
            expectError(try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO","top_p":0}"#),
                        status: 400, code: "invalid_value", param: "top_p")
            expectError(try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO","top_k":0}"#),
                        status: 400, code: "invalid_value", param: "top_k")
            expectError(try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO","max_tokens":5000}"#),
                        status: 400, code: "invalid_value", param: "max_tokens")
            expectError(try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO","logprobs":21}"#),
                        status: 400, code: "invalid_value", param: "logprobs")
            expectError(try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO","strategy":"beam"}"#),
                        status: 400, code: "invalid_value", param: "strategy")
            expectError(try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO","stop":["a","b","c","d","e"]}"#),
                        status: 400, code: "invalid_value", param: "stop")
        }
    }

    @Test("fields of the wrong type, missing fields and bad bodies are 400s")
    func badFields() async throws {
        try await Fixture.withServer { server in
            let p = server.port
            expectError(try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO","max_tokens":"ten"}"#),
                        status: 400, code: "invalid_type", param: "max_tokens")
            expectError(try await RawClient.post(port: p, "/complete", json: #"{"prompt":42}"#),
                        status: 400, code: "invalid_type", param: "prompt")
            expectError(try await RawClient.post(port: p, "/complete", json: #"{"max_tokens":3}"#),
                        status: 400, code: "missing_field", param: "prompt")
            expectError(try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO",}"#),
                        status: 400, code: "invalid_json")
            expectError(try await RawClient.request(port: p, method: "POST", path: "/complete", body: [0x52, 0xFF, 0xFE]),
                        status: 400, code: "invalid_utf8")
            expectError(try await RawClient.request(port: p, method: "POST", path: "/complete?max_tokens=abc", body: Array("RO".utf8)),
                        status: 400, code: "invalid_type", param: "max_tokens")
            // Unknown fields are ignored.
            #expect(try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO","max_tokens":2,"color":"red"}"#).status == 200)
        }
    }

    @Test("characters a character model does not know are listed in a 400")
    func unknownCharacters() async throws {
        try await Fixture.withServer { server in
            let r = try await RawClient.post(port: server.port, "/complete", json: #"{"prompt":"Romeo 😀 §"}"#)
            expectError(r, status: 400, code: "unknown_characters", param: "prompt")
            let message = r.json["error"]?["message"]?.string ?? ""
            #expect(message.contains("2 characters"), "\(message)")
            #expect(message.contains("1f600") || message.contains("1F600") || message.contains("😀"), "\(message)")
        }
    }

    @Test("messages never echo more than 100 bytes of user input")
    func clippedMessages() async throws {
        try await Fixture.withServer { server in
            let long = String(repeating: "x", count: 5000)
            let r = try await RawClient.request(port: server.port, path: "/\(long)")
            expectError(r, status: 404, code: "not_found")
            #expect((r.json["error"]?["message"]?.string?.utf8.count ?? 9999) < 250)
        }
    }

    @Test("unknown routes are 404, wrong methods 405 with Allow, bad token ids 400")
    func routingErrors() async throws {
        try await Fixture.withServer { server in
            let p = server.port
            expectError(try await RawClient.request(port: p, path: "/nope"), status: 404, code: "not_found")
            let m = try await RawClient.request(port: p, path: "/complete")
            expectError(m, status: 405, code: "method_not_allowed")
            #expect(m.header("Allow") == "POST")
            expectError(try await RawClient.post(port: p, "/detokenize", json: #"{"tokens":[1,99999]}"#),
                        status: 400, code: "invalid_token", param: "tokens")
            expectError(try await RawClient.request(port: p, method: "POST", path: "/detokenize", body: Array("1 2".utf8)),
                        status: 415, code: "unsupported_media_type")
            let long = String(repeating: "a", count: 40)
            expectError(try await RawClient.post(port: p, "/attention", json: #"{"text":"\#(long)"}"#),
                        status: 400, code: "context_length_exceeded", param: "text")
            expectError(try await RawClient.post(port: p, "/attention", json: #"{"text":"Romeo","layer":2}"#),
                        status: 400, code: "invalid_value", param: "layer")
            expectError(try await RawClient.post(port: p, "/v1/completions", json: #"{"model":"gpt-9","prompt":"RO"}"#),
                        status: 404, code: "model_not_found", param: "model")
        }
    }

    @Test("/tokenize lists at most 32768 tokens (a 1 MiB text once came back as 24 MB of JSON); count_only counts any text")
    func tokenizeIsBounded() async throws {
        try await Fixture.withServer { server in
            let big = String(repeating: "ROMEO ", count: 6000)   // 36,000 characters, one token each
            let r = try await RawClient.request(port: server.port, method: "POST", path: "/tokenize", body: Array(big.utf8))
            expectError(r, status: 400, code: "too_many_tokens", param: "text")
            #expect(r.body.count < 400)
            let counted = try await RawClient.request(port: server.port, method: "POST", path: "/tokenize?count_only=true",
                                                      body: Array(big.utf8))
            #expect(counted.status == 200)
            #expect(counted.json["count"]?.int == 36000 && counted.json["tokens"] == nil)
            let fits = try await RawClient.request(port: server.port, method: "POST", path: "/tokenize",
                                                   body: Array(String(big.prefix(32768)).utf8))
            #expect(fits.status == 200 && fits.json["count"]?.int == 32768)
        }
    }

    @Test("with an API key every route but GET /health and the playground's files needs the bearer token")
    func apiKey() async throws {
        try await Fixture.withServer({ $0.apiKey = "sekret" }) { server in
            let p = server.port
            #expect(try await RawClient.request(port: p, path: "/health").status == 200)
            for path in ["/", "/playground.js", "/playground.css", "/favicon.ico", "/favicon.svg"] {
                #expect(try await RawClient.request(port: p, path: path).status == 200, "\(path)")
            }
            expectError(try await RawClient.post(port: p, "/playground.js", json: "{}"), status: 405, code: "method_not_allowed")
            let denied = try await RawClient.request(port: p, path: "/info")
            expectError(denied, status: 401, code: "invalid_api_key")
            #expect(denied.json["error"]?["type"]?.string == "authentication_error")
            expectError(try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO"}"#, headers: [("Authorization", "Bearer wrong")]),
                        status: 401, code: "invalid_api_key")
            let ok = try await RawClient.post(port: p, "/complete", json: #"{"prompt":"RO","max_tokens":2}"#,
                                        headers: [("Authorization", "Bearer sekret")])
            #expect(ok.status == 200)
        }
    }
}

@Suite("Model-side errors")
struct ModelServiceErrorTests {
    @Test("the model side throws its own errors, and one edge maps them to API.md's statuses and codes")
    func mappedAtOneEdge() async throws {
        let busy = APIError(ModelServiceError.busy(active: 16, waiting: 64))
        #expect(busy.status == 503)
        #expect(busy.retryAfter == 1)
        #expect(busy.message.contains("16 generations running and 64 waiting"))

        // A character the fixture's char model lacks: LoadedModel says so in its own terms.
        #expect(throws: ModelServiceError.unknownCharacters(param: "prompt", count: 1, characters: ["@"])) {
            try Fixture.model.encode("RO@", param: "prompt")
        }
        let unknown = APIError(ModelServiceError.unknownCharacters(param: "text", count: 2, characters: ["@", "#"]))
        #expect(unknown.status == 400)
        #expect(unknown.code == "unknown_characters")
        #expect(unknown.param == "text")
        #expect(unknown.message == "text has 2 characters that this character-level model does not know: @, #")

        let invalid = APIError(ModelServiceError.invalidRequest("cannot score the prompt: too long", param: "prompt"))
        #expect(invalid.status == 400)
        #expect(invalid.code == "invalid_value")
        #expect(invalid.param == "prompt")
    }
}

@Suite("HTTP-layer errors through the service")
struct HTTPLayerErrorBodyTests {
    @Test("an error the HTTP layer answers itself carries API.md's JSON error, written by the service")
    func layerErrorsInAPISchema() async throws {
        try await Fixture.withServer { server in
            let port = server.port
            let reply = try await offPool { () throws -> HTTPReply in
                let c = try RawClient(port: port)
                c.send(Array("GET /health HTTP/1.1\r\n\r\n".utf8))  // no Host: the HTTP layer's 400
                return try RawClient.parse(c.readAll())
            }
            #expect(reply.status == 400)
            #expect(reply.header("Content-Type") == "application/json; charset=utf-8")
            #expect(reply.text == #"{"error":{"message":"an HTTP/1.1 request needs a Host header","type":"invalid_request_error","param":null,"code":"bad_request"}}"#)
        }
    }
}
