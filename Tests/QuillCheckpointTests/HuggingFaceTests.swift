// Hugging Face GPT-2 interop against transformers itself: Tests/Fixtures holds a tiny random GPT-2 saved by
// transformers (scripts/gpt2-golden.py tiny) with its logits, greedy tokens and tokenizer ids, and what transformers
// computed on Quill's export of it (scripts/gpt2-golden.py check-export). No Python runs here except the gguf reader.
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import QuillCheckpoint
import QuillModel
import QuillTensor
import QuillTokenizers
import Testing

/// Tests/Fixtures, found from this file's path.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

struct Golden: Decodable {
    struct Case: Decodable { var text: String; var ids: [Int] }
    var prompt_text: String
    var prompt_ids: [Int32]
    var logits: [[Float]]
    var greedy_ids: [Int32]
    var tokenizer_cases: [Case]

    static func load(_ name: String = "tiny-gpt2-golden.json") throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: fixtures.appendingPathComponent(name)))
    }
}

/// The largest |a - b| over two equal-length rows.
func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Logits at every prompt position from the training forward pass of a checkpoint.
func fullForwardLogits(_ checkpoint: Checkpoint, _ ids: [Int32]) throws -> [[Float]] {
    let model = try checkpoint.makeModel(workers: 1)
    model.isTraining = false
    try model.forward(inputs: ids, targets: nil, batchSize: 1, sequenceLength: ids.count)
    return (0..<ids.count).map { model.logits(sample: 0, position: $0) }
}

/// Logits at every prompt position from the decode path: the prompt fed one token at a time through a KV cache.
func decodeLogits(_ weights: InferenceWeights, _ ids: [Int32]) throws -> [[Float]] {
    let engine = InferenceEngine(weights: weights, workers: 1)
    let cache = KVCache(config: weights.config)
    return try ids.map { try engine.extend([(cache, [$0])])[0] }
}

/// 30 greedy tokens after the prompt through the decode path.
func greedy(_ weights: InferenceWeights, _ ids: [Int32], count: Int = 30) throws -> [Int32] {
    let session = try GenerationSession(prompt: ids, config: weights.config,
                                        options: DecodingOptions(strategy: .greedy), maxTokens: count)
    return try InferenceEngine(weights: weights, workers: 1).generate([session])[0]
}

@Suite("Hugging Face GPT-2 folders")
struct HuggingFaceTests {
    let golden: Golden
    init() throws { golden = try Golden.load() }

    @Test("a transformers GPT-2 folder gives transformers' logits within 1e-4 at all 20 prompt positions")
    func logitsMatchTransformers() throws {
        #expect(golden.prompt_ids.count == 20)
        let mapped = try MappedModel.open(path: fixtures.appendingPathComponent("tiny-gpt2").path)
        #expect(mapped.format == .huggingFace)
        let full = try fullForwardLogits(try mapped.checkpoint(), golden.prompt_ids)
        let decoded = try decodeLogits(try mapped.inferenceWeights(), golden.prompt_ids)
        for t in 0..<20 {
            #expect(maxDifference(full[t], golden.logits[t]) < 1e-4, "full forward, position \(t)")
            #expect(maxDifference(decoded[t], golden.logits[t]) < 1e-4, "cached decode, position \(t)")
        }
    }

    @Test("30 greedy tokens equal transformers' generate(do_sample=False)")
    func greedyMatchesTransformers() throws {
        let mapped = try MappedModel.open(path: fixtures.appendingPathComponent("tiny-gpt2").path)
        #expect(try greedy(try mapped.inferenceWeights(), golden.prompt_ids) == golden.greedy_ids)
    }

    @Test("vocab.json + merges.txt and tokenizer.json both encode as transformers' GPT2TokenizerFast does")
    func tokenizersMatchTransformers() throws {
        for folder in ["tiny-gpt2", "tiny-gpt2-sharded"] {
            let mapped = try MappedModel.open(path: fixtures.appendingPathComponent(folder).path)
            let tokenizer = try mapped.tokenizer.makeTokenizer()
            #expect(try tokenizer.encode(golden.prompt_text).map(Int32.init) == golden.prompt_ids, "\(folder)")
            for c in golden.tokenizer_cases where !c.text.contains(SpecialTokens.endOfText) {
                #expect(try tokenizer.encode(c.text) == c.ids, "\(folder): \(c.text.debugDescription)")
            }
            #expect(tokenizer.endOfTextID == mapped.spec.vocabSize - 1)
        }
    }

