// The model actor under load: concurrent requests keep their own seeds' texts, a full queue answers 503, and a
// client that goes away frees its place.
import Foundation
import Glibc
import QuillModel
import QuillService
import Testing

@Suite("Concurrency", .serialized)
struct ConcurrencyTests {
    static func body(seed: Int) -> String {
        #"{"prompt":"ROMEO:","max_tokens":16,"seed":\#(seed),"strategy":"sample","temperature":1.0}"#
    }

    static let streamRequest: String = {
        let body = #"{"prompt":"RO","max_tokens":4000,"stream":true}"#
        return "POST /complete HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }()

    @Test("64 concurrent completions all succeed, each with its own seed's text")
    func sixtyFourConcurrent() async throws {
        try await Fixture.withServer { server in
            let port = server.port
            // Alone, one at a time: the reference texts.
            var expected: [Int: String] = [:]
            for seed in 0..<64 {
                expected[seed] = try await RawClient.post(port: port, "/complete", json: Self.body(seed: seed)).json["text"]?.string
            }
            #expect(Set(expected.values).count > 32)  // seeds really change the text
            // All at once: batched together (capacity 16, the rest queued).
            let results = try await withThrowingTaskGroup(of: (Int, Int, String?).self) { group in
                for seed in 0..<64 {
                    group.addTask {
                        let r = try await RawClient.post(port: port, "/complete", json: Self.body(seed: seed))
                        return (seed, r.status, r.json["text"]?.string)
                    }
                }
                var out: [(Int, Int, String?)] = []
                for try await r in group { out.append(r) }
                return out
            }
            #expect(results.count == 64)
            for (seed, status, text) in results {
                #expect(status == 200)
                #expect(text == expected[seed], "seed \(seed)")
            }
        }
    }

    @Test("a full queue answers 503 with Retry-After")
    func overload() async throws {
        try await Fixture.withServer({ $0.batchCapacity = 1; $0.queueCapacity = 0 }) { server in
            let port = server.port
            // A long streamed generation holds the only place.
            let holder = try await offPool { () throws -> RawClient in
                let c = try RawClient(port: port)
                c.send(Array(Self.streamRequest.utf8))
                c.waitFor("tokens")
                return c
            }
            let r = try await RawClient.post(port: port, "/complete", json: #"{"prompt":"RO","max_tokens":2}"#)
            #expect(r.status == 503)
            #expect(r.header("Retry-After") == "1")
            #expect(r.json["error"]?["type"]?.string == "overloaded_error")
            withExtendedLifetime(holder) {}
        }
    }

    @Test("a client that disconnects mid-stream frees its place within a step")
    func disconnectFreesSlot() async throws {
        try await Fixture.withServer({ $0.batchCapacity = 1; $0.queueCapacity = 0 }) { server in
            let port = server.port
            do {
                let c = try await offPool { () throws -> RawClient in
                    let c = try RawClient(port: port)
                    c.send(Array(Self.streamRequest.utf8))
                    c.waitFor("tokens")
                    return c
                }
                let info = try await RawClient.request(port: port, path: "/info").json
                #expect(info["server"]?["in_flight"]?.int == 1)
                withExtendedLifetime(c) {}
            }  // the client closes its socket here
            var freed = false
            for _ in 0..<100 {
                let info = try await RawClient.request(port: port, path: "/info").json
                if info["server"]?["in_flight"]?.int == 0 && info["server"]?["waiting"]?.int == 0 { freed = true; break }
                try await Task.sleep(nanoseconds: 20_000_000)
            }
            #expect(freed)
            #expect(try await RawClient.post(port: port, "/complete", json: #"{"prompt":"RO","max_tokens":2}"#).status == 200)
        }
    }
}

@Suite("Model actor events")
struct ModelActorEventTests {
    /// The events of one generation: its deltas' texts and tokens, and how many deltas came.
    static func collect(_ actor: ModelActor, streaming: Bool) async throws -> (text: String, tokens: [Int32], deltas: Int) {
        let prompt = try Fixture.model.encode("ROMEO:", param: "prompt")
        let request = GenerationRequest(prompt: prompt, maxTokens: 24,
                                        options: DecodingOptions(strategy: .sample, temperature: 1, seed: 42),
                                        streaming: streaming)
        var text = "", tokens: [Int32] = [], deltas = 0
        var done = false
        for await event in try await actor.submit(request) {
            switch event {
            case .delta(let t, let ids, _):
                #expect(!done, "no delta after done")
                text += t
                tokens += ids
                deltas += 1
            case .done(_, _, let completion, _, _):
                #expect(completion == tokens.count)
                done = true
            }
        }
        #expect(done)
        return (text, tokens, deltas)
    }

    @Test("a request that is not streaming gets one delta with everything a streamed one gets token by token")
    func nonStreamingMergesDeltas() async throws {
        let actor = ModelActor(model: Fixture.model, workers: 1)
        let streamed = try await Self.collect(actor, streaming: true)
        let merged = try await Self.collect(actor, streaming: false)
        #expect(streamed.deltas == streamed.tokens.count && streamed.tokens.count > 1)  // one per token
        #expect(merged.deltas == 1)
        #expect(merged.tokens == streamed.tokens)
        #expect(merged.text == streamed.text && !merged.text.isEmpty)
    }
}
