// The error every route answers with: a status and API.md's body
// `{"error": {"message", "type", "param", "code"}}`. Messages never echo more than 100 bytes of user input.
import QuillHTTP
import QuillJSON

public struct APIError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    /// invalid_request_error, authentication_error, not_found_error, overloaded_error or server_error.
    public var type: String
    public var param: String?
    public var code: String
    /// Seconds for a `Retry-After` header (503, 429).
    public var retryAfter: Int?
    /// Methods for an `Allow` header (405).
    public var allow: [String]?

    public init(status: Int, message: String, type: String = "invalid_request_error", param: String? = nil,
                code: String, retryAfter: Int? = nil, allow: [String]? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
        self.allow = allow
    }

    public static func invalid(_ message: String, param: String? = nil, code: String = "invalid_value") -> APIError {
        APIError(status: 400, message: message, param: param, code: code)
    }

    public static func missing(_ param: String) -> APIError {
        APIError(status: 400, message: "\(param) is required", param: param, code: "missing_field")
    }

    public static func notFound(_ message: String) -> APIError {
        APIError(status: 404, message: message, type: "not_found_error", code: "not_found")
    }

    public static func methodNotAllowed(_ method: String, path: String, allow: [String]) -> APIError {
        APIError(status: 405, message: "\(clip(method)) is not allowed on \(clip(path)); use \(allow.joined(separator: " or "))",
                 code: "method_not_allowed", allow: allow)
    }

    public static let unauthorized = APIError(
        status: 401, message: "a valid API key is required: send the header 'Authorization: Bearer KEY'",
        type: "authentication_error", code: "invalid_api_key")

    public static func overloaded(_ message: String, retryAfter: Int = 1) -> APIError {
        APIError(status: 503, message: message, type: "overloaded_error", code: "overloaded", retryAfter: retryAfter)
    }

    public static func server(_ message: String) -> APIError {
        APIError(status: 500, message: message, type: "server_error", code: "internal_error")
    }

    public var json: JSONValue {
        JSONValue(encoding: ErrorBody(error: .init(message: message, type: type, param: Nullable(param), code: code)))
    }

    /// At most 100 bytes of user input, cut at a character boundary, with "…" when cut; control characters escaped.
    public static func clip(_ s: String, bytes: Int = 100) -> String {
        var out = ""
        var used = 0
        for ch in s {
            let piece = ch.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
                ? String(ch) : ch.unicodeScalars.map { "\\u{\(String($0.value, radix: 16))}" }.joined()
            if used + piece.utf8.count > bytes { return out + "…" }
            out += piece
            used += piece.utf8.count
        }
        return out
    }
}

/// What the model side (ModelActor, LoadedModel) refuses, in its own terms. The API turns each into a status and
/// API.md's error body at one edge: `APIError.init(_:)`.
public enum ModelServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Every place in the batch and the queue is taken.
    case busy(active: Int, waiting: Int)
    /// This model cannot run the request as given (a generation, scoring or attention refused it).
    case invalidRequest(String, param: String? = nil)
    /// Characters a character-level model does not know, in `param`: how many, and the first few.
    case unknownCharacters(param: String, count: Int, characters: [String])
    /// `param` cannot be tokenized, with the tokenizer's reason when it gave one.
    case untokenizable(param: String, reason: String?)

    public var description: String {
        switch self {
        case let .busy(active, waiting):
            "the server is busy: \(active) generations running and \(waiting) waiting; retry shortly"
        case let .invalidRequest(message, _): message
        case let .unknownCharacters(param, count, characters):
            "\(param) has \(count) character\(count == 1 ? "" : "s") that this character-level model does not know: "
                + characters.prefix(10).map { APIError.clip($0, bytes: 12) }.joined(separator: ", ")
        case let .untokenizable(param, reason):
            "\(param) cannot be tokenized" + (reason.map { ": \(APIError.clip($0))" } ?? "")
        }
    }
}

extension APIError {
    /// The one place where the model side's refusals become HTTP statuses.
    public init(_ error: ModelServiceError) {
        switch error {
        case .busy: self = .overloaded(error.description, retryAfter: 1)
        case let .invalidRequest(message, param): self = .invalid(message, param: param)
        case let .unknownCharacters(param, _, _):
            self = APIError(status: 400, message: error.description, param: param, code: "unknown_characters")
        case let .untokenizable(param, _): self = .invalid(error.description, param: param)
        }
    }
}

extension APIError {
    /// An error the HTTP layer answered itself (a framing error, a timeout, the connection limit), in API.md's
    /// schema: `overloaded_error` with `Retry-After: 1` for a 503, `server_error` for another 5xx, else
    /// `invalid_request_error`.
    public init(_ error: HTTPLayerError) {
        let type = error.status == 503 ? "overloaded_error" : error.status >= 500 ? "server_error" : "invalid_request_error"
        self.init(status: error.status, message: error.message, type: type, code: error.code,
                  retryAfter: error.status == 503 ? 1 : nil)
    }
}
