// Test helpers: a raw-socket HTTP client (blocking Glibc socket with a receive timeout, driven from its own
// Dispatch queue so the cooperative thread pool never blocks), a test server with a few routes, and gunzip.
import COpenSSL
import CZlib
import Dispatch
import Glibc
import HTTPTypes
import Testing
@testable import QuillHTTP

struct ClientError: Error, CustomStringConvertible {
    var description: String
}

/// One response as the raw client read it.
struct ClientResponse {
    var status: Int
    var reason: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
    var text: String { String(decoding: body, as: UTF8.self) }

    /// The `code` of an API.md error body.
    var errorCode: String? {
        guard let range = text.range(of: "\"code\":\"") else { return nil }
        return String(text[range.upperBound...].prefix { $0 != "\"" })
    }
    var errorType: String? {
        guard let range = text.range(of: "\"type\":\"") else { return nil }
        return String(text[range.upperBound...].prefix { $0 != "\"" })
    }
}

extension String {
    /// Foundation-free substring search for test assertions.
    func range(of needle: String) -> Range<String.Index>? {
        var start = startIndex
        while start < endIndex {
            if self[start...].hasPrefix(needle) { return start..<index(start, offsetBy: needle.count) }
            start = index(after: start)
        }
        return nil
    }
}

/// A blocking TCP client. Every operation runs on the client's own serial queue (an overcommitting Dispatch queue,
/// so a blocked `recv` never starves the Swift concurrency pool that the server's handlers need).
final class RawClient: @unchecked Sendable {
    // `fd` is immutable; `buffer` is confined to `queue` (receiving); sends run on `sendQueue`, so a trickling
    // sender and a blocked reader do not wait for each other.
    let fd: Int32
    private let queue = DispatchQueue(label: "quill.test.client.receive")
    private let sendQueue = DispatchQueue(label: "quill.test.client.send")
    private let closed = Locked(false)
    private var buffer: [UInt8] = []
    /// After `startTLS`, every send and receive goes through this TLS client session.
    private var ssl: OpaquePointer?
    private var sslContext: OpaquePointer?

    private init(fd: Int32) { self.fd = fd }

    deinit {
        if let ssl { SSL_free(ssl) }
        if let sslContext { SSL_CTX_free(sslContext) }
    }

