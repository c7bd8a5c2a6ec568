// The training configuration: a JSON preset (Config/train/NAME.json) with any key overridable from the command
// line. Unknown keys and values of the wrong type are errors, not silently ignored.
import Foundation
import QuillModel

/// How the tokenizer is chosen: fit a character vocabulary or a byte-level BPE on the corpus, or load GPT-2's.
public struct TokenizerSpec: Codable, Sendable, Equatable {
    /// "char", "bpe" (fit on the corpus to vocab_size) or "gpt2" (load vocab.json + merges.txt from path).
    public var kind: String
    public var vocabSize: Int?
    public var path: String?

    public init(kind: String, vocabSize: Int? = nil, path: String? = nil) {
        self.kind = kind
        self.vocabSize = vocabSize
        self.path = path
    }

    enum CodingKeys: String, CodingKey { case kind, vocabSize = "vocab_size", path }
}

public struct TrainConfig: Codable, Sendable, Equatable {
    /// "gpt" or "bigram".
    public var model = "gpt"
    public var blockSize = 256
    public var nLayer = 6
    public var nHead = 6
    public var nEmbd = 384
    public var dropout: Float = 0.2
    public var positional = PositionalEncoding.learned
    public var bias = true
    public var tokenizer = TokenizerSpec(kind: "char")
    public var batchSize = 64
    public var maxSteps = 5000
    /// Stop after this many minutes of training even if max_steps is not reached (0: no limit).
    public var maxMinutes: Double = 0
    public var learningRate: Float = 1e-3
    public var minLR: Float = 1e-4
    public var warmupSteps = 100
    /// Steps of cosine decay; 0 means max_steps.
    public var lrDecaySteps = 0
    public var weightDecay: Float = 0.1
    public var beta1: Float = 0.9
    public var beta2: Float = 0.99
    public var gradClip: Float = 1.0
    public var evalInterval = 250
    public var evalIters = 200
    public var logInterval = 10
    /// Fraction of the token stream (its end) held out for validation.
    public var valFraction = 0.1
    public var seed: UInt64 = 1337
    /// Tokens in the sample printed at each evaluation (0: none).
    public var sampleTokens = 200
    /// Micro-batches of batch_size whose gradients are summed into one optimizer step (effective batch
    /// batch_size × grad_accum_steps, in the memory of one micro-batch).
    public var gradAccumSteps = 1
    /// A Quill checkpoint or Hugging Face GPT-2 folder to start from ("" for a fresh model): its shape, weights and
    /// tokenizer are kept; block_size may crop its context; dropout and the optimizer settings are this config's.
    public var initFrom = ""
    /// Documents apart (lines, jsonl and their shards): attention stops at each document's start and positions
    /// restart there (GPTConfig.documentToken = end-of-text). false: documents run on into each other.
    public var documentMask = true
    /// Save NAME.last and NAME.state every this many steps (0: at every evaluation), and always at the end.
    public var saveInterval = 0
    /// The chat template recorded in the checkpoint (ChatTemplate: plain, chatml, alpaca); "" records none (a
    /// fine-tune keeps its init_from's), and the server then uses plain.
    public var chatTemplate = ""

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, blockSize = "block_size", nLayer = "n_layer", nHead = "n_head", nEmbd = "n_embd", dropout
        case positional, bias, tokenizer, batchSize = "batch_size", maxSteps = "max_steps", maxMinutes = "max_minutes"
        case learningRate = "learning_rate", minLR = "min_lr", warmupSteps = "warmup_steps"
        case lrDecaySteps = "lr_decay_steps", weightDecay = "weight_decay", beta1, beta2, gradClip = "grad_clip"
        case evalInterval = "eval_interval", evalIters = "eval_iters", logInterval = "log_interval"
        case valFraction = "val_fraction", seed, sampleTokens = "sample_tokens"
        case gradAccumSteps = "grad_accum_steps", initFrom = "init_from"
        case documentMask = "document_mask", saveInterval = "save_interval", chatTemplate = "chat_template"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainConfig.defaults
        func get<T: Decodable>(_ k: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? fallback }
        model = try get(.model, d.model)
        blockSize = try get(.blockSize, d.blockSize)
        nLayer = try get(.nLayer, d.nLayer)
        nHead = try get(.nHead, d.nHead)
        nEmbd = try get(.nEmbd, d.nEmbd)
        dropout = try get(.dropout, d.dropout)
        positional = try get(.positional, d.positional)
        bias = try get(.bias, d.bias)
        tokenizer = try get(.tokenizer, d.tokenizer)
        batchSize = try get(.batchSize, d.batchSize)
        maxSteps = try get(.maxSteps, d.maxSteps)
        maxMinutes = try get(.maxMinutes, d.maxMinutes)
        learningRate = try get(.learningRate, d.learningRate)
        minLR = try get(.minLR, d.minLR)
        warmupSteps = try get(.warmupSteps, d.warmupSteps)
        lrDecaySteps = try get(.lrDecaySteps, d.lrDecaySteps)
        weightDecay = try get(.weightDecay, d.weightDecay)
        beta1 = try get(.beta1, d.beta1)
        beta2 = try get(.beta2, d.beta2)
        gradClip = try get(.gradClip, d.gradClip)
        evalInterval = try get(.evalInterval, d.evalInterval)
        evalIters = try get(.evalIters, d.evalIters)
        logInterval = try get(.logInterval, d.logInterval)
        valFraction = try get(.valFraction, d.valFraction)
        seed = try get(.seed, d.seed)
        sampleTokens = try get(.sampleTokens, d.sampleTokens)
        gradAccumSteps = try get(.gradAccumSteps, d.gradAccumSteps)
        initFrom = try get(.initFrom, d.initFrom)
        documentMask = try get(.documentMask, d.documentMask)
        saveInterval = try get(.saveInterval, d.saveInterval)
        chatTemplate = try get(.chatTemplate, d.chatTemplate)
    }

    static let defaults = TrainConfig()

    /// Every key a config file or a flag may set (nested tokenizer keys as tokenizer.kind, …).
    public static let keys: [String] = CodingKeys.allCases.map(\.rawValue).filter { $0 != "tokenizer" }
        + ["tokenizer.kind", "tokenizer.vocab_size", "tokenizer.path"]

    // MARK: - Loading with overrides

    /// Reads a JSON config file (nil: defaults), applies `--key value` overrides, validates.
    public static func load(file: String?, overrides: [(key: String, value: String)]) throws(TrainingError) -> TrainConfig {
        var object: [String: Any] = [:]
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw .config("\(file): cannot read the config file")
            }
            guard let parsed = try? JSONSerialization.jsonObject(with: data), let dict = parsed as? [String: Any] else {
                throw .config("\(file): not a JSON object")
            }
            object = dict
            try checkKeys(object, file: file)
        }
        return try build(object, overrides: overrides)
    }

    /// Keys a resumed run may change: when to stop, how often to evaluate and log. The rest shapes the model,
    /// the data or the optimizer, and stays as the run began.
    public static let resumableKeys: Set<String> = ["max_steps", "max_minutes", "lr_decay_steps", "eval_interval",
                                                    "eval_iters", "log_interval", "sample_tokens", "save_interval"]

    /// This config with `--key value` overrides applied (only `resumableKeys`), validated.
    public func resumed(with overrides: [(key: String, value: String)]) throws(TrainingError) -> TrainConfig {
        for (key, _) in overrides where !TrainConfig.resumableKeys.contains(key) {
            throw .config("--\(key) cannot change on --resume (allowed: \(TrainConfig.resumableKeys.sorted().joined(separator: ", ")))")
        }
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return try TrainConfig.build(object, overrides: overrides)
    }

    private static func build(_ start: [String: Any], overrides: [(key: String, value: String)]) throws(TrainingError)
        -> TrainConfig {
        var object = start
        for (key, value) in overrides {
            guard keys.contains(key) else {
                throw .config("unknown key --\(key) (known: \(keys.sorted().joined(separator: ", ")))")
            }
            let parsed = parseValue(value, for: key)
            if key.hasPrefix("tokenizer.") {
                var t = object["tokenizer"] as? [String: Any] ?? ["kind": "char"]
                t[String(key.dropFirst("tokenizer.".count))] = parsed
                object["tokenizer"] = t
            } else {
                object[key] = parsed
            }
        }
        let config: TrainConfig
        do {
            let data = try JSONSerialization.data(withJSONObject: object)
            config = try JSONDecoder().decode(TrainConfig.self, from: data)
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw .config("\(keyPath(ctx)) must be of type \(typeName(type))")
        } catch let DecodingError.dataCorrupted(ctx) {
            throw .config("\(keyPath(ctx)): \(ctx.debugDescription)")
        } catch let DecodingError.keyNotFound(key, _) {
            throw .config("missing key \(key.stringValue)")
        } catch {
            throw .config("\(error)")
        }
        try config.validate()
        return config
    }

    private static func checkKeys(_ object: [String: Any], file: String) throws(TrainingError) {
        for key in object.keys.sorted() {
            if key == "tokenizer" {
                guard let t = object[key] as? [String: Any] else { throw .config("\(file): tokenizer must be an object") }
                for k in t.keys.sorted() where !keys.contains("tokenizer." + k) {
                    throw .config("\(file): unknown key tokenizer.\(k)")
                }
            } else if !keys.contains(key) {
                throw .config("\(file): unknown key \(key)")
            }
        }
    }

    /// A flag's text as JSON would type it: integers, then numbers, then booleans, else a string.
    private static func parseValue(_ text: String, for key: String) -> Any {
        if let i = Int(text) { return i }
        if let d = Double(text) { return d }
        if text == "true" { return true }
        if text == "false" { return false }
        return text
    }

    private static func keyPath(_ ctx: DecodingError.Context) -> String {
        ctx.codingPath.map(\.stringValue).joined(separator: ".")
    }

    private static func typeName(_ t: Any.Type) -> String {
        switch t {
        case is Int.Type, is UInt64.Type: return "integer"
        case is Float.Type, is Double.Type: return "number"
        case is Bool.Type: return "boolean"
        default: return "string"
        }
    }

    // MARK: - Validation

    public func validate() throws(TrainingError) {
        guard ["gpt", "bigram"].contains(model) else { throw .config("model must be \"gpt\" or \"bigram\", got \"\(model)\"") }
        guard ["char", "bpe", "gpt2"].contains(tokenizer.kind) else {
            throw .config("tokenizer.kind must be \"char\", \"bpe\" or \"gpt2\", got \"\(tokenizer.kind)\"")
        }
        if tokenizer.kind == "bpe" {
            guard let v = tokenizer.vocabSize, v >= 257 else { throw .config("tokenizer.vocab_size must be >= 257 for bpe") }
        }
        if tokenizer.kind == "gpt2" && tokenizer.path == nil { throw .config("tokenizer.path (a folder with vocab.json and merges.txt) is required for gpt2") }
        func positive(_ v: Int, _ name: String) throws(TrainingError) {
            guard v >= 1 else { throw .config("\(name) must be >= 1, got \(v)") }
        }
        try positive(blockSize, "block_size")
        try positive(batchSize, "batch_size")
        try positive(maxSteps, "max_steps")
        try positive(evalInterval, "eval_interval")
        try positive(evalIters, "eval_iters")
        try positive(logInterval, "log_interval")
        try positive(gradAccumSteps, "grad_accum_steps")
        guard warmupSteps >= 0 else { throw .config("warmup_steps must be >= 0") }
        guard lrDecaySteps >= 0 else { throw .config("lr_decay_steps must be >= 0") }
        guard learningRate > 0 && minLR >= 0 && minLR <= learningRate else {
            throw .config("need 0 <= min_lr <= learning_rate and learning_rate > 0")
        }
        guard valFraction > 0 && valFraction < 1 else { throw .config("val_fraction must be in (0, 1), got \(valFraction)") }
        guard maxMinutes >= 0 else { throw .config("max_minutes must be >= 0") }
        guard gradClip >= 0 else { throw .config("grad_clip must be >= 0 (0: no clipping)") }
        guard beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 else { throw .config("beta1 and beta2 must be in [0, 1)") }
        guard sampleTokens >= 0 else { throw .config("sample_tokens must be >= 0") }
        guard saveInterval >= 0 else { throw .config("save_interval must be >= 0 (0: at every evaluation)") }
        if !initFrom.isEmpty && model != "gpt" { throw .config("init_from needs model \"gpt\"") }
        if !chatTemplate.isEmpty && ChatTemplate(rawValue: chatTemplate) == nil {
            throw .config("chat_template must be one of \(ChatTemplate.names), got \"\(chatTemplate)\"")
        }
        if model == "gpt" && initFrom.isEmpty {
            do {
                try gptConfig(vocabSize: 1).validate()
            } catch {
                if case let .invalidConfig(_, message) = error { throw .config(message) }
                throw .config(error.description)
            }
        }
    }

    /// The GPT shape for a tokenizer of `vocabSize` ids.
    public func gptConfig(vocabSize: Int, documentToken: Int? = nil) -> GPTConfig {
        GPTConfig(vocabSize: vocabSize, blockSize: blockSize, nLayer: nLayer, nHead: nHead, nEmbd: nEmbd,
                  dropout: dropout, positional: positional, bias: bias, documentToken: documentToken,
                  chatTemplate: ChatTemplate(rawValue: chatTemplate))
    }

    public var schedule: LearningRateSchedule {
        LearningRateSchedule(maxLR: learningRate, minLR: minLR, warmupSteps: warmupSteps,
                             decaySteps: lrDecaySteps > 0 ? lrDecaySteps : maxSteps)
    }

    /// The config as pretty, sorted JSON text (stored in checkpoints).
    public var jsonText: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self)
    }
}
