// OpenAI's response bodies as Encodable types, one per route family, the same type for the whole answer and for
// each streamed chunk (a chunk is the answer with one choice and no usage). JSONValueEncoder writes them with keys
// in declaration order and in snake case, so each key is spelled once, here. docs/API.md and docs/openapi.yaml
// describe the same shapes.
import QuillJSON
import QuillModel

/// OpenAI's usage object; `prompt_tokens_details.cached_tokens` counts prompt-cache hits where reported.
struct Usage: Encodable, Sendable {
    struct Details: Encodable, Sendable { var cachedTokens: Int }
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int
    var promptTokensDetails: Details?

    init(_ prompt: Int, _ completion: Int, cached: Int? = nil) {
        promptTokens = prompt
        completionTokens = completion
        totalTokens = prompt + completion
        promptTokensDetails = cached.map { Details(cachedTokens: $0) }
    }
}

/// POST /v1/completions: the answer, and each streamed chunk (`object` is text_completion for both, as OpenAI's).
struct TextCompletion: Encodable, Sendable {
    struct Choice: Encodable, Sendable {
        var text: String
        var index: Int
        var logprobs: Nullable<LegacyLogprobs>
        /// null in every chunk but the one that ends the choice.
        var finishReason: Nullable<String>
    }
    var id: String
    var object = "text_completion"
    var created: Int
    var model: String
    var choices: [Choice]
    /// The answer's, or the last chunk's with stream_options.include_usage; absent otherwise.
    var usage: Usage?
}

/// The completions API's logprobs: tokens, token_logprobs, top_logprobs (piece → logprob), text_offset. A prompt's
/// first token (echo) has null for both log-probability fields.
struct LegacyLogprobs: Encodable, Sendable {
    var tokens: [String] = []
    var tokenLogprobs: [Float?] = []
    var topLogprobs: [OrderedFields<Float>?] = []
    var textOffset: [Int] = []
}

/// POST /v1/chat/completions: the answer (`chat.completion`, choices with a message) and each streamed chunk
/// (`chat.completion.chunk`, choices with a delta).
struct ChatCompletion: Encodable, Sendable {
    struct Message: Encodable, Sendable {
        var role = "assistant"
        var content: String
    }
    /// A chunk's change: the role and "" first, then content, then nothing in the chunk that finishes.
    struct Delta: Encodable, Sendable {
        var role: String?
        var content: String?
    }
    struct Choice: Encodable, Sendable {
        var index: Int
        var message: Message?
        var delta: Delta?
        var logprobs: Nullable<ChatLogprobs>
        var finishReason: Nullable<String>
    }
    var id: String
    var object: String
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage?

    static let answer = "chat.completion", chunk = "chat.completion.chunk"
}

/// The chat schema's logprobs: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
struct ChatLogprobs: Encodable, Sendable {
    struct Alternative: Encodable, Sendable {
        var token: String
        var logprob: Float
        var bytes: [Int]
    }
    struct Entry: Encodable, Sendable {
        var token: String
        var logprob: Float
        var bytes: [Int]
        var topLogprobs: [Alternative]
    }
    var content: [Entry]

    init(_ lps: [TokenLogprob]) {
        func bytes(_ s: String) -> [Int] { s.utf8.map(Int.init) }
        content = lps.map { lp in
            Entry(token: lp.text, logprob: lp.logprob, bytes: bytes(lp.text),
                  topLogprobs: lp.top.map { Alternative(token: $0.text, logprob: $0.logprob, bytes: bytes($0.text)) })
        }
    }
}

// MARK: - Quill's own routes

/// A token's log-probability and its best alternatives (/complete's `logprobs` and `prompt_logprobs`); the prompt's
/// first token has none: null and no alternatives.
struct LogprobEntry: Encodable, Sendable {
    struct Alternative: Encodable, Sendable {
        var token: Int32
        var piece: String
        var logprob: Float
    }
    var token: Int32
    var piece: String
    var logprob: Nullable<Float>
    var top: [Alternative]
    var text: String

    init(_ lp: TokenLogprob) {
        token = lp.token
        piece = lp.piece
        logprob = Nullable(lp.logprob)
        top = lp.top.map { Alternative(token: $0.token, piece: $0.piece, logprob: $0.logprob) }
        text = lp.text
    }

    init(unscored token: Int32, piece: String, text: String) {
        self.token = token
        self.piece = piece
        logprob = nil
        top = []
        self.text = text
    }
}

/// Milliseconds of a generation, to two decimals; tokens copied from the prompt cache.
struct Timings: Encodable, Sendable {
    var queuedMs: Double
    var promptMs: Double
    var generateMs: Double
    var tokensPerSecond: Double
    var cachedTokens: Int

    init(_ t: GenerationTimings) {
        func r(_ x: Double) -> Double { (x * 100).rounded() / 100 }
        queuedMs = r(t.queuedMs)
        promptMs = r(t.promptMs)
        generateMs = r(t.generateMs)
        tokensPerSecond = r(t.tokensPerSecond)
        cachedTokens = t.cachedTokens
    }
}