    /// A TLS handshake on the connected socket (blocking, under the receive timeout), offering versions up to
    /// `maxVersion` (e.g. TLS1_2_VERSION) and trusting the PEM certificate `caFile` when given (else no
    /// verification). Throws with OpenSSL's reason when the handshake fails. Returns the version agreed.
    @discardableResult
    func startTLS(maxVersion: Int32? = nil, minVersion: Int32? = nil, caFile: String? = nil) async throws -> String {
        try await run {
            guard let context = SSL_CTX_new(TLS_client_method()) else { throw ClientError(description: "SSL_CTX_new") }
            self.sslContext = context
            if let maxVersion {
                SSL_CTX_ctrl(context, SSL_CTRL_SET_MAX_PROTO_VERSION, Int(maxVersion), nil)
            }
            if let minVersion {
                SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(minVersion), nil)
                // OpenSSL 3 refuses TLS 1.0 and 1.1 at its default security level, even as a client.
                SSL_CTX_set_security_level(context, 0)
                SSL_CTX_set_cipher_list(context, "DEFAULT:@SECLEVEL=0")
            }
            if let caFile {
                guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                    throw ClientError(description: "cannot load \(caFile)")
                }
                SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            }
            guard let ssl = SSL_new(context) else { throw ClientError(description: "SSL_new") }
            self.ssl = ssl
            if caFile != nil { SSL_set1_host(ssl, "localhost") }
            SSL_set_fd(ssl, self.fd)
            ERR_clear_error()
            guard SSL_connect(ssl) == 1 else {
                var reasons: [String] = []
                while case let code = ERR_get_error(), code != 0 {
                    var text = [CChar](repeating: 0, count: 256)
                    ERR_error_string_n(code, &text, text.count)
                    reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                }
                throw ClientError(description: "TLS handshake failed: \(reasons.joined(separator: "; "))")
            }
            return String(cString: SSL_get_version(ssl))
        }
    }

    /// Connects to host:port with a receive timeout; `receiveBuffer` shrinks SO_RCVBUF (a slow reader).
    static func connect(port: Int, host: String = "127.0.0.1", timeout: Double = 5,
                        receiveBuffer: Int32? = nil) throws -> RawClient {
        let family = host.contains(":") ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError(description: "socket: errno \(errno)") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        let status: Int32
        if family == AF_INET6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET6, host, &address.sin6_addr)
            status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &address.sin_addr)
            status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard status == 0 else {
            let code = errno
            Glibc.close(fd)
            throw ClientError(description: "connect to \(host):\(port): errno \(code)")
        }
        return RawClient(fd: fd)
    }

    /// Closes the socket (once; later calls do nothing).
    func close() {
        let wasClosed = closed.withLock { closed in
            defer { closed = true }
            return closed
        }
        if !wasClosed { _ = Glibc.close(fd) }
    }

    private func run<T: Sendable>(on queue: DispatchQueue? = nil,
                                  _ body: @escaping @Sendable () throws -> T) async throws -> T {
        // The result crosses threads through a lock, not only the continuation: ThreadSanitizer sees a pthread
        // lock's ordering, but not the runtime's when the continuation is resumed before the task awaits it.
        let box = Locked<Result<T, any Error>?>(nil)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            (queue ?? self.queue).async {
                box.withLock { $0 = Result { try body() } }
                continuation.resume()
            }
        }
        return try box.withLock { $0! }.get()
    }

    // MARK: - Sending

    func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) async throws {
        try await run(on: sendQueue) { try self.sendNow(bytes) }
    }

    /// One send() per byte (TCP_NODELAY is on), with a pause every few bytes so the server sees many reads.
    func sendByteByByte(_ bytes: [UInt8]) async throws {
        try await run(on: sendQueue) {
            for (i, byte) in bytes.enumerated() {
                try self.sendNow([byte])
                if i % 8 == 7 { usleep(200) }
            }
        }
    }

    private func sendNow(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { raw -> Int in
                if let ssl { return Int(SSL_write(ssl, raw.baseAddress, Int32(raw.count))) }
                return Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            if ssl != nil && n <= 0 { throw ClientError(description: "TLS write failed") }
            if n < 0 {
                if errno == EINTR { continue }
                throw ClientError(description: "send: errno \(errno)")
            }
            offset += n
        }
    }

    // MARK: - Receiving

    /// Reads more bytes into the buffer; false at EOF (or a reset, which ends a connection just the same).
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { raw -> Int in
                guard let ssl else { return recv(fd, raw.baseAddress, raw.count, 0) }
                let n = SSL_read(ssl, raw.baseAddress, Int32(raw.count))
                if n > 0 { return Int(n) }
                let error = SSL_get_error(ssl, n)
                // close_notify, or a TCP close with or without it, ends the stream like EOF.
                if error == SSL_ERROR_ZERO_RETURN || error == SSL_ERROR_SYSCALL && errno == 0 || error == SSL_ERROR_SSL { return 0 }
                return -1  // errno holds EAGAIN on the receive timeout
            }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return true
            }
            if n == 0 { return false }
            let code = errno
            if code == EINTR { continue }
            if code == ECONNRESET { return false }
            if code == EAGAIN || code == EWOULDBLOCK { throw ClientError(description: "receive timed out") }
            throw ClientError(description: "recv: errno \(code)")
        }
    }

    private func readLine() throws -> String {
        while true {
            if let lf = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<lf])
                if line.last == 13 { line.removeLast() }
                buffer.removeSubrange(...lf)
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { throw ClientError(description: "connection closed inside a response head") }
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw ClientError(description: "connection closed inside a body") }
        }
        let bytes = Array(buffer[..<count])
        buffer.removeSubrange(..<count)
        return bytes
    }

    /// Reads one response; `toHead` means the request was HEAD (no body whatever the framing fields say).
    func readResponse(toHead: Bool = false) async throws -> ClientResponse {
        try await run { try self.readResponseNow(toHead: toHead) }
    }

    private func readResponseNow(toHead: Bool) throws -> ClientResponse {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0] == "HTTP/1.1", let status = Int(parts[1]) else {
            throw ClientError(description: "bad status line: \(statusLine)")
        }
        var response = ClientResponse(status: status, reason: parts.count > 2 ? String(parts[2]) : "",
                                      headers: [], body: [])
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw ClientError(description: "bad field: \(line)") }
            response.headers.append((String(line[..<colon]),
                                     String(line[line.index(after: colon)...].drop { $0 == " " })))
        }
        if toHead || (100...199).contains(status) || status == 204 || status == 304 { return response }
        if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.prefix { $0 != ";" }, radix: 16) else {
                    throw ClientError(description: "bad chunk size: \(sizeLine)")
                }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                response.body += try readExactly(size)
                guard try readLine().isEmpty else { throw ClientError(description: "chunk without CRLF") }
            }
        } else if let length = response.header("Content-Length").flatMap({ Int($0) }) {
            response.body = try readExactly(length)
        } else {
            while try fill() {}
            response.body = buffer
            buffer = []
        }
        return response
    }

    /// Reads the first element of a chunked body (after the head): for streams that never end.
    func readChunk() async throws -> [UInt8] {
        try await run {
            let sizeLine = try self.readLine()
            guard let size = Int(sizeLine, radix: 16) else { throw ClientError(description: "bad chunk size") }
            let data = try self.readExactly(size)
            _ = try self.readLine()
            return data
        }
    }

    /// Waits for the server to close: true at EOF with no further bytes, false if bytes arrive or on timeout.
    func isClosedByServer() async -> Bool {
        (try? await run {
            if !self.buffer.isEmpty { return false }
            return try !self.fill()
        }) ?? false
    }

    /// Everything until the server closes.
    func readToEnd() async throws -> [UInt8] {
        try await run {
            while try self.fill() {}
            defer { self.buffer = [] }
            return self.buffer
        }
    }
}

