// The incremental HTTP/1.1 request parser (RFC 9112): a pure function of the bytes fed to it, with no I/O and no
// clock. It frames requests (Content-Length or chunked) and enforces the size limits; timeouts, keep-alive and
// responses are the connection's business.
import HTTPTypes

/// Why a request cannot be parsed. Every case is answered with its status and then the connection is closed,
/// because after a framing error the next request's first byte cannot be found reliably (RFC 9112 §6.3).
enum HTTPParseError: Error, Sendable, Equatable {
    /// Malformed syntax or framing: 400.
    case badRequest(String)
    /// The request line is longer than `maxHeaderBytes`: 414.
    case uriTooLong
    /// The header (or trailer) section is longer than `maxHeaderBytes`: 431.
    case headersTooLarge
    /// The body, declared or de-chunked, is larger than `maxBodyBytes`: 413.
    case bodyTooLarge
    /// A transfer coding other than `chunked`: 501.
    case notImplemented(String)
    /// A well-formed version other than HTTP/1.0 and HTTP/1.1: 505.
    case versionNotSupported(String)
}

/// Reads requests out of a byte stream, one at a time: `append` what the socket delivered, then call `next()`
/// until it returns nil (more bytes needed). Bytes after a complete request stay buffered for the next call, so
/// pipelined requests come out in order. After an error every later `next()` throws the same error.
struct HTTPRequestParser {
    /// How a request's body is delimited (RFC 9112 §6.3).
    enum BodyFraming: Sendable, Equatable {
        case none
        case length(Int)
        case chunked
    }

    /// A parsed request head.
    struct Head: Sendable, Equatable {
        var method: String
        var target: String
        var version: HTTPVersion
        var headerFields: HTTPFields
        var framing: BodyFraming
        /// `Expect: 100-continue` on HTTP/1.1 with a body to come: send `100 Continue` before reading it.
        var expectsContinue: Bool
        /// Whether the client allows the connection to stay open after this request (HTTP/1.1 unless
        /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
        var keepAlive: Bool
    }

    enum Event: Sendable, Equatable {
        /// The head is complete; the body (if any) follows.
        case head(Head)
        /// The whole request has arrived; `body` is de-chunked.
        case request(Head, body: [UInt8])
    }

    let maxHeaderBytes: Int
    let maxBodyBytes: Int
    /// Longest chunk-size line (size and extensions), in bytes.
    let maxChunkLineBytes = 4096

    private enum State {
        case requestLine
        case fields
        case headReady
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case failed(HTTPParseError)
    }

    private var buffer: [UInt8] = []
    /// Index of the first byte not yet consumed.
    private var position = 0
    /// Bytes after `position` already searched for a line feed, so a line fed one byte at a time is scanned once.
    private var scanned = 0
    private var state = State.requestLine
    private var requestLine: (method: String, target: String, version: HTTPVersion)?
    private var fields = HTTPFields()
    private var head: Head?
    private var sectionBytes = 0
    private var body: [UInt8] = []

    init(maxHeaderBytes: Int, maxBodyBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
    }

    // MARK: - Input

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    mutating func append(_ bytes: some Sequence<UInt8>) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Bytes received and not yet consumed by `next()`.
    var bufferedByteCount: Int { buffer.count - position }

    /// True from the first byte of a request until it is complete. Blank lines before a request line (RFC 9112
    /// §2.2 lets a server ignore them; old clients send one after a POST body) do not count.
    var isInsideRequest: Bool {
        switch state {
        case .requestLine:
            var i = position
            while i < buffer.count {
                if buffer[i] != ASCII.cr && buffer[i] != ASCII.lf { return true }
                i += 1
            }
            return false
        case .failed: return false
        default: return true
        }
    }

    /// The method and target of the request being parsed, once its request line is in (for logs and errors).
    var currentRequestLine: (method: String, target: String)? {
        requestLine.map { ($0.method, $0.target) }
    }