    @Test("a sharded folder (model.safetensors.index.json) loads the same weights as the single file")
    func shardedEqualsSingle() throws {
        let single = try MappedModel.open(path: fixtures.appendingPathComponent("tiny-gpt2").path).checkpoint()
        let sharded = try MappedModel.open(path: fixtures.appendingPathComponent("tiny-gpt2-sharded").path).checkpoint()
        #expect(single.spec == sharded.spec)
        #expect(single.parameters == sharded.parameters)
    }

    @Test("names without the transformer. prefix, F16 weights and an lm_head equal to wte load too")
    func variantsLoad() throws {
        let dir = try ScratchDirectory()
        let source = try MappedSafeTensors(fixtures.appendingPathComponent("tiny-gpt2/model.safetensors"))
        try copyFolder("tiny-gpt2", to: dir.url)
        var tensors: [SafeTensors.Tensor] = []
        for t in source.tensors {
            let name = t.name.hasPrefix("transformer.") ? String(t.name.dropFirst("transformer.".count)) : t.name
            tensors.append(SafeTensors.Tensor(name: name, shape: t.shape, values: source.floats(t.name)!))
        }
        let wte = tensors.first { $0.name == "wte.weight" }!
        tensors.append(SafeTensors.Tensor(name: "lm_head.weight", shape: wte.shape, values: wte.values))
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: dir.file("model.safetensors"))
        let plain = try MappedModel.open(path: dir.url.path)
        let logits = try fullForwardLogits(try plain.checkpoint(), golden.prompt_ids)
        #expect(maxDifference(logits[19], golden.logits[19]) < 1e-4)

