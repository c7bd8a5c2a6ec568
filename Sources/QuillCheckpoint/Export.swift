// A Quill checkpoint written out for other engines: a Hugging Face GPT-2 folder (transformers'
// GPT2LMHeadModel.from_pretrained and llama.cpp's convert_hf_to_gguf.py read it), or one GGUF file (llama.cpp, and
// so Ollama and LM Studio). Both need a byte-level BPE tokenizer, as GPT-2's: a character-level model is refused
// with the reason. A model without biases gets zero biases and sinusoidal positions become a learned table with the
// same values, so the exported model computes what Quill computes.
import Foundation
import QuillModel
import QuillTensor
import QuillTokenizers

public enum Export {
    /// What both formats need: a GPT with a byte-level BPE tokenizer. Returns the config and the tokenizer.
    static func exportable(_ checkpoint: Checkpoint, to path: String, format: String) throws(CheckpointError)
        -> (GPTConfig, BytePairTokenizer) {
        guard case .gpt(let config) = checkpoint.spec else {
            throw .unsupported(path: checkpoint.path, reason: "a \(checkpoint.spec.modelName) model cannot be "
                + "exported to \(format): only GPT models have its architecture")
        }
        guard checkpoint.tokenizer.kind == .bpe else {
            throw .unsupported(path: checkpoint.path, reason: "a character-level model cannot be exported to "
                + "\(format): its tokenizer must be byte-level BPE as GPT-2's (train with --tokenizer.kind bpe or gpt2)")
        }
        let tokenizer: BytePairTokenizer
        do {
            guard let t = try checkpoint.tokenizer.makeTokenizer() as? BytePairTokenizer else {
                throw CheckpointError.unsupported(path: checkpoint.path, reason: "the tokenizer is not byte-level BPE")
            }
            tokenizer = t
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw .invalidMetadata(path: checkpoint.path, key: MetadataKey.tokenizer, reason: "\(error)")
        }
        guard checkpoint.parameters.count == checkpoint.layout.count else {
            throw .modelMismatch(path: checkpoint.path, reason: "the parameters do not fit the model")
        }
        return (config, tokenizer)
    }

    /// The values of tensor `name` of GPT-2's full layout (biases and a learned wpe): the checkpoint's own, zeros
    /// for a bias the model does not have, the sinusoidal table for wpe.
    static func values(_ name: String, of checkpoint: Checkpoint, config: GPTConfig) -> [Float] {
        if let t = checkpoint.layout[name] {
            return Array(checkpoint.parameters[t.offset..<(t.offset + t.count)])
        }
        if name == "wpe.weight" {
            let table = allocateFloats(config.blockSize * config.nEmbd)
            defer { freeFloats(table) }
            sinusoidalPositions(table, T: config.blockSize, C: config.nEmbd)
            return Array(table)
        }
        let full = GPT.layout(for: fullConfig(config))
        return [Float](repeating: 0, count: full[name]?.count ?? 0)
    }

    /// The config with every tensor GPT-2 has: biases and learned positions.
    static func fullConfig(_ c: GPTConfig) -> GPTConfig {
        var full = c
        full.bias = true
        full.positional = .learned
        return full
    }

    // MARK: - Hugging Face folder

    /// Writes config.json, model.safetensors (`transformer.` names, F32, head tied so not stored),
    /// generation_config.json, vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json into
    /// `directory` (created if missing). Each file is written atomically.
    public static func huggingFace(_ checkpoint: Checkpoint, to directory: URL) throws(CheckpointError) {
        let (config, tokenizer) = try exportable(checkpoint, to: directory.path, format: "a Hugging Face folder")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotWrite(path: directory.path, reason: error.localizedDescription)
        }
        let eot = tokenizer.endOfTextID
        let layout = GPT.layout(for: fullConfig(config))
        let tensors = layout.tensors.map { ("transformer." + $0.name, $0.shape) }
        try SafeTensorsFile.write(tensors, metadata: [MetadataKey.format: MetadataKey.formatValue],
                                  to: directory.appendingPathComponent("model.safetensors")) { sink in
            for t in layout.tensors {
                values(t.name, of: checkpoint, config: config).withUnsafeBytes(sink)
            }
        }
        var hf: [String: JSONValue] = [
            "architectures": .array([.string("GPT2LMHeadModel")]),
            "model_type": .string("gpt2"),
            "vocab_size": .int(config.vocabSize),
            "n_positions": .int(config.blockSize),
            "n_ctx": .int(config.blockSize),
            "n_embd": .int(config.nEmbd),
            "n_layer": .int(config.nLayer),
            "n_head": .int(config.nHead),
            "n_inner": .null,
            "activation_function": .string("gelu_new"),
            "layer_norm_epsilon": .double(Double(layerNormEps)),
            "resid_pdrop": .double(Double(config.dropout)),
            "embd_pdrop": .double(Double(config.dropout)),
            "attn_pdrop": .double(Double(config.dropout)),
            "initializer_range": .double(0.02),
            "scale_attn_weights": .bool(true),
            "tie_word_embeddings": .bool(true),
            "use_cache": .bool(true),
            "torch_dtype": .string("float32"),
        ]
        var generation: [String: JSONValue] = [:]
        if let eot {
            hf["bos_token_id"] = .int(eot)
            hf["eos_token_id"] = .int(eot)
            generation["bos_token_id"] = .int(eot)
            generation["eos_token_id"] = .int(eot)
        }
        var tokenizerConfig: [String: JSONValue] = [
            "tokenizer_class": .string("GPT2Tokenizer"),
            "model_max_length": .int(config.blockSize),
            "add_prefix_space": .bool(false),
        ]
        var specialMap: [String: JSONValue] = [:]
        if eot != nil {
            for key in ["bos_token", "eos_token", "unk_token"] {
                tokenizerConfig[key] = .string(SpecialTokens.endOfText)
                specialMap[key] = .string(SpecialTokens.endOfText)
            }
        }
        let files: [(String, Data)] = [
            ("config.json", JSONValue.object(hf).data),
            ("generation_config.json", JSONValue.object(generation).data),
            ("tokenizer_config.json", JSONValue.object(tokenizerConfig).data),
            ("special_tokens_map.json", JSONValue.object(specialMap).data),
            ("vocab.json", tokenizer.vocabularyJSON()),
            ("merges.txt", Data(tokenizer.mergesText().utf8)),
        ]
        for (name, data) in files {
            try writeFile(data, to: directory.appendingPathComponent(name))
        }
    }

    static func writeFile(_ data: Data, to url: URL) throws(CheckpointError) {
        let writer = try AtomicFileWriter(destination: url)
        data.withUnsafeBytes { writer.write($0) }
        try writer.commit()
    }
}

/// A JSON value written with sorted keys (the exported files are read by Python's json, so only validity
/// matters; sorted keys keep them stable for diffs).
enum JSONValue {
    case null, bool(Bool), int(Int), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

    var text: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? "\(d)" : "null"
        case .string(let s): return SafeTensorsFile.jsonString(s)
        case .array(let a): return "[" + a.map(\.text).joined(separator: ", ") + "]"
        case .object(let o):
            if o.isEmpty { return "{}" }
            return "{\n" + o.sorted { $0.key < $1.key }
                .map { "  " + SafeTensorsFile.jsonString($0.key) + ": " + $0.value.text }
                .joined(separator: ",\n") + "\n}"
        }
    }

    var data: Data { Data((text + "\n").utf8) }
}
