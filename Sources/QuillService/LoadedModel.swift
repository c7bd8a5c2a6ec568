// A checkpoint loaded for serving: the GPT (inference mode), its tokenizer, and what /info reports about it.
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTensor
import QuillTokenizers

/// Why the service could not start.
public enum ServiceError: Error, Sendable, CustomStringConvertible {
    case checkpoint(CheckpointError)
    case unsupportedModel(String)
    case tokenizer(String)
    case config(String)

    public var description: String {
        switch self {
        case .checkpoint(let e): e.description
        case .unsupportedModel(let m): m
        case .tokenizer(let m): "the checkpoint's tokenizer cannot be built: \(m)"
        case .config(let m): m
        }
    }
}

/// The served model. Immutable after loading; its mutable compute state lives in the model actor.
public final class LoadedModel: @unchecked Sendable {
    public let name: String
    public let path: String
    /// SHA-256 of the checkpoint file, as `sha256sum` prints it.
    public let fileSHA256: String
    /// The file whose SHA-256 that is (the checkpoint, or a folder's weights file): live reload watches it.
    public let watchedFile: String
    public let config: GPTConfig
    public let tokenizer: any Tokenizer
    public let training: TrainingRecord
    public let parameterCount: Int
    /// The decode weights (mapped from the file, block matrices packed once); used only on the model actor's queue.
    let weights: InferenceWeights
    /// "quill" or "huggingface".
    public let format: MappedModel.Format
    /// The engine's weights: f32 panels, or 8-bit blocks.
    public var precision: WeightPrecision { weights.precision }
    /// Bytes of weights the server holds: the packed block matrices plus the embeddings, norms and biases.
    public let weightBytes: Int
    /// Bytes of one sequence's KV cache (keys and values of every layer for a full window).
    public let kvCacheBytesPerSequence: Int
    /// The token a prompt of "" starts from (`Tokenizer.startToken`).
    public let startToken: Int32
    public let endOfText: Int32?

    /// Opens a Quill checkpoint file or a Hugging Face GPT-2 folder, with its weights mapped from disk.
    /// With `precision` q8 the block matrices and the LM head are quantized at load (Quantized.swift) and their
    /// f32 pages dropped, so no f32 copy of them stays in memory.
    public init(path: String, name: String? = nil, workers: Int = Parallel.defaultWorkers,
                precision: WeightPrecision = .f32) throws(ServiceError) {
        let mapped: MappedModel
        do { mapped = try MappedModel.open(path: path) } catch { throw .checkpoint(error) }
        guard case .gpt(let config) = mapped.spec else {
            throw .unsupportedModel("\(path) holds a \(mapped.spec.modelName) model; quill-server serves GPT "
                + "checkpoints (sample a bigram with `quill-train sample`)")
        }
        do { weights = try mapped.inferenceWeights(precision: precision) } catch { throw .checkpoint(error) }
        let tokenizer: any Tokenizer
        do { tokenizer = try mapped.tokenizer.makeTokenizer() } catch { throw .tokenizer("\(error)") }
        do { fileSHA256 = try sha256Hex(ofFileAt: URL(fileURLWithPath: mapped.weightsFile)) } catch { throw .checkpoint(error) }
        watchedFile = mapped.weightsFile
        let url = URL(fileURLWithPath: path)
        self.path = path
        self.name = name ?? (mapped.format == .quill ? url.deletingPathExtension().lastPathComponent : url.lastPathComponent)
        self.format = mapped.format
        self.config = config
        self.tokenizer = tokenizer
        self.training = mapped.training
        let layout = mapped.spec.layout
        self.parameterCount = layout.count
        let blockMatrices = layout.tensors.filter { $0.name.hasSuffix("c_attn.weight") || $0.name.hasSuffix("c_proj.weight")
            || $0.name.hasSuffix("c_fc.weight") }.reduce(0) { $0 + $1.count }
        // In q8 the embedding table's pages are dropped once its 8-bit head exists; lookups read single rows back.
        let unpacked = layout.count - blockMatrices - (precision == .q8 ? config.vocabSize * config.nEmbd : 0)
        weightBytes = weights.packedBytes + unpacked * MemoryLayout<Float>.size
        kvCacheBytesPerSequence = KVCache.bytes(config: config)
        endOfText = tokenizer.endOfTextID.map(Int32.init)
        startToken = Int32(tokenizer.startToken)
    }

    /// Prompt text to token ids; a character a char model lacks is `.unknownCharacters` (API.md's 400
    /// `unknown_characters`).
    public func encode(_ text: String, param: String = "prompt") throws(ModelServiceError) -> [Int32] {
        do {
            return try tokenizer.encode(text).map(Int32.init)
        } catch let e as TokenizerError {
            if case .unknownCharacters(let chars, let count) = e {
                throw .unknownCharacters(param: param, count: count, characters: Array(chars.prefix(10)))
            }
            throw .untokenizable(param: param, reason: e.description)
        } catch {
            throw .untokenizable(param: param, reason: nil)
        }
    }

    public func piece(_ id: Int32) -> String { (try? tokenizer.piece(Int(id))) ?? "" }

    /// The text of one token alone.
    public func tokenText(_ id: Int32) -> String { (try? tokenizer.decode([Int(id)])) ?? "" }

    /// The text of token ids (bytes of a partial character become U+FFFD).
    public func decode(_ ids: [Int32]) -> String { (try? tokenizer.decode(ids.map(Int.init))) ?? "" }
}
