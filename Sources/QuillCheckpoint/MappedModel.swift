// A model opened from disk with its weights mapped, not read: a Quill checkpoint file, or a Hugging Face GPT-2
// folder (config.json, model.safetensors or a sharded index, vocab.json + merges.txt or tokenizer.json). Either way
// it exposes the tensors under Quill's layout names (`GPT.layout(for:)`), so serving builds its decode weights
// straight from the mapping, and `checkpoint()` copies them into a Quill checkpoint for training, evaluation or
// export. Nothing is downloaded: a folder is read as it is on disk.
import Foundation
import QuillModel
import QuillTensor
import QuillTokenizers

public final class MappedModel: @unchecked Sendable {
    public enum Format: String, Sendable {
        case quill
        case huggingFace = "huggingface"
    }

    public let format: Format
    /// The file or folder it was opened from.
    public let path: String
    public let spec: ModelSpec
    public let tokenizer: SerializedTokenizer
    public let training: TrainingRecord
    /// The file whose SHA-256 identifies the weights: the checkpoint, model.safetensors, or the shard index.
    public let weightsFile: String
    private let files: [MappedSafeTensors]
    /// Quill name → (file index, name in that file).
    private let sources: [String: (file: Int, name: String)]
    /// Tensors not stored as aligned F32, converted once at open.
    private let converted: [String: FloatBuffer]

    deinit { for b in converted.values { freeFloats(b) } }

    private init(format: Format, path: String, spec: ModelSpec, tokenizer: SerializedTokenizer,
                 training: TrainingRecord, weightsFile: String, files: [MappedSafeTensors],
                 sources: [String: (file: Int, name: String)]) throws(CheckpointError) {
        self.format = format
        self.path = path
        self.spec = spec
        self.tokenizer = tokenizer
        self.training = training
        self.weightsFile = weightsFile
        self.files = files
        self.sources = sources
        var converted: [String: FloatBuffer] = [:]
        for (name, source) in sources where files[source.file].mappedFloats(source.name) == nil {
            guard let values = files[source.file].floats(source.name) else {
                let t = files[source.file][source.name]!
                for b in converted.values { freeFloats(b) }
                throw .unsupportedDType(path: files[source.file].path, tensor: source.name, dtype: t.dtype)
            }
            let b = allocateFloats(values.count)
            _ = b.update(fromContentsOf: values)
            converted[name] = b
        }
        self.converted = converted
        // One pass over every weight: NaN or an infinity (with a correct SHA-256) is refused, naming the tensor.
        for (name, source) in sources {
            guard let b = tensor(name) else { continue }
            try Checkpoint.checkFinite(UnsafeBufferPointer(b), name: source.name, path: files[source.file].path)
        }
    }

    /// The tensor `name` (a Quill layout name) as F32: in the mapping, or its converted copy.
    public func tensor(_ name: String) -> FloatBuffer? {
        if let b = converted[name] { return b }
        guard let s = sources[name] else { return nil }
        return files[s.file].mappedFloats(s.name)
    }

    /// Drops the mapped pages of `name` from resident memory (after the caller has made its own copy).
    public func release(_ name: String) {
        guard converted[name] == nil, let s = sources[name] else { return }
        files[s.file].release(s.name)
    }

    /// The GPT's config, or `.unsupported` for another kind of model.
    public func gptConfig() throws(CheckpointError) -> GPTConfig {
        guard case .gpt(let config) = spec else {
            throw .unsupported(path: path, reason: "it holds a \(spec.modelName) model, not a GPT")
        }
        return config
    }

    /// Decode weights built from the mapping; the block matrices are packed and their mapped pages released, so
    /// the weights stay resident once.
    public func inferenceWeights(precision: WeightPrecision = .f32, activations: Q8Weights.Activations = .preferred)
        throws(CheckpointError) -> InferenceWeights {
        let config = try gptConfig()
        do {
            return try InferenceWeights(config: config, owner: self, precision: precision, activations: activations,
                                        tensor: { self.tensor($0) }, afterPacking: { self.release($0) })
        } catch {
            throw .invalidModel(path: path, error: error)
        }
    }

