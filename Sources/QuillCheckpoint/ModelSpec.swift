// Which model a checkpoint holds, as stored in its `quill.config` metadata: a GPT with its GPTConfig, or the
// bigram baseline. Builds a fresh model and the parameter layout a file must match; the weights are Checkpoint's.
import QuillModel
import QuillTensor

/// The model a checkpoint holds; stored in `__metadata__["quill.config"]` as JSON:
///
///     {"model": "gpt", "vocab_size": 65, "block_size": 256, "n_layer": 6, "n_head": 6, "n_embd": 384,
///      "dropout": 0.2, "positional": "learned", "bias": true}
///     {"model": "bigram", "vocab_size": 65, "block_size": 8}
public enum ModelSpec: Codable, Sendable, Equatable {
    case gpt(GPTConfig)
    case bigram(vocabSize: Int, blockSize: Int)

    /// Token ids the model accepts: 0..<vocabSize.
    public var vocabSize: Int {
        switch self {
        case let .gpt(config): return config.vocabSize
        case let .bigram(vocabSize, _): return vocabSize
        }
    }

    /// The longest sequence a forward pass accepts.
    public var blockSize: Int {
        switch self {
        case let .gpt(config): return config.blockSize
        case let .bigram(_, blockSize): return blockSize
        }
    }

    /// "gpt" or "bigram", as in the JSON.
    public var modelName: String {
        switch self {
        case .gpt: return "gpt"
        case .bigram: return "bigram"
        }
    }

    /// The tensors (names, shapes, order) of this model: `GPT.layout(for:)`, or the bigram's one V×V table.
    public var layout: ParameterLayout {
        switch self {
        case let .gpt(config):
            return GPT.layout(for: config)
        case let .bigram(vocabSize, _):
            // Bigram.init builds the same layout; building a Bigram just to read it would allocate V² floats.
            var layout = ParameterLayout()
            layout.append("token_embedding_table.weight", [vocabSize, vocabSize])
            return layout
        }
    }

    /// Checks the fields a model is built from (GPTConfig.validate(); the bigram's sizes >= 1).
    public func validate() throws(ModelError) {
        switch self {
        case let .gpt(config):
            try config.validate()
        case let .bigram(vocabSize, blockSize):
            guard vocabSize >= 1 else {
                throw .invalidConfig(field: "vocab_size", message: "vocab_size must be >= 1, got \(vocabSize)")
            }
            guard blockSize >= 1 else {
                throw .invalidConfig(field: "block_size", message: "block_size must be >= 1, got \(blockSize)")
            }
        }
    }

    /// A fresh model with this spec, initialised from `seed` (`GPT(config:seed:workers:)` or
    /// `Bigram(vocabSize:contextLength:seed:)`; the bigram runs single-threaded and ignores `workers`).
    public func makeModel(seed: UInt64, workers: Int = Parallel.defaultWorkers) throws(ModelError) -> any LanguageModel {
        switch self {
        case let .gpt(config):
            return try GPT(config: config, seed: seed, workers: workers)
        case let .bigram(vocabSize, blockSize):
            return try Bigram(vocabSize: vocabSize, contextLength: blockSize, seed: seed)
        }
    }

    // MARK: - JSON

    private enum Keys: String, CodingKey {
        case model
        case vocabSize = "vocab_size"
        case blockSize = "block_size"
    }

    /// Decodes either form; "model" is required, a GPT's optional fields default as in GPTConfig.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let model = try c.decode(String.self, forKey: .model)
        switch model {
        case "gpt":
            self = .gpt(try GPTConfig(from: decoder))
        case "bigram":
            self = .bigram(vocabSize: try c.decode(Int.self, forKey: .vocabSize),
                           blockSize: try c.decode(Int.self, forKey: .blockSize))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .model, in: c, debugDescription: "unknown model \"\(model)\" (expected \"gpt\" or \"bigram\")")
        }
    }

    /// Encodes the form shown above.
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case let .gpt(config):
            // GPTConfig writes its own keys into the same object, so a field added to it travels without
            // changes here.
            try config.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode("gpt", forKey: .model)
        case let .bigram(vocabSize, blockSize):
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode("bigram", forKey: .model)
            try c.encode(vocabSize, forKey: .vocabSize)
            try c.encode(blockSize, forKey: .blockSize)
        }
    }
}
