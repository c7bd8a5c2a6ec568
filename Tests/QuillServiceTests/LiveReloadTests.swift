// Live reload: a new checkpoint written to the served path is loaded (POST /admin/reload, or the file watch),
// requests in flight finish on the model they started with, and a checkpoint that does not load changes nothing.
import Foundation
import QuillCheckpoint
import QuillModel
import QuillService
import QuillTokenizers
import Testing
import QuillJSON

@Suite("Live reload", .serialized)
struct LiveReloadTests {
    /// Writes a tiny GPT (the fixture's shape and tokenizer) with this seed and step count to `url`, atomically.
    static func write(seed: UInt64, steps: Int, to url: URL) throws {
        let tokenizer = CharTokenizer(corpus: Fixture.corpus)
        let config = GPTConfig(vocabSize: tokenizer.vocabularySize, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 16)
        let model = try GPT(config: config, seed: seed, workers: 1)
        var training = TrainingRecord()
        training.steps = steps
        try Checkpoint.write(model: model, spec: .gpt(config), tokenizer: tokenizer.serialized, training: training, to: url)
    }

    static func scratch(_ name: String) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quill-reload-\(getpid())-\(name)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("live.safetensors")
    }

    static func greedy(_ port: Int) async throws -> String {
        let r = try await RawClient.post(port: port, "/complete", json: #"{"prompt":"ROMEO:","max_tokens":24,"strategy":"greedy"}"#)
        return r.json["text"]?.string ?? "<\(r.status)>"
    }

    @Test("POST /admin/reload swaps in a new checkpoint, and /info shows its SHA-256 and step; an unchanged file is not reloaded")
    func reloadRoute() async throws {
        let path = Self.scratch("route")
        try Self.write(seed: 7, steps: 10, to: path)
        let first = try LoadedModel(path: path.path, workers: 1)
        try await Fixture.withServer({ $0.checkpoint = path.path; $0.reloadInterval = 0 }, model: first) { server in
            let same = try await RawClient.post(port: server.port, "/admin/reload", json: "{}")
            #expect(same.status == 200 && same.json["reloaded"] == .bool(false), "\(same.text)")
            let before = try await Self.greedy(server.port)
            try Self.write(seed: 8, steps: 20, to: path)
            let r = try await RawClient.post(port: server.port, "/admin/reload", json: "{}")
            #expect(r.status == 200 && r.json["reloaded"] == .bool(true), "\(r.text)")
            #expect(r.json["step"]?.int == 20)
            #expect(r.json["previous_sha256"]?.string == first.fileSHA256)
            let info = try await RawClient.request(port: server.port, path: "/info")
            #expect(info.json["model"]?["sha256"]?.string == r.json["sha256"]?.string)
            #expect(info.json["model"]?["sha256"]?.string != first.fileSHA256)
            #expect(info.json["model"]?["training"]?["steps"]?.int == 20)
            #expect(info.json["server"]?["reloads"]?.int == 1)
            #expect(try await Self.greedy(server.port) != before)
            let metrics = try await RawClient.request(port: server.port, path: "/metrics").text
            #expect(metrics.contains("quill_model_reloads_total 1"))
        }
    }

    @Test("a checkpoint that does not load is a 500 reload_failed, and the model in use goes on serving")
    func badCheckpoint() async throws {
        let path = Self.scratch("bad")
        try Self.write(seed: 7, steps: 10, to: path)
        let first = try LoadedModel(path: path.path, workers: 1)
        try await Fixture.withServer({ $0.checkpoint = path.path; $0.reloadInterval = 0 }, model: first) { server in
            let before = try await Self.greedy(server.port)
            // Renamed into place, as every writer of a served checkpoint must (its weights are mapped from the file).
            try Data("not a checkpoint".utf8).write(to: path, options: .atomic)
            let r = try await RawClient.post(port: server.port, "/admin/reload", json: "{}")
            #expect(r.status == 500, "\(r.text)")
            #expect(r.json["error"]?["code"]?.string == "reload_failed")
            let info = try await RawClient.request(port: server.port, path: "/info")
            #expect(info.json["model"]?["sha256"]?.string == first.fileSHA256)
            #expect(try await Self.greedy(server.port) == before)
        }
    }

    @Test("with reload_interval, a checkpoint renamed into place is picked up without a request")
    func fileWatch() async throws {
        let path = Self.scratch("watch")
        try Self.write(seed: 7, steps: 10, to: path)
        let first = try LoadedModel(path: path.path, workers: 1)
        try await Fixture.withServer({ $0.checkpoint = path.path; $0.reloadInterval = 0.1 }, model: first) { server in
            try Self.write(seed: 9, steps: 30, to: path)
            var steps = 10
            for _ in 0..<100 where steps != 30 {
                try await Task.sleep(nanoseconds: 100_000_000)
                let info = try await RawClient.request(port: server.port, path: "/info")
                steps = info.json["model"]?["training"]?["steps"]?.int ?? 0
            }
            #expect(steps == 30)
        }
    }

    @Test("POST /admin/reload needs the API key when the server has one")
    func needsKey() async throws {
        try await Fixture.withServer({ $0.apiKey = "sekret"; $0.reloadInterval = 0 }) { server in
            let r = try await RawClient.post(port: server.port, "/admin/reload", json: "{}")
            #expect(r.status == 401)
            let ok = try await RawClient.post(port: server.port, "/admin/reload", json: "{}",
                                              headers: [("Authorization", "Bearer sekret")])
            #expect(ok.status == 200, "\(ok.text)")
        }
    }

    @Test("under concurrent load, five reloads fail no request, and each answer is wholly one model's")
    func reloadUnderLoad() async throws {
        let path = Self.scratch("load")
        try Self.write(seed: 7, steps: 1, to: path)
        let first = try LoadedModel(path: path.path, workers: 1)
        try await Fixture.withServer({ $0.checkpoint = path.path; $0.reloadInterval = 0 }, model: first) { server in
            let port = server.port
            let body = #"{"prompt":"ROMEO:","max_tokens":24,"strategy":"greedy","cache_prompt":false}"#
            func text(_ r: HTTPReply) -> String { r.json["text"]?.string ?? "<\(r.status) \(r.text)>" }
            let refA = text(try await RawClient.post(port: port, "/complete", json: body))
            try Self.write(seed: 8, steps: 2, to: path)
            _ = try await RawClient.post(port: port, "/admin/reload", json: "{}")
            let refB = text(try await RawClient.post(port: port, "/complete", json: body))
            #expect(refA != refB)
            let answers = try await withThrowingTaskGroup(of: [HTTPReply].self) { group in
                for client in 0..<8 {
                    group.addTask {
                        var out: [HTTPReply] = []
                        for i in 0..<6 {
                            let streamed = (client + i) % 2 == 0
                            out.append(try await RawClient.post(port: port, "/complete",
                                json: streamed ? String(body.dropLast()) + #","stream":true}"# : body))
                        }
                        return out
                    }
                }
                group.addTask {
                    var out: [HTTPReply] = []
                    for round in 0..<5 {
                        try Self.write(seed: round % 2 == 0 ? 7 : 8, steps: round % 2 == 0 ? 1 : 2, to: path)
                        out.append(try await RawClient.post(port: port, "/admin/reload", json: "{}"))
                        try await Task.sleep(nanoseconds: 20_000_000)
                    }
                    return out
                }
                var all: [HTTPReply] = []
                for try await replies in group { all += replies }
                return all
            }
            let reloads = answers.filter { $0.json["reloaded"] != nil }
            #expect(reloads.count == 5 && reloads.allSatisfy { $0.status == 200 }, "\(reloads.map(\.text))")
            let completions = answers.filter { $0.json["reloaded"] == nil }
            #expect(completions.count == 48)
            for r in completions {
                #expect(r.status == 200, "\(r.text)")
                // A streamed answer: its deltas' texts joined; else the text.
                let t = r.events.isEmpty ? text(r)
                    : r.events.dropLast().compactMap { try? JSONValue.parse(Array($0.utf8)) }.compactMap { $0["text"]?.string }.joined()
                #expect(t == refA || t == refB, "\(t)")
                if !r.events.isEmpty { #expect(r.events.last == "[DONE]") }
            }
        }
    }

    @Test("a generation in flight when the model changes finishes on the model it started with")
    func inFlightKeepsItsModel() async throws {
        let a = Self.scratch("a"), b = Self.scratch("b").deletingLastPathComponent().appendingPathComponent("b.safetensors")
        try Self.write(seed: 7, steps: 1, to: a)
        try Self.write(seed: 8, steps: 2, to: b)
        let modelA = try LoadedModel(path: a.path, workers: 1), modelB = try LoadedModel(path: b.path, workers: 1)
        let prompt = try modelA.encode("ROMEO:")
        // Past the window of 32: context shifts too, on both sides of the swap.
        let request = GenerationRequest(prompt: prompt, maxTokens: 120, options: DecodingOptions(strategy: .greedy))
        func tokens(_ stream: AsyncStream<GenerationEvent>) async -> [Int32] {
            var out: [Int32] = []
            for await e in stream { if case .delta(_, let t, _) = e { out += t } }
            return out
        }
        let refA = await tokens(try await ModelActor(model: modelA, workers: 1).submit(request))
        let refB = await tokens(try await ModelActor(model: modelB, workers: 1).submit(request))
        #expect(refA != refB)
        let actor = ModelActor(model: modelA, workers: 1)
        let started = try await actor.submit(request)
        var iterator = started.makeAsyncIterator()
        var seen: [Int32] = []
        while seen.count < 10, let e = await iterator.next() { if case .delta(_, let t, _) = e { seen += t } }
        await actor.use(modelB)  // mid-generation
        let after = try await actor.submit(request)
        while let e = await iterator.next() { if case .delta(_, let t, _) = e { seen += t } }
        #expect(seen == refA)
        #expect(await tokens(after) == refB)
        #expect(await actor.model === modelB)
    }
}