    /// The weights copied into a Quill checkpoint (layout order), with the tokenizer and training record.
    public func checkpoint() throws(CheckpointError) -> Checkpoint {
        let layout = spec.layout
        var parameters = [Float](repeating: 0, count: layout.count)
        for t in layout.tensors {
            guard let b = tensor(t.name), b.count == t.count else {
                throw .missingTensor(path: path, name: t.name, shape: t.shape)
            }
            parameters.withUnsafeMutableBufferPointer { p in
                (p.baseAddress! + t.offset).update(from: b.baseAddress!, count: t.count)
            }
        }
        return Checkpoint(spec: spec, tokenizer: tokenizer, training: training, parameters: parameters, path: path)
    }

    // MARK: - Opening

    /// Opens a Quill checkpoint file or a Hugging Face GPT-2 folder.
    /// - Throws: `CheckpointError` naming the file and the key or tensor at fault.
    public static func open(path: String) throws(CheckpointError) -> MappedModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .cannotRead(path: path, reason: "no such file or directory")
        }
        return isDirectory.boolValue ? try openHuggingFace(folder: path) : try openQuill(file: path)
    }

    /// A Quill checkpoint: verified as `Checkpoint.read` verifies it (F32 only, metadata, tensors, SHA-256), but
    /// mapped instead of read.
    static func openQuill(file path: String) throws(CheckpointError) -> MappedModel {
        let file = try MappedSafeTensors(URL(fileURLWithPath: path))
        for t in file.tensors where t.dtype != "F32" {
            throw .unsupportedDType(path: file.path, tensor: t.name, dtype: t.dtype)
        }
        guard let configText = file.metadata[MetadataKey.config] else {
            throw .notQuillCheckpoint(path: file.path, key: MetadataKey.config)
        }
        guard let recorded = file.metadata[MetadataKey.sha256] else {
            throw .missingMetadata(path: file.path, key: MetadataKey.sha256)
        }
        let (spec, tokenizer, training) = try Checkpoint.readMetadata(file.metadata, configText: configText,
                                                                      path: file.path)
        try Checkpoint.checkTensors(file.tensors.map { ($0.name, $0.shape) }, layout: spec.layout, path: file.path)
        let actual = file.dataSHA256()
        guard actual == recorded.lowercased() else {
            throw .checksumMismatch(path: file.path, expected: recorded, actual: actual)
        }
        var sources: [String: (file: Int, name: String)] = [:]
        for t in file.tensors { sources[t.name] = (0, t.name) }
        return try MappedModel(format: .quill, path: file.path, spec: spec, tokenizer: tokenizer, training: training,
                               weightsFile: file.path, files: [file], sources: sources)
    }

    /// A Hugging Face GPT-2 folder. Conv1D weights are [in, out], as Quill stores them; names may carry the
    /// `transformer.` prefix; the causal-mask buffers `attn.bias` / `attn.masked_bias` are skipped; `lm_head.weight`
    /// must be absent or equal to `wte.weight` (Quill's head is tied).
    static func openHuggingFace(folder: String) throws(CheckpointError) -> MappedModel {
        let dir = URL(fileURLWithPath: folder)
        let configFile = dir.appendingPathComponent("config.json").path
        let config = try HuggingFaceGPT2Config.read(configFile)

        // Weights: one file, or shards listed by an index.
        let single = dir.appendingPathComponent("model.safetensors").path
        let index = dir.appendingPathComponent("model.safetensors.index.json").path
        let manager = FileManager.default
        var files: [MappedSafeTensors] = []
        let weightsFile: String
        if manager.fileExists(atPath: single) {
            files = [try MappedSafeTensors(URL(fileURLWithPath: single))]
            weightsFile = single
        } else if manager.fileExists(atPath: index) {
            let shards = try readShardIndex(index)
            for shard in shards {
                files.append(try MappedSafeTensors(dir.appendingPathComponent(shard)))
            }
            weightsFile = index
        } else {
            let others = ["pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "model.ckpt.index"]
                .filter { manager.fileExists(atPath: dir.appendingPathComponent($0).path) }
            if let other = others.first {
                throw .unsupported(path: dir.appendingPathComponent(other).path, reason: "Quill reads safetensors "
                    + "weights only, not \(other) (a pickle or another framework's format); convert it once in Python: "
                    + "GPT2LMHeadModel.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True)")
            }
            throw .cannotRead(path: single, reason: "no model.safetensors or model.safetensors.index.json in \(folder)")
        }

        // Map every stored name to a Quill name.
        let spec = ModelSpec.gpt(config.gpt)
        let layout = spec.layout
        var sources: [String: (file: Int, name: String)] = [:]
        var head: (file: Int, name: String)?
        for (f, file) in files.enumerated() {
            for t in file.tensors {
                var name = t.name
                if name.hasPrefix("transformer.") { name.removeFirst("transformer.".count) }
                if name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias") { continue }
                if name == "lm_head.weight" { head = (f, t.name); continue }
                guard layout[name] != nil else {
                    throw .unexpectedTensor(path: file.path, name: t.name)
                }
                guard sources[name] == nil else {
                    throw .invalidHeader(path: file.path, reason: "tensor \(name) is stored twice")
                }
                sources[name] = (f, t.name)
            }
        }
        var found: [(name: String, shape: [Int])] = []
        for (name, s) in sources { found.append((name, files[s.file][s.name]!.shape)) }
        try Checkpoint.checkTensors(found, layout: layout, path: weightsFile)

        let tokenizer = try readTokenizer(dir, vocabSize: config.vocabSize)
        let training = TrainingRecord(command: "imported from the Hugging Face folder \(folder)")
        let model = try MappedModel(format: .huggingFace, path: folder, spec: spec, tokenizer: tokenizer,
                                    training: training, weightsFile: weightsFile, files: files, sources: sources)
        if let head {
            let file = files[head.file]
            guard let values = file.floats(head.name), let wte = model.tensor("wte.weight"),
                  values.count == wte.count, values.elementsEqual(wte) else {
                throw .unsupported(path: file.path, reason: "\(head.name) differs from wte.weight: Quill's LM head "
                    + "is tied to the token embeddings and cannot serve an untied head")
            }
            file.release(head.name)  // compared once; never read again
        }
        return model
    }

    /// The shard files of a model.safetensors.index.json, in first-use order.
    static func readShardIndex(_ path: String) throws(CheckpointError) -> [String] {
        struct Index: Decodable { var weight_map: [String: String] }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .cannotRead(path: path, reason: error.localizedDescription)
        }
        let index: Index
        do { index = try JSONDecoder().decode(Index.self, from: data) } catch {
            throw .invalidMetadata(path: path, key: "weight_map", reason: "expected {\"weight_map\": {tensor: file}}")
        }
        var shards: [String] = []
        for file in Set(index.weight_map.values).sorted() {
            guard !file.contains("/"), !file.hasPrefix(".") else {
                throw .invalidMetadata(path: path, key: "weight_map", reason: "shard \(file) is outside the folder")
            }
            shards.append(file)
        }
        return shards
    }

    /// vocab.json + merges.txt, or tokenizer.json, as a byte-level BPE tokenizer.
    static func readTokenizer(_ dir: URL, vocabSize: Int) throws(CheckpointError) -> SerializedTokenizer {
        let manager = FileManager.default
        let vocab = dir.appendingPathComponent("vocab.json"), merges = dir.appendingPathComponent("merges.txt")
        let json = dir.appendingPathComponent("tokenizer.json")
        let tokenizer: BytePairTokenizer
        let source: String
        do {
            if manager.fileExists(atPath: vocab.path) && manager.fileExists(atPath: merges.path) {
                source = vocab.path
                tokenizer = try BytePairTokenizer(vocabularyFile: vocab, mergesFile: merges)
            } else if manager.fileExists(atPath: json.path) {
                source = json.path
                tokenizer = try BytePairTokenizer(huggingFaceJSON: try Data(contentsOf: json))
            } else {
                throw CheckpointError.cannotRead(path: dir.path, reason: "no tokenizer: expected vocab.json and "
                                                 + "merges.txt, or tokenizer.json")
            }
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw .invalidMetadata(path: dir.path, key: "tokenizer", reason: "\(error)")
        }
        guard tokenizer.vocabularySize <= vocabSize else {
            throw .invalidMetadata(path: source, key: "vocab_size", reason: "the tokenizer has "
                + "\(tokenizer.vocabularySize) tokens but config.json's vocab_size is \(vocabSize)")
        }
        return tokenizer.serialized
    }
}

