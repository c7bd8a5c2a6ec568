// Bytes of responses: the status line and head (RFC 9112 §4, §6), chunk framing (§7.1), the Date field, and the
// errors the HTTP layer answers itself (their body comes from the service). Deciding what to send is the
// connection's job.
import Glibc
import HTTPTypes

/// An error answered by the HTTP layer itself, before any handler runs (or instead of one). Its body is the
/// service's business: `HTTPServerConfiguration.errorResponse` writes it (quill-server gives API.md's JSON error).
public struct HTTPLayerError: Sendable, Equatable {
    public var status: Int
    /// A machine-readable code: `bad_request`, `uri_too_long`, `headers_too_large`, `body_too_large`,
    /// `not_implemented`, `http_version_not_supported`, `request_timeout`, `too_many_connections`, `internal_error`.
    public var code: String
    public var message: String

    init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    init(_ error: HTTPParseError, limits: HTTPServerConfiguration) {
        switch error {
        case let .badRequest(message):
            self.init(status: 400, code: "bad_request", message: message)
        case .uriTooLong:
            self.init(status: 414, code: "uri_too_long",
                      message: "the request line is longer than \(limits.maxHeaderBytes) bytes")
        case .headersTooLarge:
            self.init(status: 431, code: "headers_too_large",
                      message: "the header section is longer than \(limits.maxHeaderBytes) bytes")
        case .bodyTooLarge:
            self.init(status: 413, code: "body_too_large",
                      message: "the request body is larger than \(limits.maxBodyBytes) bytes")
        case let .notImplemented(message):
            self.init(status: 501, code: "not_implemented", message: message)
        case let .versionNotSupported(version):
            self.init(status: 505, code: "http_version_not_supported",
                      message: "\(version) is not supported; use HTTP/1.1 or HTTP/1.0")
        }
    }

    static func requestTimeout(_ seconds: Double) -> Self {
        .init(status: 408, code: "request_timeout",
              message: "the request did not arrive completely within \(formatSeconds(seconds)) seconds")
    }

    static func tooManyConnections(_ limit: Int) -> Self {
        .init(status: 503, code: "too_many_connections",
              message: "the server has \(limit) open connections, its limit; retry shortly")
    }

    /// The HTTP layer's own body when the service gives none: `STATUS CODE: MESSAGE` as text, with `Retry-After: 1`
    /// on a 503.
    public static func plainResponse(_ error: HTTPLayerError) -> HTTPServerResponse {
        var fields: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        if error.status == 503 { fields[.retryAfter] = "1" }
        return HTTPServerResponse(status: HTTPResponse.Status(code: error.status), headerFields: fields,
                                  body: .bytes(Array("\(error.status) \(error.code): \(error.message)\n".utf8)))
    }

    /// The response for this error, as the configuration writes it.
    func response(_ configuration: HTTPServerConfiguration) -> HTTPServerResponse {
        configuration.errorResponse(self)
    }
}

private func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() && abs(seconds) < 1e15 ? String(Int(seconds)) : String(seconds)
}

// MARK: - Head

enum ResponseEncoding {
    /// Statuses that never have a body or framing fields (RFC 9110 §15.2, §15.3.5, §15.4.5).
    static func forbidsBody(_ code: Int) -> Bool {
        (100...199).contains(code) || code == 204 || code == 304
    }

    /// The response head, ending with the blank line. `framing` fields come first, then the handler's fields
    /// except those the server owns (framing and `Connection`).
    static func head(status: HTTPResponse.Status, framingFields: [(String, String)], fields: HTTPFields) -> [UInt8] {
        var text = "HTTP/1.1 \(status.code) \(reasonPhrase(status))\r\n"
        for (name, value) in framingFields { text += "\(name): \(value)\r\n" }
        for field in fields where !serverOwned.contains(field.name) {
            text += "\(field.name.rawName): \(field.value)\r\n"
        }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// Fields whose value only the server can know.
    static let serverOwned: Set<HTTPField.Name> = [
        .contentLength, .transferEncoding, .connection, HTTPField.Name("Keep-Alive") ?? .connection,
    ]

    static func reasonPhrase(_ status: HTTPResponse.Status) -> String {
        if !status.reasonPhrase.isEmpty { return status.reasonPhrase }
        switch status.code {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 406: return "Not Acceptable"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return ""
        }
    }

    static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// One chunk of a chunked body: size in hex, CRLF, data, CRLF. Never call with empty data (that ends the body).
    static func appendChunk(_ data: [UInt8], to output: inout [UInt8]) {
        output.append(contentsOf: String(data.count, radix: 16).utf8)
        output.append(contentsOf: [ASCII.cr, ASCII.lf])
        output.append(contentsOf: data)
        output.append(contentsOf: [ASCII.cr, ASCII.lf])
    }

    /// The last chunk and an empty trailer section.
    static let lastChunk = Array("0\r\n\r\n".utf8)

    /// IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func httpDate(_ time: time_t = time(nil)) -> String {
        var t = time
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday) % 7]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon) % 12]) "
            + "\(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
