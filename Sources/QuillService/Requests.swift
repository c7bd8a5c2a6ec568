// Request bodies as Decodable types, one per route, each field with its default named beside it as API.md gives
// it. JSONValueDecoder reads them from a JSON body or a query string (`Params.decode`); a field of the wrong type is
// a 400 `invalid_type` naming its JSON path. Ranges are checked where the values are used (`Limits`), with messages
// that name the field and what it allows. Fields that take several shapes (a prompt as text or token ids, stop as
// a string or a list, logit_bias as an object or pairs) are small enums.
import QuillJSON

// MARK: - Shapes

/// A string or an array of strings (`stop`).
struct StringOrList: Decodable, Sendable {
    var values: [String]
    init(from decoder: any Decoder) throws {
        let v = try decoder.singleValueContainer().decode(JSONValue.self)
        switch v {
        case .string(let s): values = [s]
        case .array(let items):
            values = []
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item else {
                    throw JSONFieldError(path: JSONValueDecoder.path(decoder.codingPath) + "[\(i)]", expected: "a string",
                                         got: item.typeName)
                }
                values.append(s)
            }
        default:
            throw JSONFieldError(path: JSONValueDecoder.path(decoder.codingPath), expected: "a string or an array of strings",
                                 got: v.typeName)
        }
    }
}

/// /complete's prompt: text, or an array of token ids.
enum PromptInput: Decodable, Sendable {
    case text(String)
    case ids([Int])
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        switch try c.decode(JSONValue.self) {
        case .string(let s): self = .text(s)
        case .array: self = .ids(try c.decode([Int].self))
        case let other:
            throw JSONFieldError(path: JSONValueDecoder.path(decoder.codingPath), expected: "a string or token ids",
                                 got: other.typeName)
        }
    }
}

/// OpenAI's prompt: a string, an array of strings, an array of token ids, or an array of arrays of token ids (as
/// lm-evaluation-harness and vLLM send them).
enum PromptsInput: Decodable, Sendable {
    enum One: Sendable { case text(String), ids([Int]) }
    case list([One])
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let path = JSONValueDecoder.path(decoder.codingPath)
        let shape = "a string, an array of strings, or token ids"
        func ids(_ items: [JSONValue], at p: String) throws -> [Int] {
            try items.enumerated().map { i, item in
                guard case .number(let n) = item, n.isIntegral, let x = Int(exactly: n.double) else {
                    throw JSONFieldError(path: p + "[\(i)]", expected: "a token id (an integer)", got: item.typeName)
                }
                return x
            }
        }
        switch try c.decode(JSONValue.self) {
        case .string(let s): self = .list([.text(s)])
        case .array(let items) where items.first.map({ if case .number = $0 { true } else { false } }) ?? false:
            self = .list([.ids(try ids(items, at: path))])
        case .array(let items):
            self = .list(try items.enumerated().map { i, item in
                switch item {
                case .string(let s): return .text(s)
                case .array(let inner): return .ids(try ids(inner, at: path + "[\(i)]"))
                default: throw JSONFieldError(path: path + "[\(i)]", expected: shape, got: item.typeName)
                }
            })
        case let other: throw JSONFieldError(path: path, expected: shape, got: other.typeName)
        }
    }
}

/// logit_bias: OpenAI's {"token id": bias} object, or llama.cpp's [[id, bias], …] pairs, where a bias of false
/// bans the token (-100).
struct LogitBiasInput: Decodable, Sendable {
    /// (token id as written, bias) in the order given.
    var pairs: [(String, Double)]
    init(from decoder: any Decoder) throws {
        let path = JSONValueDecoder.path(decoder.codingPath)
        func bias(_ v: JSONValue) throws -> Double {
            switch v {
            case .number(let n): return n.double
            case .bool(false): return -100
            default: throw JSONFieldError(path: path, expected: "numbers between -100 and 100", got: v.typeName)
            }
        }
        switch try decoder.singleValueContainer().decode(JSONValue.self) {
        case .object(let o): pairs = try o.map { ($0.0, try bias($0.1)) }
        case .array(let items):
            pairs = try items.map { item in
                guard case .array(let pair) = item, pair.count == 2, case .number(let id) = pair[0] else {
                    throw JSONFieldError(path: path, expected: "an object {\"token id\": bias} or an array of [id, bias] pairs",
                                         got: item.typeName)
                }
                return (id.text, try bias(pair[1]))
            }
        case let other:
            throw JSONFieldError(path: path, expected: "an object {\"token id\": bias}", got: other.typeName)
        }
    }
}

// MARK: - Sampling (the same fields on /complete, /v1/completions and /v1/chat/completions)

/// The sampling controls of API.md's sampler chain; absent fields take these defaults.
struct SamplingRequest: Decodable, Sendable {
    enum Default {
        static let repeatPenalty = 1.0, repeatLastN = 64, presencePenalty = 0.0, frequencyPenalty = 0.0
        static let minP = 0.0, typicalP = 1.0, minTokens = 0, ignoreEOS = false
    }
    var logitBias: LogitBiasInput?
    var repeatPenalty: Double?
    /// vLLM's name for repeat_penalty; a request gives one or the other.
    var repetitionPenalty: Double?
    var repeatLastN: Int?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var minP: Double?
    var typicalP: Double?
    var minTokens: Int?
    var ignoreEos: Bool?
    var stopTokenIds: [Int]?
}

// MARK: - Routes