    private mutating func compact() {
        guard position > 0 else { return }
        if position == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 16)
            position = 0
        } else if position >= 4096 && position * 2 >= buffer.count {
            buffer.removeSubrange(0..<position)
            position = 0
        }
    }

    // MARK: - Parsing

    /// The next event, or nil when more bytes are needed.
    mutating func next() throws(HTTPParseError) -> Event? {
        do throws(HTTPParseError) {
            return try step()
        } catch {
            state = .failed(error)
            throw error
        }
    }

    private mutating func step() throws(HTTPParseError) -> Event? {
        while true {
            switch state {
            case let .failed(error):
                throw error

            case .requestLine:
                // A request starts with a method (token characters). Anything else (a TLS ClientHello sent to the
                // plain port starts 0x16 0x03) is refused at its first byte, not when the request timeout comes.
                // Only the line's first byte is looked at: blank lines before it are taken one at a time, so that a
                // bad one is the same error whether or not what follows it has arrived (found by fuzzing).
                if position < buffer.count, case let first = buffer[position], first != ASCII.cr, first != ASCII.lf,
                   !isTokenByte(first) {
                    throw first == 0x16 ? .badRequest("this is a TLS handshake; this port speaks plain HTTP")
                        : .badRequest("a request must start with a method")
                }
                guard let line = try nextLine(limit: maxHeaderBytes, tooLong: .uriTooLong) else { return nil }
                if line.isEmpty { continue }  // RFC 9112 §2.2: ignore blank lines before the request line
                requestLine = try parseRequestLine(line)
                fields = HTTPFields()
                sectionBytes = 0
                state = .fields

            case .fields:
                let before = position
                let left = max(0, maxHeaderBytes - sectionBytes)
                guard let line = try nextLine(limit: left, tooLong: .headersTooLarge) else { return nil }
                sectionBytes += position - before
                if sectionBytes > maxHeaderBytes { throw .headersTooLarge }
                if line.isEmpty {
                    let head = try makeHead()
                    self.head = head
                    state = .headReady
                    return .head(head)
                }
                fields.append(try parseFieldLine(line))

            case .headReady:
                guard let head else { throw .badRequest("internal parser state") }
                switch head.framing {
                case .none: return finish()
                case let .length(n):
                    body.reserveCapacity(min(n, 1 << 16))
                    state = .body(remaining: n)
                case .chunked: state = .chunkSize
                }

            case let .body(remaining):
                if remaining == 0 { return finish() }
                let n = min(remaining, bufferedByteCount)
                if n == 0 { return nil }
                body.append(contentsOf: buffer[position..<position + n])
                position += n
                state = .body(remaining: remaining - n)

            case .chunkSize:
                guard let line = try nextLine(limit: maxChunkLineBytes,
                                              tooLong: .badRequest("chunk size line is too long"))
                else { return nil }
                let size = try parseChunkSizeLine(line)
                if size > maxBodyBytes - body.count { throw .bodyTooLarge }
                if size == 0 {
                    sectionBytes = 0
                    state = .trailers
                } else {
                    state = .chunkData(remaining: size)
                }

            case let .chunkData(remaining):
                let n = min(remaining, bufferedByteCount)
                if n == 0 { return nil }
                body.append(contentsOf: buffer[position..<position + n])
                position += n
                state = remaining == n ? .chunkDataEnd : .chunkData(remaining: remaining - n)

            case .chunkDataEnd:
                guard let line = try nextLine(limit: 0, tooLong: .badRequest("chunk data is not followed by CRLF"))
                else { return nil }
                if !line.isEmpty { throw .badRequest("chunk data is not followed by CRLF") }
                state = .chunkSize

            case .trailers:
                // RFC 9112 §7.1.2: trailer fields are checked like header fields, then dropped (none are used).
                let before = position
                let left = max(0, maxHeaderBytes - sectionBytes)
                guard let line = try nextLine(limit: left, tooLong: .headersTooLarge) else { return nil }
                sectionBytes += position - before
                if sectionBytes > maxHeaderBytes { throw .headersTooLarge }
                if line.isEmpty { return finish() }
                _ = try parseFieldLine(line)
            }
        }
    }

    private mutating func finish() -> Event? {
        guard let head else { return nil }
        let event = Event.request(head, body: body)
        body = []
        self.head = nil
        requestLine = nil
        fields = HTTPFields()
        sectionBytes = 0
        state = .requestLine
        return event
    }

    /// The next line's content (without its CRLF), consuming it; nil when its end has not arrived. A line whose
    /// content is longer than `limit` throws `tooLong`, as soon as that is certain. RFC 9112 §2.2 lets a recipient
    /// take a bare LF for a line end; Quill does not, in the head, chunk lines or trailers, since a peer that frames
    /// lines differently is where request smuggling hides.
    private mutating func nextLine(limit: Int, tooLong: HTTPParseError) throws(HTTPParseError) -> ArraySlice<UInt8>? {
        var i = position + scanned
        let end = buffer.count
        while i < end && buffer[i] != ASCII.lf { i += 1 }
        guard i < end else {
            scanned = end - position
            // One byte of slack: the last byte may be the CR of the CRLF.
            if scanned > limit + 1 { throw tooLong }
            return nil
        }
        // Too long first, as when the line arrives in pieces and its length passes the limit before its LF comes
        // (found by fuzzing: the same bytes must give the same error however they are cut).
        if i - position > limit + 1 { throw tooLong }
        guard i > position, buffer[i - 1] == ASCII.cr else { throw .badRequest("a bare LF: lines end with CRLF") }
        let contentEnd = i - 1
        let line = buffer[position..<contentEnd]
        position = i + 1
        scanned = 0
        if line.count > limit { throw tooLong }
        // RFC 9112 §2.2: a bare CR (not part of CRLF) is invalid.
        if line.contains(ASCII.cr) { throw .badRequest("bare CR in the request") }
        return line
    }

    // MARK: - Request line (RFC 9112 §3)

    private func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (String, String, HTTPVersion) {
        let parts = line.split(separator: ASCII.space, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw .badRequest("the request line must be METHOD SP TARGET SP HTTP-VERSION")
        }
        let method = parts[0], target = parts[1], version = parts[2]
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else {
            throw .badRequest("invalid character in the method")
        }
        let methodString = String(decoding: method, as: UTF8.self)
        let targetString = try validateTarget(target, method: methodString)
        return (methodString, targetString, try parseVersion(version))
    }

    private func validateTarget(_ target: ArraySlice<UInt8>, method: String) throws(HTTPParseError) -> String {
        guard !target.isEmpty else { throw .badRequest("empty request target") }
        // Visible ASCII only: no controls, spaces, DEL or raw non-ASCII; no fragment (RFC 9112 §3.2).
        guard target.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }) else {
            throw .badRequest("invalid character in the request target")
        }
        let text = String(decoding: target, as: UTF8.self)
        let first = target[target.startIndex]
        if method == "CONNECT" {
            // authority-form: host:port
            guard first != ASCII.slash, text.contains(":") else { throw .badRequest("invalid request target") }
        } else if first == ASCII.slash {
            // origin-form
        } else if text == "*" {
            guard method == "OPTIONS" else { throw .badRequest("the request target * is only for OPTIONS") }
        } else {
            // absolute-form: scheme "://" …
            let scheme = target.prefix { $0 != ASCII.colon }
            guard let s = scheme.first, (s | 0x20) >= UInt8(ascii: "a"), (s | 0x20) <= UInt8(ascii: "z"),
                  scheme.allSatisfy({ isTokenByte($0) && $0 != UInt8(ascii: "%") }),
                  target.dropFirst(scheme.count).starts(with: "://".utf8)
            else { throw .badRequest("invalid request target") }
        }
        return text
    }

    private func parseVersion(_ v: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPVersion {
        // HTTP-version = "HTTP" "/" DIGIT "." DIGIT (case-sensitive)
        let bytes = Array(v)
        guard bytes.count == 8, bytes[0...4].elementsEqual("HTTP/".utf8), isDigit(bytes[5]),
              bytes[6] == UInt8(ascii: "."), isDigit(bytes[7])
        else { throw .badRequest("invalid HTTP version") }
        let version = HTTPVersion(major: Int(bytes[5] - ASCII.zero), minor: Int(bytes[7] - ASCII.zero))
        guard version == .http11 || version == .http10 else {
            throw .versionNotSupported(version.description)
        }
        return version
    }

    // MARK: - Fields (RFC 9112 §5, RFC 9110 §5.5)

    private func parseFieldLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPField {
        guard let first = line.first else { throw .badRequest("empty field line") }
        if first == ASCII.space || first == ASCII.tab {
            throw .badRequest("obsolete line folding (a field line starting with white space) is not accepted")
        }
        guard let colon = line.firstIndex(of: ASCII.colon) else { throw .badRequest("a field line without a colon") }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty else { throw .badRequest("empty field name") }
        if let last = name.last, last == ASCII.space || last == ASCII.tab {
            throw .badRequest("white space between a field name and its colon")
        }
        guard name.allSatisfy(isTokenByte) else { throw .badRequest("invalid character in a field name") }
        var start = colon + 1, end = line.endIndex
        while start < end && (line[start] == ASCII.space || line[start] == ASCII.tab) { start += 1 }
        while end > start && (line[end - 1] == ASCII.space || line[end - 1] == ASCII.tab) { end -= 1 }
        let value = line[start..<end]
        // field-vchar = VCHAR / obs-text, with SP and HTAB inside; NUL, other controls and DEL are invalid.
        guard value.allSatisfy({ $0 == ASCII.tab || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw .badRequest("invalid character in a field value")
        }
        guard let fieldName = HTTPField.Name(String(decoding: name, as: UTF8.self)) else {
            throw .badRequest("invalid field name")
        }
        return HTTPField(name: fieldName, value: value)
    }

    /// Decides the body's framing and the connection options once the header section is complete.
    private func makeHead() throws(HTTPParseError) -> Head {
        guard let (method, target, version) = requestLine else { throw .badRequest("internal parser state") }
        var framing = BodyFraming.none
        var keepAlive = version == .http11
        let transferEncodings = fields[values: .transferEncoding]
        let contentLengths = fields[values: .contentLength]

        if !transferEncodings.isEmpty {
            // RFC 9112 §6.1: Content-Length beside Transfer-Encoding is a sign of request smuggling.
            guard contentLengths.isEmpty else {
                throw .badRequest("Content-Length and Transfer-Encoding together")
            }
            let codings = transferEncodings.flatMap(Self.listElements).map { coding in
                // A coding may carry parameters (`gzip;q=1`): its name is what counts.
                String(coding.prefix { $0 != ";" }).trimmingWhiteSpace.lowercased()
            }
            guard !codings.isEmpty else { throw .badRequest("empty Transfer-Encoding") }
            if let unknown = codings.first(where: { $0 != "chunked" }) {
                throw .notImplemented("the transfer coding \"\(unknown.prefix(20))\" is not supported; use chunked")
            }
            guard codings.count == 1 else { throw .badRequest("chunked applied more than once") }
            framing = .chunked
            // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message: process it, then close.
            if version == .http10 { keepAlive = false }
        } else if !contentLengths.isEmpty {
            // RFC 9112 §6.3: several values (in one field as a list, or repeated) must all be the same.
            var length: Int?
            for element in contentLengths.flatMap(Self.listElements) {
                let digits = element.trimmingWhiteSpace
                guard !digits.isEmpty, digits.utf8.allSatisfy(isDigit) else {
                    throw .badRequest("invalid Content-Length")
                }
                let significant = digits.drop { $0 == "0" }
                let value = significant.utf8.count > 18 ? Int.max : (Int(significant) ?? 0)
                if let length, length != value { throw .badRequest("differing Content-Length values") }
                length = value
            }
            guard let length else { throw .badRequest("invalid Content-Length") }
            if length > maxBodyBytes { throw .bodyTooLarge }
            framing = length > 0 ? .length(length) : .none
        }

        // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host field; an HTTP/1.0 one at most one.
        let hosts = fields[values: HTTPField.Name("Host")!]
        if hosts.count > 1 || (version == .http11 && hosts.isEmpty) {
            throw .badRequest(hosts.isEmpty ? "an HTTP/1.1 request needs a Host header"
                                            : "a request must have exactly one Host header")
        }

        let connectionOptions = fields[values: .connection].flatMap(Self.listElements).map {
            $0.trimmingWhiteSpace.lowercased()
        }
        if connectionOptions.contains("close") {
            keepAlive = false
        } else if version == .http10 && connectionOptions.contains("keep-alive") && framing != .chunked {
            keepAlive = true
        }

        let expectsContinue = version == .http11 && framing != .none
            && fields[values: .expect].contains { $0.trimmingWhiteSpace.lowercased() == "100-continue" }

        return Head(method: method, target: target, version: version, headerFields: fields, framing: framing,
                    expectsContinue: expectsContinue, keepAlive: keepAlive)
    }

    // MARK: - Chunked coding (RFC 9112 §7.1)

    /// chunk-size [ chunk-ext ], chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-value ] ), ext-name a token
    /// and ext-value a token or a quoted string (RFC 9112 §7.1.1). White space only around ";" and "=", never at
    /// the end, and no empty extension. Extensions are checked and ignored.
    private func parseChunkSizeLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        var i = line.startIndex
        var size = 0
        var digits = 0
        while i < line.endIndex, let d = hexValue(line[i]) {
            if size > 0 || d > 0 { digits += 1 }
            // More than 15 significant hex digits cannot fit any sane limit; report it as too large.
            if digits > 15 { throw .bodyTooLarge }
            size = size * 16 + d
            i += 1
        }
        guard i > line.startIndex else { throw .badRequest("invalid chunk size") }
        func skipWhiteSpace() -> Bool {
            let start = i
            while i < line.endIndex && (line[i] == ASCII.space || line[i] == ASCII.tab) { i += 1 }
            return i > start
        }
        func token() -> Bool {
            let start = i
            while i < line.endIndex && isTokenByte(line[i]) { i += 1 }
            return i > start
        }
        while i < line.endIndex {
            _ = skipWhiteSpace()
            guard i < line.endIndex else { throw .badRequest("white space at the end of a chunk size line") }
            guard line[i] == ASCII.semicolon else { throw .badRequest("invalid chunk size") }
            i += 1
            _ = skipWhiteSpace()
            guard token() else { throw .badRequest("an empty chunk extension") }
            let beforeValue = i
            _ = skipWhiteSpace()
            if i < line.endIndex && line[i] == UInt8(ascii: "=") {
                i += 1
                _ = skipWhiteSpace()
                if i < line.endIndex && line[i] == UInt8(ascii: "\"") {
                    i += 1
                    var closed = false
                    while i < line.endIndex {
                        let b = line[i]
                        if b == UInt8(ascii: "\"") { closed = true; i += 1; break }
                        if b == UInt8(ascii: "\\") { i += 1 }
                        guard i < line.endIndex, line[i] == ASCII.tab || (line[i] >= 0x20 && line[i] != 0x7F) else {
                            throw .badRequest("invalid chunk extension")
                        }
                        i += 1
                    }
                    guard closed else { throw .badRequest("invalid chunk extension") }
                } else {
                    guard token() else { throw .badRequest("invalid chunk extension") }
                }
            } else {
                i = beforeValue
            }
        }
        return size
    }

    // MARK: - Helpers

    /// The elements of a comma-separated list field value (RFC 9110 §5.6.1), empty elements dropped.
    static func listElements(_ value: String) -> [Substring] {
        value.split(separator: ",").filter { !$0.trimmingWhiteSpace.isEmpty }
    }
}

// MARK: - Byte classes

enum ASCII {
    static let tab = UInt8(ascii: "\t")
    static let lf = UInt8(ascii: "\n")
    static let cr = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let colon = UInt8(ascii: ":")
    static let semicolon = UInt8(ascii: ";")
    static let slash = UInt8(ascii: "/")
    static let zero = UInt8(ascii: "0")
}

@inline(__always) func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

@inline(__always) func hexValue(_ b: UInt8) -> Int? {
    switch b {
    case 0x30...0x39: Int(b - 0x30)
    case 0x41...0x46: Int(b - 0x41 + 10)
    case 0x61...0x66: Int(b - 0x61 + 10)
    default: nil
    }
}

/// tchar (RFC 9110 §5.6.2): "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" /
/// "~" / DIGIT / ALPHA.
@inline(__always) func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
         UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
         UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
    default: false
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (OWS).
    var trimmingWhiteSpace: Substring {
        let s = self[...]
        let start = s.firstIndex { $0 != " " && $0 != "\t" } ?? s.endIndex
        let end = s.lastIndex { $0 != " " && $0 != "\t" }.map { s.index(after: $0) } ?? start
        return start < end ? Substring(s[start..<end]) : ""
    }
}