// MARK: - The test server

/// What tests observe from inside handlers: which streams were cancelled, how many requests each route saw.
final class Probe: Sendable {
    private let cancelled = Locked<Set<String>>([])
    private let logs = Locked<[AccessLogEntry]>([])

    func markCancelled(_ id: String) { _ = cancelled.withLock { $0.insert(id) } }
    func wasCancelled(_ id: String) -> Bool { cancelled.withLock { $0.contains(id) } }
    func record(_ entry: AccessLogEntry) { logs.withLock { $0.append(entry) } }
    var accessLog: [AccessLogEntry] { logs.withLock { $0 } }
}

/// Polls `condition` every 10 ms until it holds or `timeout` seconds pass.
func eventually(timeout: Double = 3, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

func queryValue(_ request: HTTPServerRequest, _ name: String) -> String? {
    for pair in (request.query ?? "").split(separator: "&") {
        let kv = pair.split(separator: "=", maxSplits: 1)
        if kv.first.map(String.init) == name { return kv.count > 1 ? String(kv[1]) : "" }
    }
    return nil
}

enum TestServer {
    static let bigText = String(repeating: "Now is the winter of our discontent made glorious summer. ", count: 100)

    /// Routes: /echo (method, target and body back), /stream?n= (n chunks, 20 ms apart), /forever?id= (ticks until
    /// cancelled; records the cancellation), /flood?id= (64 KiB chunks as fast as taken), /slow?ms=, /big (5.8 KB),
    /// /status?code=.
    static func handler(_ probe: Probe) -> HTTPHandler {
        { request in
            switch request.path {
            case "/echo":
                let text = "\(request.method.rawValue) \(request.target)\n"
                return HTTPServerResponse(status: .ok, headerFields: [.contentType: "text/plain"],
                                          body: .bytes(Array(text.utf8) + request.body))
            case "/stream":
                let n = queryValue(request, "n").flatMap { Int($0) } ?? 3
                let stream = AsyncStream<[UInt8]> { continuation in
                    let task = Task {
                        for i in 0..<n {
                            try? await Task.sleep(for: .milliseconds(20))
                            continuation.yield(Array("chunk \(i)\n".utf8))
                        }
                        continuation.finish()
                    }
                    continuation.onTermination = { _ in task.cancel() }
                }
                return HTTPServerResponse(status: .ok, headerFields: [.contentType: "text/event-stream"],
                                          body: .stream(stream))
            case "/forever", "/flood":
                let id = queryValue(request, "id") ?? "?"
                let flood = request.path == "/flood"
                let stream = AsyncStream<[UInt8]>(bufferingPolicy: .bufferingNewest(4)) { continuation in
                    let task = Task {
                        var i = 0
                        while !Task.isCancelled {
                            continuation.yield(flood ? [UInt8](repeating: 120, count: 65536) : Array("tick \(i)\n".utf8))
                            i += 1
                            try? await Task.sleep(for: .milliseconds(flood ? 1 : 10))
                        }
                    }
                    continuation.onTermination = { reason in
                        if case .cancelled = reason { probe.markCancelled(id) }
                        task.cancel()
                    }
                }
                return HTTPServerResponse(status: .ok, body: .stream(stream))
            case "/slow":
                let ms = queryValue(request, "ms").flatMap { Int($0) } ?? 300
                try? await Task.sleep(for: .milliseconds(ms))
                return HTTPServerResponse(status: .ok, body: .bytes(Array("slow done".utf8)))
            case "/big":
                return HTTPServerResponse(status: .ok, headerFields: [.contentType: "text/plain"],
                                          body: .bytes(Array(bigText.utf8)))
            case "/status":
                let code = queryValue(request, "code").flatMap { Int($0) } ?? 200
                return HTTPServerResponse(status: .init(code: code), body: .bytes(Array("status".utf8)))
            default:
                return HTTPServerResponse(status: .notFound, body: .bytes(Array("no route".utf8)))
            }
        }
    }

    /// A configuration with short timeouts, on 127.0.0.1 and a free port.
    static func configuration(_ adjust: (inout HTTPServerConfiguration) -> Void = { _ in }) -> HTTPServerConfiguration {
        var configuration = HTTPServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.requestTimeout = 5
        configuration.idleTimeout = 5
        configuration.errorResponse = apiError
        adjust(&configuration)
        return configuration
    }

    /// The service's side of the HTTP layer's errors, as quill-server writes them (API.md's
    /// `{"error":{"message","type","param","code"}}`), so these tests see what clients of the real server see.
    static let apiError: @Sendable (HTTPLayerError) -> HTTPServerResponse = { e in
        func string(_ text: String) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"", "\\": out += "\\" + String(scalar)
                case _ where scalar.value < 0x20: out += "\\u00" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        let type = e.status >= 500 ? (e.status == 503 ? "overloaded_error" : "server_error") : "invalid_request_error"
        let json = "{\"error\":{\"message\":\(string(e.message)),\"type\":\(string(type)),\"param\":null,\"code\":\(string(e.code))}}"
        var fields: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if e.status == 503 { fields[.retryAfter] = "1" }
        return HTTPServerResponse(status: .init(code: e.status), headerFields: fields, body: .bytes(Array(json.utf8)))
    }

    /// Starts a server, runs `body`, and always shuts the server down.
    static func with(_ adjust: (inout HTTPServerConfiguration) -> Void = { _ in }, probe: Probe = Probe(),
                     _ body: (HTTPServer, Probe) async throws -> Void) async throws {
        let server = HTTPServer(configuration: configuration(adjust), handler: handler(probe),
                                accessLog: { probe.record($0) })
        try server.start()
        do {
            try await body(server, probe)
        } catch {
            await server.shutdown(gracePeriod: 0)
            throw error
        }
        await server.shutdown(gracePeriod: 0)
    }
}

// MARK: - gunzip

/// Inflates a gzip member (for checking compressed responses).
func gunzip(_ bytes: [UInt8]) throws -> [UInt8] {
    var stream = z_stream()
    guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw ClientError(description: "inflateInit2 failed")
    }
    defer { inflateEnd(&stream) }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    var input = bytes
    let status: Int32 = input.withUnsafeMutableBufferPointer { inBuffer in
        stream.next_in = inBuffer.baseAddress
        stream.avail_in = uInt(inBuffer.count)
        while true {
            let result = chunk.withUnsafeMutableBufferPointer { out -> Int32 in
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                return inflate(&stream, Z_NO_FLUSH)
            }
            output += chunk[0..<(65536 - Int(stream.avail_out))]
            if result != Z_OK { return result }
        }
    }
    guard status == Z_STREAM_END else { throw ClientError(description: "inflate failed: \(status)") }
    return output
}

/// Whether this machine can listen on IPv6 loopback.
func ipv6LoopbackAvailable() -> Bool {
    let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    address.sin6_addr = in6addr_loopback
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
        }
    }
}
