// QuillHTTP: the HTTP/1.1 server on POSIX sockets and Dispatch (listener, connections, parser, responses, SSE).
// It hands complete requests to a handler and knows nothing of models. This file is the module's public surface:
// the request a handler receives, the response it returns, the limits, and the access-log record.
import HTTPTypes

/// The protocol version of a request line (`HTTP/1.0` or `HTTP/1.1`; anything else is answered 505).
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }
    public static let http10 = HTTPVersion(major: 1, minor: 0)
    public static let http11 = HTTPVersion(major: 1, minor: 1)
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// One complete request: head and whole body (chunked bodies are already de-chunked).
public struct HTTPServerRequest: Sendable {
    public var method: HTTPRequest.Method
    /// The raw request-target of the request line, e.g. `/complete?max_tokens=5`.
    public var target: String
    /// The part of `target` before `?`, not percent-decoded.
    public var path: String
    /// The part of `target` after the first `?`, not percent-decoded; nil when there is no `?`.
    public var query: String?
    public var version: HTTPVersion
    public var headerFields: HTTPFields
    public var body: [UInt8]
    /// "ADDRESS:PORT" of the peer (IPv6 in brackets).
    public var remoteAddress: String

    public init(method: HTTPRequest.Method, target: String, version: HTTPVersion = .http11,
                headerFields: HTTPFields = [:], body: [UInt8] = [], remoteAddress: String = "") {
        self.method = method
        self.target = target
        if let q = target.firstIndex(of: "?") {
            path = String(target[..<q])
            query = String(target[target.index(after: q)...])
        } else {
            path = target
            query = nil
        }
        self.version = version
        self.headerFields = headerFields
        self.body = body
        self.remoteAddress = remoteAddress
    }
}

/// What a handler answers. The server adds `Content-Length` or `Transfer-Encoding: chunked`, `Date`,
/// `Connection`, and gzip (`Content-Encoding`, `Vary`) where the client accepts it and the body is large enough.
public struct HTTPServerResponse: Sendable {
    public enum Body: Sendable {
        /// A complete body, sent with Content-Length.
        case bytes([UInt8])
        /// A streamed body: each element is written as soon as the socket has room (chunked on HTTP/1.1,
        /// close-delimited on HTTP/1.0). When the client goes away the server stops iterating the stream,
        /// so the stream's `onTermination` runs with `.cancelled` (how a generation learns to stop).
        case stream(AsyncStream<[UInt8]>)
    }
    public var status: HTTPResponse.Status
    public var headerFields: HTTPFields
    public var body: Body

    public init(status: HTTPResponse.Status, headerFields: HTTPFields = [:], body: Body = .bytes([])) {
        self.status = status
        self.headerFields = headerFields
        self.body = body
    }
}

/// Answers one request. Called on a Swift concurrency task; may suspend as long as it likes.
public typealias HTTPHandler = @Sendable (HTTPServerRequest) async -> HTTPServerResponse

/// Limits and timeouts; each has the default of the quill-server issue and each is configurable.
public struct HTTPServerConfiguration: Sendable {
    /// Address to bind: "127.0.0.1", "0.0.0.0", "::" (IPv6 and IPv4), "::1", or a host name.
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 picks a free one (read it back from `HTTPServer.port`).
    public var port: Int = 8080
    public var backlog: Int32 = 512
    /// Longest request line (414 beyond) and longest header section (431 beyond), in bytes.
    public var maxHeaderBytes: Int = 16 * 1024
    /// Largest request body, declared or chunked (413 beyond).
    public var maxBodyBytes: Int = 1 << 20
    /// Open connections; one more is answered 503 and closed.
    public var maxConnections: Int = 1024
    /// Seconds from the first byte of a request until its head (and body) have arrived; then 408 and close.
    public var requestTimeout: Double = 10
    /// Seconds a keep-alive connection may sit idle between requests before it is closed.
    public var idleTimeout: Double = 30
    /// While a response is being written, the peer must read at least this many bytes per second, measured over
    /// `sendRateWindow` seconds; a slower reader is cut off (and its streamed generation cancelled).
    public var minSendBytesPerSecond: Int = 256
    public var sendRateWindow: Double = 10
    /// Bodies at least this large are gzip-compressed for clients that send `Accept-Encoding: gzip`.
    public var gzipMinBytes: Int = 1024
    /// The `Server` header.
    public var serverName: String = "quill"
    /// TLS: when set, every connection of this server speaks TLS (1.2 or later) with this certificate and key.
    /// Run a second server on another port for plain HTTP beside it.
    public var tls: TLSContext? = nil
    /// Seconds a TLS connection has from its accept to the end of its handshake; then it is closed.
    public var tlsHandshakeTimeout: Double = 10
    /// Writes the response to an error the HTTP layer answers itself (400, 408, 413, 414, 431, 500, 501, 503, 505):
    /// the service's error schema. The default is a line of text.
    public var errorResponse: @Sendable (HTTPLayerError) -> HTTPServerResponse = HTTPLayerError.plainResponse

    public init() {}
}

/// One line of the access log, reported when a response has been written (or the connection failed).
public struct AccessLogEntry: Sendable {
    public var method: String
    public var target: String
    public var status: Int
    public var bytesSent: Int
    public var durationSeconds: Double
    public var remoteAddress: String
    /// Why the response was cut short, when it was: its status went out but not all of its body.
    public var cut: String?
    public init(method: String, target: String, status: Int, bytesSent: Int, durationSeconds: Double,
                remoteAddress: String, cut: String? = nil) {
        self.cut = cut
        self.method = method
        self.target = target
        self.status = status
        self.bytesSent = bytesSent
        self.durationSeconds = durationSeconds
        self.remoteAddress = remoteAddress
    }
}

/// Why the server could not start.
public enum HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    case addressResolution(host: String, message: String)
    case socket(operation: String, errno: Int32, message: String)
    case alreadyStarted

    public var description: String {
        switch self {
        case let .addressResolution(host, message): "cannot resolve \(host): \(message)"
        case let .socket(operation, errno, message): "\(operation) failed: \(message) (errno \(errno))"
        case .alreadyStarted: "the server is already running"
        }
    }
}