        // The same weights in F16 (written by hand: Quill's writer is F32 only) load, converted to F32.
        try writeHalfPrecision(source, to: dir.file("model.safetensors"))
        let converted = try MappedModel.open(path: dir.url.path).checkpoint()
        let reference = try MappedModel.open(path: fixtures.appendingPathComponent("tiny-gpt2").path).checkpoint()
        #expect(maxDifference(converted.parameters, reference.parameters) < 1e-2)
    }

    @Test("what Quill cannot serve is a one-line error naming the key or the file")
    func refusals() throws {
        func error(_ edit: (URL) throws -> Void) throws -> String {
            let dir = try ScratchDirectory()
            try copyFolder("tiny-gpt2", to: dir.url)
            try edit(dir.url)
            do {
                _ = try MappedModel.open(path: dir.url.path)
                return "(no error)"
            } catch {
                return error.description
            }
        }
        func setConfig(_ key: String, _ value: Any) -> (URL) throws -> Void {
            { dir in
                let file = dir.appendingPathComponent("config.json")
                var config = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
                config[key] = value
                try JSONSerialization.data(withJSONObject: config).write(to: file)
            }
        }
        let activation = try error(setConfig("activation_function", "relu"))
        #expect(activation.contains("activation_function relu") && activation.contains("config.json"))
        let eps = try error(setConfig("layer_norm_epsilon", 1e-6))
        #expect(eps.contains("layer_norm_epsilon"))
        let untied = try error(setConfig("tie_word_embeddings", false))
        #expect(untied.contains("tie_word_embeddings"))
        let missingKey = try error { dir in
            let file = dir.appendingPathComponent("config.json")
            var config = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
            config["n_embd"] = nil
            try JSONSerialization.data(withJSONObject: config).write(to: file)
        }
        #expect(missingKey.contains("n_embd") && missingKey.contains("missing"))
        let noConfig = try error { try FileManager.default.removeItem(at: $0.appendingPathComponent("config.json")) }
        #expect(noConfig.contains("config.json"))
        let pickle = try error { dir in
            try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
            try Data([0x80, 0x02]).write(to: dir.appendingPathComponent("pytorch_model.bin"))
        }
        #expect(pickle.contains("pytorch_model.bin") && pickle.contains("safetensors"))
        let noTokenizer = try error { dir in
            for f in ["vocab.json", "merges.txt", "tokenizer.json"] {
                try? FileManager.default.removeItem(at: dir.appendingPathComponent(f))
            }
        }
        #expect(noTokenizer.contains("tokenizer"))
        let untiedHead = try error { dir in
            let source = try MappedSafeTensors(fixtures.appendingPathComponent("tiny-gpt2/model.safetensors"))
            var tensors = source.tensors.map { SafeTensors.Tensor(name: $0.name, shape: $0.shape, values: source.floats($0.name)!) }
            let wte = tensors.first { $0.name.hasSuffix("wte.weight") }!
            tensors.append(SafeTensors.Tensor(name: "lm_head.weight", shape: wte.shape, values: wte.values.map { $0 + 1 }))
            try SafeTensors.write(tensors, metadata: [:], to: dir.appendingPathComponent("model.safetensors"))
        }
        #expect(untiedHead.contains("lm_head.weight") && untiedHead.contains("untied"))
        // Sizes from a file are bounded before any arithmetic (a layout of 2^40 × 2^40 would overflow).
        let huge = try error(setConfig("n_embd", 1 << 40))
        #expect(huge.contains("n_embd must be <= 65536"))
        let deep = try error(setConfig("n_layer", 1_000_000_000))
        #expect(deep.contains("n_layer must be <= 4096"))
        for message in [activation, eps, untied, missingKey, noConfig, pickle, noTokenizer, untiedHead, huge, deep] {
            #expect(!message.contains("\n"), "\(message)")
        }
    }

    @Test("NaN or infinite weights (with a correct SHA-256) are refused at load, naming the tensor")
    func nonFiniteWeightsRefused() throws {
        let dir = try ScratchDirectory()
        // A Quill checkpoint: the writer hashes what it writes, so only the finite check can catch it.
        let model = try Fixtures.gpt()
        let t = model.layout["h.1.mlp.c_fc.weight"]!
        model.parameters[t.offset + 5] = .nan
        let file = dir.file("nan.safetensors")
        try Checkpoint.write(model: model, spec: .gpt(Fixtures.tinyConfig), tokenizer: Fixtures.tokenizer().serialized,
                             training: Fixtures.record(), to: file)
        for open in [{ _ = try Checkpoint.read(from: file) }, { _ = try MappedModel.open(path: file.path) }] {
            #expect { try open() } throws: { error in
                "\(error)".contains("h.1.mlp.c_fc.weight") && "\(error)".contains("nan at index 5")
            }
        }
        // A Hugging Face folder with an infinity in one tensor.
        try copyFolder("tiny-gpt2", to: dir.url)
        let source = try MappedSafeTensors(fixtures.appendingPathComponent("tiny-gpt2/model.safetensors"))
        var tensors = source.tensors.map { SafeTensors.Tensor(name: $0.name, shape: $0.shape, values: source.floats($0.name)!) }
        let i = tensors.firstIndex { $0.name == "transformer.wpe.weight" }!
        tensors[i].values[100] = -.infinity
        try SafeTensors.write(tensors, metadata: [:], to: dir.file("model.safetensors"))
        #expect { _ = try MappedModel.open(path: dir.url.path) } throws: { error in
            "\(error)".contains("transformer.wpe.weight") && "\(error)".contains("-inf at index 100")
        }
    }

    @Test("a named pipe given as a checkpoint is refused at once, not waited on")
    func namedPipeRefused() throws {
        let dir = try ScratchDirectory()
        let fifo = dir.file("pipe.safetensors")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let start = Date()
        #expect { _ = try MappedModel.open(path: fifo.path) } throws: { "\($0)".contains("not a regular file") }
        #expect { _ = try Checkpoint.read(from: fifo) } throws: { "\($0)".contains("not a regular file") }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("a model served from a mapped Quill checkpoint decodes as the one read into memory")
    func mappedQuillCheckpoint() throws {
        let dir = try ScratchDirectory()
        let model = try Fixtures.gpt()
        let file = dir.file("tiny.safetensors")
        try Checkpoint.write(model: model, spec: .gpt(Fixtures.tinyConfig), tokenizer: Fixtures.tokenizer().serialized,
                             training: Fixtures.record(), to: file)
        let mapped = try MappedModel.open(path: file.path)
        #expect(mapped.format == .quill)
        let ids: [Int32] = [1, 4, 2, 7, 3]
        let fromMap = try decodeLogits(try mapped.inferenceWeights(), ids)
        let fromMemory = try decodeLogits(InferenceWeights(model: model), ids)
        #expect(fromMap == fromMemory)
        // A flipped byte in the data is caught by the SHA-256, as Checkpoint.read catches it.
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count - 3] ^= 0x40
        try bytes.write(to: file)
        #expect(throws: CheckpointError.self) { _ = try MappedModel.open(path: file.path) }
    }
}