// MARK: - config.json

/// The fields of a Hugging Face GPT-2 config.json that decide what the model computes, checked against what Quill
/// computes: GPT-2's tanh GELU, LayerNorm eps 1e-5, scaled attention, a tied head, no cross-attention.
struct HuggingFaceGPT2Config: Decodable {
    var model_type: String?
    var n_layer: Int?
    var n_head: Int?
    var n_embd: Int?
    var n_positions: Int?
    var n_ctx: Int?
    var vocab_size: Int?
    var layer_norm_epsilon: Double?
    var activation_function: String?
    var n_inner: Int?
    var scale_attn_weights: Bool?
    var scale_attn_by_inverse_layer_idx: Bool?
    var add_cross_attention: Bool?
    var tie_word_embeddings: Bool?

    var vocabSize: Int { vocab_size ?? 0 }
    var gpt: GPTConfig {
        GPTConfig(vocabSize: vocab_size ?? 0, blockSize: n_positions ?? n_ctx ?? 0, nLayer: n_layer ?? 0,
                  nHead: n_head ?? 0, nEmbd: n_embd ?? 0, dropout: 0, positional: .learned, bias: true)
    }

    /// Activations that are GPT-2's tanh approximation of GELU, the one Quill computes.
    static let tanhGELU: Set<String> = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"]