/// One step of /complete's stream: the new text and token (and its log-probabilities when asked).
struct CompleteDelta: Encodable, Sendable {
    var text: String
    var tokens: [Int32]
    var logprobs: [LogprobEntry]?
}

/// /complete's result: the answer without `stream`, and the stream's last event (whose text and tokens are then
/// empty: the deltas carried them).
struct CompleteResult: Encodable, Sendable {
    var id: String
    var model: String
    var text: String
    var tokens: [Int32]
    var finishReason: String
    var truncated: Bool
    var usage: Usage
    var timings: Timings
    var logprobs: [LogprobEntry]?
    var promptLogprobs: [LogprobEntry]?
}

/// POST /tokenize. With count_only, only tokenizer and count.
struct TokenizeAnswer: Encodable, Sendable {
    struct Word: Encodable, Sendable {
        var word: String
        /// The word's pieces before each merge, then after the last.
        var steps: [[String]]
    }
    var tokenizer: String
    var count: Int
    var tokens: [Int]?
    var pieces: [String]?
    /// UTF-8 byte ranges [start, end) of the text each token covers.
    var offsets: [[Int]]?
    /// With explain (BPE): each word's merges.
    var explain: [Word]?
}

/// POST /detokenize.
struct DetokenizeAnswer: Encodable, Sendable { var text: String }

/// One attention row, each weight with at most 5 significant digits, as API.md writes them.
struct RoundedWeights: Encodable, Sendable {
    var values: [Float]
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(JSONValue.array(values.map { .rounded($0, digits: 5) }))
    }
}

/// POST /attention: weights[layer][head][query][key] for the layers and heads asked for.
struct AttentionAnswer: Encodable, Sendable {
    var tokens: [Int32]
    var pieces: [String]
    var nLayer: Int
    var nHead: Int
    var layers: [Int]
    var heads: [Int]
    var attention: [[[RoundedWeights]]]
}

/// GET /info.
struct InfoAnswer: Encodable, Sendable {
    struct Model: Encodable, Sendable {
        struct Memory: Encodable, Sendable {
            var weightsBytes: Int
            var kvCacheBytesPerSequence: Int
            var kvCacheBytesMax: Int
        }
        struct Training: Encodable, Sendable {
            var steps: Int
            var tokens: Int
            var trainLoss: Nullable<Float>
            var valLoss: Nullable<Float>
            var bestValLoss: Nullable<Float>
            var durationSeconds: Double
            var command: Nullable<String>
            var history: [HistoryPoint]
        }
        var name: String
        var checkpoint: String
        var sha256: String
        var parameters: Int
        var loadedAt: String
        var nLayer: Int
        var nHead: Int
        var nEmbd: Int
        var blockSize: Int
        var vocabSize: Int
        var documentToken: Nullable<Int>
        var chatTemplate: String
        var tokenizer: String
        var format: String
        var weights: String
        var memory: Memory
        var training: Training
    }
    struct Server: Encodable, Sendable {
        struct Limits: Encodable, Sendable {
            var maxTokensLimit: Int
            var maxConnections: Int
            var maxHeaderBytes: Int
            var maxBodyBytes: Int
            var requestTimeout: Double
            var idleTimeout: Double
        }
        struct PromptCache: Encodable, Sendable {
            var capacityBytes: Int
            var capacityEntries: Int
            var entries: Int
            var bytes: Int
        }
        var version: String
        var uptimeSeconds: Double
        var batchCapacity: Int
        var queueCapacity: Int
        var inFlight: Int
        var waiting: Int
        var limits: Limits
        var auth: Bool
        var reloads: Int
        var promptCache: PromptCache
    }
    var model: Model
    var server: Server
}

/// One evaluation of the checkpoint's training history (the playground's loss plot).
struct HistoryPoint: Encodable, Sendable {
    var step: Int
    var train: Float
    var val: Float
}

/// GET /health, and the 503 while loading.
struct HealthAnswer: Encodable, Sendable { var status: String }

/// POST /admin/reload.
struct ReloadAnswer: Encodable, Sendable {
    var reloaded: Bool
    var checkpoint: String
    var sha256: String
    var previousSha256: String
    var step: Int
}

/// POST /apply-template.
struct AppliedTemplate: Encodable, Sendable {
    var prompt: String
    var chatTemplate: String
    var stop: [String]
    var tokens: Int
}

/// GET /v1/models and /v1/models/{id}.
struct ModelObject: Encodable, Sendable {
    var id: String
    var object = "model"
    var created: Int
    var ownedBy = "quill"
}

struct ModelList: Encodable, Sendable {
    var object = "list"
    var data: [ModelObject]
}

/// API.md's error body, from the HTTP layer's errors to the model's.
struct ErrorBody: Encodable, Sendable {
    struct Detail: Encodable, Sendable {
        var message: String
        var type: String
        var param: Nullable<String>
        var code: String
    }
    var error: Detail
}
