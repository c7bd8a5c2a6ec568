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
