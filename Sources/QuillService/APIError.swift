// The error every route answers with: a status and API.md's body
// `{"error": {"message", "type", "param", "code"}}`. Messages never echo more than 100 bytes of user input.

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

    public static func wrongType(_ param: String, expected: String, got: JSONValue) -> APIError {
        APIError(status: 400, message: "\(param) must be \(expected), not \(got.typeName)", param: param,
                 code: "invalid_type")
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
        .object([("error", .object([
            ("message", .string(message)), ("type", .string(type)),
            ("param", param.map { .string($0) } ?? .null), ("code", .string(code)),
        ]))])
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
