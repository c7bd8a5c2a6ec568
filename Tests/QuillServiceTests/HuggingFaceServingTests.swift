// quill-server on a Hugging Face GPT-2 folder (Tests/Fixtures/tiny-gpt2, saved by transformers): every route
// works as on a Quill checkpoint, /info says where the model came from, and greedy text is transformers' own.
import Foundation
import QuillService
import Testing

private let tinyGPT2 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/tiny-gpt2").path

@Suite("Serving a Hugging Face folder")
struct HuggingFaceServingTests {
    @Test("a transformers GPT-2 folder serves /info, /tokenize, /complete and /v1/completions")
    func servesFolder() async throws {
        let model = try LoadedModel(path: tinyGPT2, workers: 2)
        #expect(model.name == "tiny-gpt2" && model.format == .huggingFace)
        // transformers' greedy tokens for this prompt (Tests/Fixtures/tiny-gpt2-golden.json).
        struct Golden: Decodable { var prompt_text: String; var prompt_ids: [Int]; var greedy_ids: [Int] }
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: tinyGPT2)
            .deletingLastPathComponent().appendingPathComponent("tiny-gpt2-golden.json")))
        try await Fixture.withServer({ $0.checkpoint = tinyGPT2 }, model: model) { server in
            let info = try await RawClient.request(port: server.port, path: "/info").json
            #expect(info["model"]?["format"]?.string == "huggingface")
            #expect(info["model"]?["tokenizer"]?.string == "bpe")
            #expect(info["model"]?["block_size"]?.int == 64 && info["model"]?["vocab_size"]?.int == 297)
            #expect(info["model"]?["memory"]?["kv_cache_bytes_per_sequence"]?.int == 2 * 2 * 64 * 32 * 4)
            #expect((info["model"]?["memory"]?["weights_bytes"]?.int ?? 0) >= 4 * 37_024)

            let tokens = try await RawClient.post(port: server.port, "/tokenize",
                                                  json: #"{"text":"\#(golden.prompt_text)"}"#).json
            #expect(tokens["tokens"]?.array?.compactMap(\.int) == golden.prompt_ids)

            let complete = try await RawClient.post(port: server.port, "/complete", json:
                #"{"prompt":"\#(golden.prompt_text)","max_tokens":30,"strategy":"greedy"}"#).json
            #expect(complete["tokens"]?.array?.compactMap(\.int) == golden.greedy_ids)

            let v1 = try await RawClient.post(port: server.port, "/v1/completions", json:
                #"{"model":"tiny-gpt2","prompt":"\#(golden.prompt_text)","max_tokens":5,"temperature":0}"#)
            #expect(v1.status == 200)
            let short = v1.json["choices"]?.array?.first?["text"]?.string ?? ""
            #expect(!short.isEmpty && (complete["text"]?.string ?? "").hasPrefix(short))
        }
    }
}