    static func read(_ path: String) throws(CheckpointError) -> HuggingFaceGPT2Config {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .cannotRead(path: path, reason: FileManager.default.fileExists(atPath: path)
                ? error.localizedDescription : "no such file (a Hugging Face model folder has a config.json)")
        }
        let c: HuggingFaceGPT2Config
        do { c = try JSONDecoder().decode(HuggingFaceGPT2Config.self, from: data) } catch let error as DecodingError {
            throw .invalidMetadata(path: path, key: "config.json", reason: CheckpointJSON.describe(error))
        } catch {
            throw .invalidMetadata(path: path, key: "config.json", reason: "\(error)")
        }
        func bad(_ key: String, _ reason: String) -> CheckpointError { .invalidMetadata(path: path, key: key, reason: reason) }
        if let type = c.model_type, type != "gpt2" {
            throw .unsupported(path: path, reason: "model_type is \(type); Quill loads GPT-2 (model_type gpt2)")
        }
        for (key, value) in [("n_layer", c.n_layer), ("n_head", c.n_head), ("n_embd", c.n_embd),
                             ("vocab_size", c.vocab_size)] where value == nil {
            throw bad(key, "missing")
        }
        guard c.n_positions != nil || c.n_ctx != nil else { throw bad("n_positions", "missing (and no n_ctx)") }
        let activation = c.activation_function ?? "gelu_new"
        guard tanhGELU.contains(activation) else {
            throw .unsupported(path: path, reason: "activation_function \(activation) is not supported: Quill "
                + "computes GPT-2's tanh GELU (gelu_new)")
        }
        let eps = c.layer_norm_epsilon ?? 1e-5
        guard abs(eps - Double(layerNormEps)) <= 1e-12 else {
            throw .unsupported(path: path, reason: "layer_norm_epsilon \(eps) is not supported: Quill's LayerNorm "
                + "uses 1e-5, as GPT-2 does")
        }
        if let inner = c.n_inner, inner != 4 * (c.n_embd ?? 0) {
            throw .unsupported(path: path, reason: "n_inner \(inner) is not supported: Quill's MLP is 4 × n_embd")
        }
        if c.scale_attn_weights == false { throw .unsupported(path: path, reason: "scale_attn_weights false is not supported") }
        if c.scale_attn_by_inverse_layer_idx == true {
            throw .unsupported(path: path, reason: "scale_attn_by_inverse_layer_idx is not supported")
        }
        if c.add_cross_attention == true { throw .unsupported(path: path, reason: "add_cross_attention is not supported") }
        if c.tie_word_embeddings == false {
            throw .unsupported(path: path, reason: "tie_word_embeddings false: Quill's LM head is tied to wte")
        }
        do { try c.gpt.validate() } catch { throw .invalidModel(path: path, error: error) }
        return c
    }
}
