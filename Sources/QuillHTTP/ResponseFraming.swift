// How a response goes on the wire, decided without I/O or a clock: its framing fields (Date, Server,
// Content-Length or chunked, Connection), whether the body is gzipped, whether a stream is written or cancelled,
// and whether the connection stays open after it (RFC 9112 §6, §9.3). HTTPConnection asks, then writes.
import HTTPTypes

struct ResponseFraming {
    /// What the request said about itself.
    struct Request {
        var version: HTTPVersion
        var isHead: Bool
        /// The request allows keep-alive (HTTP/1.1 without `Connection: close`, or 1.0 with `keep-alive`).
        var keepAlive: Bool
        var acceptsGzip: Bool
    }

    /// The response's body as the handler gave it.
    enum Body {
        case bytes([UInt8])
        case stream
    }

    /// Framing fields, in order, before the handler's own.
    var framingFields: [(String, String)] = []
    /// Fields added beside the handler's (Vary, Content-Encoding).
    var extraFields = HTTPFields()
    /// The bytes to send after the head (empty for HEAD, 204, 304, and streams).
    var bodyBytes: [UInt8] = []
    /// The handler's stream is written (false: it is cancelled, for HEAD, 204 and 304).
    var writesStream = false
    /// The stream's elements go out as chunks (HTTP/1.1); else the body ends with the connection.
    var chunked = false
    /// The connection stays open for the next request.
    var keepAlive = false

    /// The decision for a final (≥ 200) status. `closing`: the server is shutting down or the peer has closed.
    /// `date`: the Date field's value, for a response that has none.
    static func decide(status code: Int, fields: HTTPFields, body: Body, request: Request, closing: Bool,
                       gzipMinBytes: Int, serverName: String, date: @autoclosure () -> String) -> ResponseFraming {
        precondition(code >= 200, "ResponseFraming: an interim status does not end an exchange")
        var f = ResponseFraming()
        let handlerCloses = fields[values: .connection].flatMap(HTTPRequestParser.listElements)
            .contains { $0.trimmingWhiteSpace.lowercased() == "close" }
        f.keepAlive = request.keepAlive && !closing && !handlerCloses
        if !fields.contains(.date) { f.framingFields.append(("Date", date())) }
        if !fields.contains(.server) { f.framingFields.append(("Server", serverName)) }
        let noBody = ResponseEncoding.forbidsBody(code)
        let http11 = request.version == .http11
        switch body {
        case let .bytes(bytes):
            if !noBody {
                var out = bytes
                if bytes.count >= gzipMinBytes && !fields.contains(.contentEncoding) {
                    f.extraFields[.vary] = "Accept-Encoding"
                    if request.acceptsGzip, let compressed = Gzip.compress(bytes), compressed.count < bytes.count {
                        out = compressed
                        f.extraFields[.contentEncoding] = "gzip"
                    }
                }
                // HEAD gets the length a GET would have had (RFC 9110 §9.3.2), and no body.
                f.framingFields.append(("Content-Length", String(out.count)))
                if !request.isHead { f.bodyBytes = out }
            }
        case .stream:
            if noBody || request.isHead {
                // Nothing is written; HEAD still says how a GET's body would be framed.
                if !noBody && http11 { f.framingFields.append(("Transfer-Encoding", "chunked")) }
            } else if http11 {
                f.framingFields.append(("Transfer-Encoding", "chunked"))
                f.chunked = true
                f.writesStream = true
            } else {
                // HTTP/1.0 has no chunked coding: the body ends when the connection does (RFC 9112 §6.3).
                f.keepAlive = false
                f.writesStream = true
            }
        }
        if !f.keepAlive {
            f.framingFields.append(("Connection", "close"))
        } else if request.version == .http10 {
            f.framingFields.append(("Connection", "keep-alive"))
        }
        return f
    }
}