@Suite("Export to Hugging Face and GGUF")
struct ExportTests {
    let golden: Golden
    init() throws { golden = try Golden.load() }

    @Test("an exported folder loads back with transformers' logits, and its files are those transformers checked")
    func huggingFaceRoundTrip() throws {
        let dir = try ScratchDirectory()
        let original = try MappedModel.open(path: fixtures.appendingPathComponent("tiny-gpt2").path).checkpoint()
        let out = dir.url.appendingPathComponent("export")
        try Export.huggingFace(original, to: out)
        let again = try MappedModel.open(path: out.path)
        let logits = try fullForwardLogits(try again.checkpoint(), golden.prompt_ids)
        for t in 0..<20 { #expect(maxDifference(logits[t], golden.logits[t]) < 1e-4) }
        #expect(try greedy(try again.inferenceWeights(), golden.prompt_ids) == golden.greedy_ids)

        // What transformers computed from this export (scripts/gpt2-golden.py check-export) holds for the files
        // written now: they are byte for byte the files it loaded.
        struct Check: Decodable { var logits: [[Float]]; var greedy_ids: [Int32]; var tokenizer_ids: [Int32]; var files: [String: String] }
        let check = try JSONDecoder().decode(Check.self, from: Data(contentsOf: fixtures.appendingPathComponent("tiny-gpt2-export-check.json")))
        for t in 0..<20 { #expect(maxDifference(check.logits[t], golden.logits[t]) < 1e-4) }
        #expect(check.greedy_ids == golden.greedy_ids)
        #expect(check.tokenizer_ids == golden.prompt_ids)
        for (name, sha) in check.files {
            #expect(try sha256Hex(ofFileAt: out.appendingPathComponent(name)) == sha, "\(name) differs from the checked export")
        }
    }

    @Test("a character-level model is refused by both formats, with the reason")
    func characterModelRefused() throws {
        let dir = try ScratchDirectory()
        let model = try Fixtures.gpt()
        let ckpt = Checkpoint(spec: .gpt(Fixtures.tinyConfig), tokenizer: Fixtures.tokenizer().serialized,
                              training: Fixtures.record(), parameters: Array(model.parameters))
        for attempt in [{ try Export.huggingFace(ckpt, to: dir.file("hf")) },
                        { try Export.gguf(ckpt, to: dir.file("m.gguf"), name: "m") }] {
            do {
                try attempt()
                Issue.record("a character-level model was exported")
            } catch {
                #expect("\(error)".contains("character-level"))
            }
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("m.gguf").path))
    }

    static let python = ProcessInfo.processInfo.environment["QUILL_GGUF_PYTHON"]

    @Test("a GGUF file is read back by the gguf package with llama.cpp's gpt2 tensors and metadata",
          .enabled(if: python != nil))
    func ggufReadByPython() async throws {
        let dir = try ScratchDirectory()
        let ckpt = try MappedModel.open(path: fixtures.appendingPathComponent("tiny-gpt2").path).checkpoint()
        let file = dir.file("tiny.gguf")
        try Export.gguf(ckpt, to: file, name: "tiny")
        let script = """
            import json, sys
            import numpy as np
            from gguf import GGUFReader
            r = GGUFReader(sys.argv[1])
            out = {"fields": {}, "tensors": {}}
            for k, f in r.fields.items():
                if k.startswith("GGUF."): continue
                v = f.contents()
                out["fields"][k] = v if not isinstance(v, list) or len(v) < 8 else {"len": len(v), "head": v[:3]}
            for t in r.tensors:
                out["tensors"][t.name] = {"shape": [int(x) for x in t.shape], "type": t.tensor_type.name,
                                          "sum": float(np.asarray(t.data, dtype=np.float64).sum()),
                                          "first": float(np.asarray(t.data).reshape(-1)[0]),
                                          "second": float(np.asarray(t.data).reshape(-1)[1])}
            print(json.dumps(out))
            """
        let (status, data, errors) = try await runPython(Self.python!, script, [file.path])
        try #require(status == 0, "\(errors)")
        let result = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let fields = result["fields"] as! [String: Any]
        let tensors = result["tensors"] as! [String: [String: Any]]
        guard case .gpt(let c) = ckpt.spec else { Issue.record("not a GPT"); return }
        #expect(fields["general.architecture"] as? String == "gpt2")
        #expect(fields["gpt2.block_count"] as? Int == c.nLayer)
        #expect(fields["gpt2.embedding_length"] as? Int == c.nEmbd)
        #expect(fields["gpt2.context_length"] as? Int == c.blockSize)
        #expect(fields["gpt2.attention.head_count"] as? Int == c.nHead)
        #expect(fields["gpt2.feed_forward_length"] as? Int == 4 * c.nEmbd)
        #expect(abs((fields["gpt2.attention.layer_norm_epsilon"] as? Double ?? 0) - 1e-5) < 1e-9)
        #expect(fields["tokenizer.ggml.model"] as? String == "gpt2")
        #expect(fields["tokenizer.ggml.eos_token_id"] as? Int == c.vocabSize - 1)
        #expect((fields["tokenizer.ggml.tokens"] as? [String: Any])?["len"] as? Int == c.vocabSize)
        #expect(tensors.count == 2 + 12 * c.nLayer + 2)
        for (_, t) in tensors { #expect(t["type"] as? String == "F32") }
        // gguf reports numpy shapes (outermost first): a Linear weight is (out, in), so c_attn (C, 3C) is stored
        // transposed, (3C, C), and its first row holds column 0 of Quill's matrix.
        let qkv = tensors["blk.0.attn_qkv.weight"]!
        #expect(qkv["shape"] as? [Int] == [3 * c.nEmbd, c.nEmbd] || qkv["shape"] as? [Int] == [c.nEmbd, 3 * c.nEmbd])
        let w = ckpt.layout["h.0.attn.c_attn.weight"]!
        let quill = ckpt.parameters
        #expect(abs((qkv["first"] as! Double) - Double(quill[w.offset])) < 1e-7)
        #expect(abs((qkv["second"] as! Double) - Double(quill[w.offset + 3 * c.nEmbd])) < 1e-7)
        let sum = (0..<w.count).reduce(0.0) { $0 + Double(quill[w.offset + $1]) }
        #expect(abs((qkv["sum"] as! Double) - sum) < 1e-4)
        let embd = tensors["token_embd.weight"]!
        let wte = ckpt.layout["wte.weight"]!
        #expect(abs((embd["second"] as! Double) - Double(quill[wte.offset + 1])) < 1e-7)
        #expect(tensors["output.weight"] == nil && tensors["position_embd.weight"] != nil)
    }
}

// MARK: - Helpers

/// Copies a fixture folder's files into `dir`.
func copyFolder(_ name: String, to dir: URL) throws {
    let source = fixtures.appendingPathComponent(name)
    for f in try FileManager.default.contentsOfDirectory(atPath: source.path) {
        try FileManager.default.copyItem(at: source.appendingPathComponent(f), to: dir.appendingPathComponent(f))
    }
}

/// Writes `source`'s tensors as F16 safetensors (header by hand), returning the values written, in file order.
@discardableResult
func writeHalfPrecision(_ source: MappedSafeTensors, to url: URL) throws -> [Float] {
    var header = "{\"__metadata__\":{\"format\":\"pt\"}"
    var data = Data(), written: [Float] = []
    for t in source.tensors {
        let values = source.floats(t.name)!
        let begin = data.count
        for v in values {
            let h = Float16(v)
            written.append(Float(h))
            withUnsafeBytes(of: h.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
        header += ",\"\(t.name)\":{\"dtype\":\"F16\",\"shape\":\(t.shape),\"data_offsets\":[\(begin),\(data.count)]}"
    }
    header += "}"
    while (header.utf8.count % 8) != 0 { header += " " }
    var file = Data()
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { file.append(contentsOf: $0) }
    file.append(Data(header.utf8))
    file.append(data)
    try file.write(to: url)
    return written
}
