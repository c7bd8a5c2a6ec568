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
        let eotText = eot.map { _ in SpecialTokens.endOfText }
        let hf = HuggingFaceConfigFile(
            vocab_size: config.vocabSize, n_positions: config.blockSize, n_ctx: config.blockSize,
            n_embd: config.nEmbd, n_layer: config.nLayer, n_head: config.nHead,
            resid_pdrop: Double(config.dropout), embd_pdrop: Double(config.dropout), attn_pdrop: Double(config.dropout),
            bos_token_id: eot, eos_token_id: eot)
        let files: [(String, Data)] = [
            ("config.json", try encodeFile(hf, directory)),
            ("generation_config.json", try encodeFile(GenerationConfigFile(bos_token_id: eot, eos_token_id: eot), directory)),
            ("tokenizer_config.json", try encodeFile(TokenizerConfigFile(model_max_length: config.blockSize,
                bos_token: eotText, eos_token: eotText, unk_token: eotText), directory)),
            ("special_tokens_map.json", try encodeFile(SpecialTokensMapFile(bos_token: eotText, eos_token: eotText,
                                                                           unk_token: eotText), directory)),
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

// MARK: - The folder's JSON files (transformers' key names; nil fields are left out)

struct HuggingFaceConfigFile: Encodable {
    var architectures = ["GPT2LMHeadModel"]
    var model_type = "gpt2"
    var vocab_size, n_positions, n_ctx, n_embd, n_layer, n_head: Int
    var activation_function = "gelu_new"
    /// GPT-2's value, which Quill's LayerNorm uses (`layerNormEps`).
    var layer_norm_epsilon = 1e-5
    var resid_pdrop, embd_pdrop, attn_pdrop: Double
    var initializer_range = 0.02
    var scale_attn_weights = true
    var tie_word_embeddings = true
    var use_cache = true
    var torch_dtype = "float32"
    var bos_token_id: Int?
    var eos_token_id: Int?
}

struct GenerationConfigFile: Encodable {
    var bos_token_id: Int?
    var eos_token_id: Int?
}

struct TokenizerConfigFile: Encodable {
    var tokenizer_class = "GPT2Tokenizer"
    var model_max_length: Int
    var add_prefix_space = false
    var bos_token: String?
    var eos_token: String?
    var unk_token: String?
}

struct SpecialTokensMapFile: Encodable {
    var bos_token: String?
    var eos_token: String?
    var unk_token: String?
}

extension Export {
    /// Pretty, key-sorted JSON with a final newline (stable bytes, so an export can be compared with a checked one).
    static func encodeFile<T: Encodable>(_ value: T, _ directory: URL) throws(CheckpointError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(value) + Data("\n".utf8)
        } catch {
            throw .cannotWrite(path: directory.path, reason: "cannot encode \(T.self): \(error)")
        }
    }
}