/// POST /complete (and its text-body form, where the body is the prompt and the rest is the query string).
struct CompleteRequest: Decodable, Sendable {
    enum Default {
        static let maxTokens = 128, strategy = "top_k", temperature = 0.8, topK = 40, topP = 0.95, logprobs = 0
        static let echo = false, stream = false, cachePrompt = true
    }
    var prompt: PromptInput?
    var maxTokens: Int?
    var strategy: String?
    var temperature: Double?
    var topK: Int?
    var topP: Double?
    /// Random when absent.
    var seed: UInt64?
    var stop: StringOrList?
    var logprobs: Int?
    /// Report each prompt token's log-probability with this many alternatives.
    var promptLogprobs: Int?
    var echo: Bool?
    var stream: Bool?
    var cachePrompt: Bool?
}

/// POST /tokenize (a JSON body, or the text as the body).
struct TokenizeRequest: Decodable, Sendable {
    enum Default { static let explain = false, countOnly = false }
    var text: String?
    var explain: Bool?
    var countOnly: Bool?
}

/// POST /detokenize.
struct DetokenizeRequest: Decodable, Sendable {
    var tokens: [Int]?
}

/// POST /attention: every layer and head unless one is named.
struct AttentionRequest: Decodable, Sendable {
    var text: String?
    var layer: Int?
    var head: Int?
}

/// stream_options of the OpenAI routes.
struct StreamOptions: Decodable, Sendable {
    /// One more chunk before [DONE], with empty choices and the request's usage.
    var includeUsage: Bool?
}

/// POST /v1/completions, with OpenAI's defaults (max_tokens 16, temperature 1, top_p 1; top_k only when given).
struct OpenAICompletionRequest: Decodable, Sendable {
    enum Default {
        static let maxTokens = 16, n = 1, echo = false, stream = false
    }
    var model: String?
    var prompt: PromptsInput?
    var maxTokens: Int?
    var n: Int?
    var echo: Bool?
    var stream: Bool?
    var streamOptions: StreamOptions?
    /// The number of alternatives to report per token (0 … 5); absent: no logprobs.
    var logprobs: Int?
}

/// The fields /v1/completions and /v1/chat/completions share, with OpenAI's defaults (temperature 1, top_p 1;
/// top_k only when given), beside the sampling controls (SamplingRequest).
struct OpenAISamplingRequest: Decodable, Sendable {
    enum Default { static let temperature = 1.0, topP = 1.0, topK = 40, cachePrompt = true }
    var stop: StringOrList?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var seed: UInt64?
    var cachePrompt: Bool?
}

/// One chat message: a role and its content (Chat.messages checks what they mean).
struct ChatMessageInput: Decodable, Sendable {
    /// A string, or OpenAI's array of parts, of which this model reads {"type": "text", "text": …} only.
    struct Content: Decodable, Sendable {
        var text: String
        init(from decoder: any Decoder) throws {
            let path = JSONValueDecoder.path(decoder.codingPath)
            switch try decoder.singleValueContainer().decode(JSONValue.self) {
            case .string(let s): text = s
            case .array(let parts):
                text = ""
                for (i, part) in parts.enumerated() {
                    guard part["type"] == .string("text"), case .string(let t)? = part["text"] else {
                        throw JSONFieldError(path: path + "[\(i)]",
                                             expected: "a text part {\"type\": \"text\", \"text\": …} (this model reads text only)",
                                             got: part["type"].map { "a part of type \($0.text)" } ?? part.typeName)
                    }
                    text += t
                }
            case let other:
                throw JSONFieldError(path: path, expected: "a string or an array of text parts", got: other.typeName)
            }
        }
    }
    var role: String?
    var content: Content?
}

/// POST /v1/chat/completions and POST /apply-template.
struct ChatRequest: Decodable, Sendable {
    enum Default { static let n = 1, stream = false, logprobs = false, topLogprobs = 0 }
    var messages: [ChatMessageInput]?
    var model: String?
    var chatTemplate: String?
    /// OpenAI's current name for max_tokens, which is still read.
    var maxCompletionTokens: Int?
    var maxTokens: Int?
    var n: Int?
    var stream: Bool?
    var streamOptions: StreamOptions?
    var logprobs: Bool?
    var topLogprobs: Int?
}

// MARK: - Ranges

/// Range checks with API.md's messages: the field, and what it allows.
enum Limits {
    static func int(_ v: Int?, _ name: String, default d: Int, in range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let v else { return d }
        guard range.contains(v) else {
            throw .invalid("\(name) must be between \(range.lowerBound) and \(range.upperBound)", param: name)
        }
        return v
    }

    static func double(_ v: Double?, _ name: String, default d: Double, check: (Double) -> Bool, range: String)
        throws(APIError) -> Double {
        guard let v else { return d }
        guard v.isFinite, check(v) else { throw .invalid("\(name) must be \(range)", param: name) }
        return v
    }
}

extension Params {
    /// The request's fields as `T`; a field of the wrong type is a 400 naming its JSON path.
    func decode<T: Decodable>(_ type: T.Type) throws(APIError) -> T {
        do {
            return try JSONValueDecoder(textValues: fromQuery).decode(T.self, from: .object(values.map { ($0.key, $0.value) }))
        } catch {
            // The message names the whole path (stream_options.include_usage, messages[2].content); `param` the
            // request's own field, as OpenAI's errors do.
            let top = error.path.prefix { $0 != "." && $0 != "[" }
            throw .invalid(error.description, param: top.isEmpty ? nil : String(top),
                           code: error.got == "missing" ? "missing_field" : "invalid_type")
        }
    }
}
