// The GPT's shape and regularisation, as it travels in checkpoints (`quill.config`, snake_case keys) and
// training presets. Validation turns a bad configuration into an error that names the field.

/// How positions enter the model: a learned table `wpe`, or fixed sinusoidal encodings (no parameters).
public enum PositionalEncoding: String, Codable, Sendable, CaseIterable {
    case learned, sinusoidal
}

/// GPT-2's hyper-parameters. `bias: false` drops the biases of every Linear and LayerNorm (as nanoGPT allows).
public struct GPTConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var blockSize: Int
    public var nLayer: Int
    public var nHead: Int
    public var nEmbd: Int
    public var dropout: Float
    public var positional: PositionalEncoding
    public var bias: Bool
    /// The token that opens a document (end-of-text) in a model trained on separate documents: attention never
    /// reaches back past it and positions restart at it, in training, evaluation and generation alike. nil: the
    /// context is one stream (GPT-2's own models, and models trained on `text`).
    public var documentToken: Int?
    /// The chat template the model was trained for (ChatTemplate's names); nil: served with `plain`.
    public var chatTemplate: ChatTemplate?

    public init(vocabSize: Int, blockSize: Int, nLayer: Int, nHead: Int, nEmbd: Int,
                dropout: Float = 0, positional: PositionalEncoding = .learned, bias: Bool = true,
                documentToken: Int? = nil, chatTemplate: ChatTemplate? = nil) {
        self.vocabSize = vocabSize
        self.blockSize = blockSize
        self.nLayer = nLayer
        self.nHead = nHead
        self.nEmbd = nEmbd
        self.dropout = dropout
        self.positional = positional
        self.bias = bias
        self.documentToken = documentToken
        self.chatTemplate = chatTemplate
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", blockSize = "block_size", nLayer = "n_layer", nHead = "n_head"
        case nEmbd = "n_embd", dropout, positional, bias, documentToken = "document_token"
        case chatTemplate = "chat_template"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        blockSize = try c.decode(Int.self, forKey: .blockSize)
        nLayer = try c.decode(Int.self, forKey: .nLayer)
        nHead = try c.decode(Int.self, forKey: .nHead)
        nEmbd = try c.decode(Int.self, forKey: .nEmbd)
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? 0
        positional = try c.decodeIfPresent(PositionalEncoding.self, forKey: .positional) ?? .learned
        bias = try c.decodeIfPresent(Bool.self, forKey: .bias) ?? true
        documentToken = try c.decodeIfPresent(Int.self, forKey: .documentToken)
        chatTemplate = try c.decodeIfPresent(ChatTemplate.self, forKey: .chatTemplate)
    }

    /// Size of one attention head.
    public var headSize: Int { nEmbd / nHead }

    /// Checks every field; the error names the first bad one and the allowed range.
    public func validate() throws(ModelError) {
        func atLeastOne(_ v: Int, _ name: String) throws(ModelError) {
            guard v >= 1 else { throw .invalidConfig(field: name, message: "\(name) must be >= 1, got \(v)") }
        }
        // Upper bounds first, so that no size from a file, flag or request overflows the arithmetic below or in
        // the parameter layout (at these bounds every product of sizes fits easily in 64 bits).
        for (v, name, limit) in [(vocabSize, "vocab_size", 1 << 24), (blockSize, "block_size", 1 << 20),
                                 (nLayer, "n_layer", 1 << 12), (nHead, "n_head", 1 << 12), (nEmbd, "n_embd", 1 << 16)]
            where v > limit {
            throw .invalidConfig(field: name, message: "\(name) must be <= \(limit), got \(v)")
        }
        try atLeastOne(vocabSize, "vocab_size")
        try atLeastOne(blockSize, "block_size")
        try atLeastOne(nLayer, "n_layer")
        try atLeastOne(nHead, "n_head")
        try atLeastOne(nEmbd, "n_embd")
        guard nEmbd % nHead == 0 else {
            throw .invalidConfig(field: "n_embd", message: "n_embd (\(nEmbd)) must be divisible by n_head (\(nHead))")
        }
        guard dropout >= 0 && dropout < 1 else {
            throw .invalidConfig(field: "dropout", message: "dropout must be in [0, 1), got \(dropout)")
        }
        if let d = documentToken, d < 0 || d >= vocabSize {
            throw .invalidConfig(field: "document_token", message: "document_token must be in 0..<\(vocabSize), got \(d)")
        }
        guard vocabSize <= Int(Int32.max) else {
            throw .invalidConfig(field: "vocab_size", message: "vocab_size must be < 2^31, got \(vocabSize)")
        }
    }
}
