// The training configuration: a JSON preset (Config/train/NAME.json) with any key overridable from the command
// line. Each key is declared once, in `TrainConfig.table` (QuillSettings), which gives the file key, the flag, the
// help and the README's table. Unknown keys and values of the wrong type are errors, not silently ignored.
import Foundation
import QuillModel
import QuillSettings

extension PositionalEncoding: SettingValue {}

/// How the tokenizer is chosen: fit a character vocabulary or a byte-level BPE on the corpus, or load GPT-2's.
public struct TokenizerSpec: Codable, Sendable, Equatable {
    /// "char", "bpe" (fit on the corpus to vocab_size) or "gpt2" (load vocab.json + merges.txt from path): a `Kind`.
    public var kind: String
    /// The kinds `kind` may name.
    public enum Kind: String, CaseIterable, Sendable { case char, bpe, gpt2 }
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
    /// "gpt" or "bigram": a `ModelKind`.
    public var model = "gpt"
    /// The models `model` may name.
    public enum ModelKind: String, CaseIterable, Sendable { case gpt, bigram }
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

    /// Every key, once: file key (and from it the flag), property, help. `quill-train train --help` and the README's
    /// table (`quill-train train --settings-table`) come from it.
    public static let table = SettingsTable(TrainConfig(), environmentPrefix: nil, [
        Setting("model", \.model, "gpt, or bigram (the notebooks' baseline)."),
        Setting("block_size", \.blockSize, "Context length in tokens."),
        Setting("n_layer", \.nLayer, "Transformer blocks."),
        Setting("n_head", \.nHead, "Attention heads per block (n_embd must be divisible by it)."),
        Setting("n_embd", \.nEmbd, "Width of the residual stream."),
        Setting("dropout", \.dropout, "Dropout probability in training."),
        Setting("positional", \.positional, "Position embeddings: learned, or sinusoidal."),
        Setting("bias", \.bias, "Biases in the linear layers and layer norms."),
        Setting("tokenizer.kind", \.tokenizer.kind,
                "char, bpe (fit on the corpus to tokenizer.vocab_size), or gpt2 (GPT-2's, from tokenizer.path)."),
        Setting("tokenizer.vocab_size", \.tokenizer.vocabSize, "Vocabulary of a fitted bpe tokenizer (at least 257)."),
        Setting("tokenizer.path", \.tokenizer.path, "For gpt2: a folder with vocab.json and merges.txt."),
        Setting("batch_size", \.batchSize, "Sequences in a micro-batch (over MPI: the global batch, shared by the ranks)."),
        Setting("max_steps", \.maxSteps, "Optimizer steps to train for."),
        Setting("max_minutes", \.maxMinutes, "Stop after this many minutes even before max_steps (0: no limit)."),
        Setting("learning_rate", \.learningRate, "Peak learning rate, after warmup."),
        Setting("min_lr", \.minLR, "Learning rate at the end of the cosine decay."),
        Setting("warmup_steps", \.warmupSteps, "Steps of linear warmup."),
        Setting("lr_decay_steps", \.lrDecaySteps, "Steps of cosine decay (0: max_steps)."),
        Setting("weight_decay", \.weightDecay, "AdamW weight decay (matrices only)."),
        Setting("beta1", \.beta1, "AdamW's first-moment decay."),
        Setting("beta2", \.beta2, "AdamW's second-moment decay."),
        Setting("grad_clip", \.gradClip, "Clip the gradient's global norm to this (0: no clipping)."),
        Setting("eval_interval", \.evalInterval, "Steps between evaluations (and best-checkpoint saves)."),
        Setting("eval_iters", \.evalIters, "Batches per split in each evaluation."),
        Setting("log_interval", \.logInterval, "Steps between progress lines."),
        Setting("val_fraction", \.valFraction, "Fraction of the data held out for validation."),
        Setting("seed", \.seed, "Seed of initialisation, batches and dropout."),
        Setting("sample_tokens", \.sampleTokens, "Tokens in the sample printed at each evaluation (0: none)."),
        Setting("grad_accum_steps", \.gradAccumSteps,
                "Micro-batches summed into one optimizer step (batch_size × this, in one micro-batch's memory)."),
        Setting("init_from", \.initFrom,
                "Fine-tune from a Quill checkpoint or a Hugging Face GPT-2 folder (\"\": a fresh model)."),
        Setting("document_mask", \.documentMask,
                "Keep documents apart in lines, jsonl and their shards: attention and positions restart at each."),
        Setting("save_interval", \.saveInterval, "Steps between saves of NAME.last and NAME.state (0: at every evaluation)."),
        Setting("chat_template", \.chatTemplate,
                "Chat template recorded in the checkpoint: plain, chatml or alpaca (\"\": none, or init_from's)."),
    ])

    /// Every key a config file or a flag may set (nested tokenizer keys as tokenizer.kind, …).
    public static var keys: [String] { table.keys }

    public init(from decoder: any Decoder) throws {
        self.init()
        try Self.table.decode(&self, from: decoder)
    }

    public func encode(to encoder: any Encoder) throws { try Self.table.encode(self, to: encoder) }

    // MARK: - Loading with overrides

    /// Reads a JSON config file (nil: defaults), applies `--key value` overrides, validates.
    public static func load(file: String?, overrides: [(key: String, value: String)]) throws(TrainingError) -> TrainConfig {
        var config = TrainConfig()
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw .config("\(file): cannot read the config file")
            }
            do { config = try table.load(TrainConfig.self, json: data) } catch { throw .config("\(file): \(error)") }
        }
        do { try table.apply(flags: overrides, to: &config) } catch { throw .config(error.description) }
        try config.validate()
        return config
    }

    /// Keys a resumed run may change: when to stop, how often to evaluate and log. The rest shapes the model,
    /// the data or the optimizer, and stays as the run began.
    public static let resumableKeys: Set<String> = ["max_steps", "max_minutes", "lr_decay_steps", "eval_interval",
                                                    "eval_iters", "log_interval", "sample_tokens", "save_interval"]

    /// This config with `--key value` overrides applied (only `resumableKeys`), validated.
    public func resumed(with overrides: [(key: String, value: String)]) throws(TrainingError) -> TrainConfig {
        for (key, _) in overrides where !TrainConfig.resumableKeys.contains(Self.table.setting(named: key)?.key ?? key) {
            throw .config("--\(key) cannot change on --resume (allowed: \(TrainConfig.resumableKeys.sorted().joined(separator: ", ")))")
        }
        var config = self
        do { try Self.table.apply(flags: overrides, to: &config) } catch { throw .config(error.description) }
        try config.validate()
        return config
    }

    // MARK: - Validation

    public func validate() throws(TrainingError) {
        guard ModelKind(rawValue: model) != nil else {
            throw .config("model must be one of \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(model)\"")
        }
        guard TokenizerSpec.Kind(rawValue: tokenizer.kind) != nil else {
            throw .config("tokenizer.kind must be one of \(TokenizerSpec.Kind.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(tokenizer.kind)\"")
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
