// Scoring: /v1/completions with echo, logprobs and max_tokens 0 returns the prompt's own log-probabilities (what
// lm-evaluation-harness's local-completions model reads), from text or token ids, and their sum is what
// `quill-train eval` measures on the same text.
import Foundation
import QuillService
import Testing

/// The quill-train built beside this test bundle.
func quillTrainBinaryForService() -> URL? {
    quillServerBinary().map { $0.deletingLastPathComponent().appendingPathComponent("quill-train") }
        .flatMap { FileManager.default.isExecutableFile(atPath: $0.path) ? $0 : nil }
}

@Suite("Scoring prompts", .serialized)
struct ScoringTests {
    static let text = "ROMEO: what light through yonder"

    @Test("echo + logprobs + max_tokens 0: the first token has none, the rest sum to quill-train eval's loss")
    func scoreEqualsEval() async throws {
        try await Fixture.withServer { server in
            let r = try await RawClient.post(port: server.port, "/v1/completions",
                json: #"{"prompt":"\#(Self.text)","max_tokens":0,"echo":true,"logprobs":1,"temperature":0}"#)
            #expect(r.status == 200, "\(r.text)")
            let choice = r.json["choices"]?.array?.first
            #expect(choice?["text"]?.string == Self.text)
            let lp = choice?["logprobs"]
            let values = lp?["token_logprobs"]?.array ?? []
            let tops = lp?["top_logprobs"]?.array ?? []
            #expect(values.count == Self.text.count && tops.count == Self.text.count)
            #expect(values.first == .null && tops.first == .null)
            #expect(lp?["tokens"]?.array?.compactMap(\.string).joined() == Self.text)
            #expect(lp?["text_offset"]?.array?.compactMap(\.int) == Array(0..<Self.text.count))
            #expect(r.json["usage"]?["completion_tokens"]?.int == 0)
            let sum = values.dropFirst().compactMap(\.double).reduce(0, +)
            // quill-train eval over the same text: one window, every token after the first scored once.
            guard let bin = quillTrainBinaryForService() else { Issue.record("quill-train is not built"); return }
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("score-\(getpid()).txt")
            try Self.text.write(to: file, atomically: true, encoding: .utf8)
            let p = Process()
            p.executableURL = bin
            p.arguments = ["eval", "--checkpoint", Fixture.checkpointPath, "--data", file.path]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last { $0.hasPrefix("{") } ?? ""
            let eval = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let loss = eval?["loss"] as? Double ?? .nan
            #expect(eval?["tokens"] as? Int == Self.text.count - 1)
            #expect(abs(-sum / Double(Self.text.count - 1) - loss) < 1e-3, "api \(-sum / Double(Self.text.count - 1)), eval \(loss)")
        }
    }

    @Test("prompts may be token ids; echo + logprobs with generation puts the prompt's entries first")
    func tokenIDs() async throws {
        try await Fixture.withServer { server in
            let ids = try await RawClient.post(port: server.port, "/tokenize", json: #"{"text":"ROMEO"}"#).json["tokens"]?
                .array?.compactMap(\.int) ?? []
            let list = ids.map(String.init).joined(separator: ",")
            let a = try await RawClient.post(port: server.port, "/v1/completions",
                json: #"{"prompt":[\#(list)],"max_tokens":0,"echo":true,"logprobs":0}"#).json
            let b = try await RawClient.post(port: server.port, "/v1/completions",
                json: #"{"prompt":"ROMEO","max_tokens":0,"echo":true,"logprobs":0}"#).json
            let la = a["choices"]?.array?.first?["logprobs"]?["token_logprobs"]
            #expect(la == b["choices"]?.array?.first?["logprobs"]?["token_logprobs"] && la?.array?.count == 5)
            #expect(a["choices"]?.array?.first?["text"]?.string == "ROMEO")
            let g = try await RawClient.post(port: server.port, "/v1/completions",
                json: #"{"prompt":[[\#(list)]],"max_tokens":3,"echo":true,"logprobs":0,"temperature":0}"#).json
            let lg = g["choices"]?.array?.first?["logprobs"]?["token_logprobs"]?.array ?? []
            #expect(lg.count == 5 + 3 && lg[0] == .null)
            #expect(Array(lg.prefix(5)) == la?.array)
            // Bad prompts and max_tokens 0 without echo are 400s naming the field.
            for (body, param) in [(#"{"prompt":[-1],"max_tokens":0,"echo":true}"#, "prompt"),
                                  (#"{"prompt":[],"max_tokens":1}"#, "prompt"),
                                  (#"{"prompt":"RO","max_tokens":0}"#, "max_tokens")] {
                let r = try await RawClient.post(port: server.port, "/v1/completions", json: body)
                #expect(r.status == 400 && r.json["error"]?["param"]?.string == param, "\(body): \(r.text)")
            }
        }
    }

    @Test("/complete: prompt_logprobs gives every prompt token's, the first null, equal to /v1's; prompts may be ids")
    func completePromptLogprobs() async throws {
        try await Fixture.withServer { server in
            let a = try await RawClient.post(port: server.port, "/complete",
                json: #"{"prompt":"ROMEO","max_tokens":2,"prompt_logprobs":2,"strategy":"greedy"}"#).json
            let entries = a["prompt_logprobs"]?.array ?? []
            #expect(entries.count == 5 && entries[0]["logprob"] == .null)
            #expect(entries.dropFirst().allSatisfy { $0["top"]?.array?.count == 2 })
            let v1 = try await RawClient.post(port: server.port, "/v1/completions",
                json: #"{"prompt":"ROMEO","max_tokens":0,"echo":true,"logprobs":0}"#).json
            let values = v1["choices"]?.array?.first?["logprobs"]?["token_logprobs"]?.array ?? []
            #expect(entries.map { $0["logprob"] ?? .null } == values)
            let ids = entries.compactMap { $0["token"]?.int }.map(String.init).joined(separator: ",")
            let b = try await RawClient.post(port: server.port, "/complete",
                json: #"{"prompt":[\#(ids)],"max_tokens":2,"strategy":"greedy","echo":true}"#).json
            #expect(b["tokens"] == a["tokens"] && b["text"]?.string?.hasPrefix("ROMEO") == true)
            let bad = try await RawClient.post(port: server.port, "/complete", json: #"{"prompt":[99999]}"#)
            #expect(bad.status == 400 && bad.json["error"]?["param"]?.string == "prompt")
        }
    }
}
