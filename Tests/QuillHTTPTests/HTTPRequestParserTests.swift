// The request parser as a pure function of bytes: one rule per test with explicit \r\n, and a verifier that feeds
// every request whole, one byte at a time, and pipelined behind a good request (the swift-nio
// ByteToMessageDecoderVerifier idea).
import HTTPTypes
import Testing
@testable import QuillHTTP

/// What feeding some bytes produced: the complete requests in order, and the error that stopped parsing, if any.
struct ParseOutcome: Equatable {
    var requests: [Parsed] = []
    var error: HTTPParseError?
    /// A head was reported before its body arrived, with `expectsContinue` (for 100-continue).
    var continueHeads = 0

    struct Parsed: Equatable {
        var method: String
        var target: String
        var version: HTTPVersion
        var body: String
        var keepAlive: Bool
        var fields: [String: String]
    }
}

enum ParserVerifier {
    static let maxHeaderBytes = 512
    static let maxBodyBytes = 1000

    static func parse(_ pieces: [[UInt8]], maxHeaderBytes: Int = maxHeaderBytes,
                      maxBodyBytes: Int = maxBodyBytes) -> ParseOutcome {
        var parser = HTTPRequestParser(maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes)
        var outcome = ParseOutcome()
        for piece in pieces {
            parser.append(piece)
            do {
                while let event = try parser.next() {
                    switch event {
                    case let .head(head):
                        if head.expectsContinue { outcome.continueHeads += 1 }
                    case let .request(head, body):
                        var fields: [String: String] = [:]
                        for field in head.headerFields { fields[field.name.canonicalName] = field.value }
                        outcome.requests.append(.init(method: head.method, target: head.target, version: head.version,
                                                      body: String(decoding: body, as: UTF8.self),
                                                      keepAlive: head.keepAlive, fields: fields))
                    }
                }
            } catch {
                outcome.error = error
                return outcome
            }
        }
        return outcome
    }

    static func whole(_ text: String) -> ParseOutcome { parse([Array(text.utf8)]) }

    static func byteByByte(_ text: String) -> ParseOutcome { parse(Array(text.utf8).map { [$0] }) }

    /// Checks that `text` gives the same outcome whole and byte by byte, and behind a good request (which comes out
    /// first); returns the whole outcome.
    static func verify(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> ParseOutcome {
        let whole = whole(text)
        #expect(byteByByte(text) == whole, "byte by byte differs", sourceLocation: sourceLocation)
        let good = "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
        var pipelined = parse([Array((good + text).utf8)])
        #expect(pipelined.requests.first?.target == "/first", sourceLocation: sourceLocation)
        if !pipelined.requests.isEmpty { pipelined.requests.removeFirst() }
        #expect(pipelined == whole, "pipelined differs", sourceLocation: sourceLocation)
        return whole
    }
}

@Suite("HTTP/1.1 request parser")
struct HTTPRequestParserTests {
    // MARK: - Requests that parse

    @Test("A GET with headers parses into method, target, version and fields")
    func simpleGet() {
        let outcome = ParserVerifier.verify("GET /health?x=1 HTTP/1.1\r\nHost: localhost\r\nX-Thing:  spaced value \t\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.requests == [.init(method: "GET", target: "/health?x=1", version: .http11, body: "",
                                           keepAlive: true, fields: ["host": "localhost", "x-thing": "spaced value"])])
    }

    @Test("A Content-Length body is read exactly, and the next request follows it")
    func contentLengthBody() {
        let text = "POST /complete HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world"
            + "GET /next HTTP/1.1\r\nHost: t\r\n\r\n"
        let outcome = ParserVerifier.verify(text)
        #expect(outcome.error == nil)
        #expect(outcome.requests.map(\.body) == ["hello world", ""])
        #expect(outcome.requests.map(\.target) == ["/complete", "/next"])
    }

    @Test("A chunked body with extensions and trailers is de-chunked")
    func chunkedBody() {
        let text = "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n6 ; quoted=\"a b\"\r\n world\r\nA\r\n0123456789\r\n0\r\n"
            + "Trailer-One: 1\r\nTrailer-Two: 2\r\n\r\n"
        let outcome = ParserVerifier.verify(text)
        #expect(outcome.error == nil)
        #expect(outcome.requests.first?.body == "hello world0123456789")
    }

    @Test("A chunked body without trailers, with upper-case hex sizes, parses")
    func chunkedUpperHex() {
        let body = String(repeating: "x", count: 0x1F)
        let outcome = ParserVerifier.verify("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n1F\r\n\(body)\r\n0\r\n\r\n")
        #expect(outcome.requests.first?.body == body)
    }

    @Test("Blank lines before a request line are ignored")
    func leadingBlankLines() {
        let outcome = ParserVerifier.verify("\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(outcome.requests.count == 1)
    }

    @Test("Bare LF line endings are refused (400), though RFC 9112 §2.2 would allow taking them")
    func bareLineFeeds() {
        let outcome = ParserVerifier.verify("GET /lf HTTP/1.1\nHost: x\n\n")
        guard case .badRequest? = outcome.error else {
            Issue.record("expected 400, got \(String(describing: outcome.error))")
            return
        }
        #expect(outcome.requests.isEmpty)
    }

    @Test("HTTP/1.0 closes unless keep-alive is asked; HTTP/1.1 stays open unless close is asked")
    func keepAliveRules() {
        #expect(ParserVerifier.whole("GET / HTTP/1.0\r\n\r\n").requests.first?.keepAlive == false)
        #expect(ParserVerifier.whole("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").requests.first?.keepAlive == true)
        #expect(ParserVerifier.whole("GET / HTTP/1.1\r\nHost: t\r\n\r\n").requests.first?.keepAlive == true)
        #expect(ParserVerifier.whole("GET / HTTP/1.1\r\nHost: t\r\nConnection: foo, close\r\n\r\n").requests.first?.keepAlive == false)
    }

    @Test("Expect: 100-continue is reported with the head, before the body arrives")
    func expectContinue() {
        var parser = HTTPRequestParser(maxHeaderBytes: 512, maxBodyBytes: 100)
        parser.append(Array("POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n".utf8))
        guard case let .head(head)? = try? parser.next() else {
            Issue.record("no head")
            return
        }
        #expect(head.expectsContinue)
        #expect((try? parser.next()) == nil)
        parser.append(Array("abc".utf8))
        guard case let .request(_, body)? = try? parser.next() else {
            Issue.record("no request")
            return
        }
        #expect(body == Array("abc".utf8))
    }

    @Test("Identical repeated Content-Length values are accepted")
    func repeatedEqualContentLength() {
        let outcome = ParserVerifier.verify("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok")
        #expect(outcome.requests.first?.body == "ok")
    }

    @Test("Absolute-form, asterisk-form (OPTIONS) and authority-form (CONNECT) targets are accepted")
    func targetForms() {
        #expect(ParserVerifier.verify("GET http://example.com/a?b HTTP/1.1\r\nHost: t\r\n\r\n").requests.count == 1)
        #expect(ParserVerifier.verify("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n").requests.count == 1)
        #expect(ParserVerifier.verify("CONNECT example.com:443 HTTP/1.1\r\nHost: t\r\n\r\n").requests.count == 1)
    }

    @Test("The parser says when it is inside a request")
    func insideRequest() {
        var parser = HTTPRequestParser(maxHeaderBytes: 512, maxBodyBytes: 100)
        #expect(!parser.isInsideRequest)
        parser.append(Array("\r\n".utf8))
        #expect(!parser.isInsideRequest)
        parser.append(Array("G".utf8))
        #expect(parser.isInsideRequest)
        parser.append(Array("ET / HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
        _ = try? parser.next()
        _ = try? parser.next()
        #expect(!parser.isInsideRequest)
    }

    // MARK: - Malformed requests (each 400 unless said)

    static let badRequests: [(String, String)] = [
        ("Content-Length with Transfer-Encoding",
         "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("differing Content-Length values", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        ("differing Content-Length values in one field", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!"),
        ("a negative Content-Length", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n"),
        ("a non-numeric Content-Length", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0x10\r\n\r\n"),
        ("an empty Content-Length", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: \r\n\r\n"),
        ("a bare CR in a field", "GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n"),
        ("a bare CR in the request line", "GET /\r HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n  folded\r\n\r\n"),
        ("obs-fold with a tab", "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n\tfolded\r\n\r\n"),
        ("white space before the colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
        ("a field line without a colon", "GET / HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n"),
        ("an invalid method character", "G(T / HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("an invalid field name character", "GET / HTTP/1.1\r\nHost: t\r\nX@Y: 1\r\n\r\n"),
        ("a control character in a field value", "GET / HTTP/1.1\r\nHost: t\r\nX: a\u{01}b\r\n\r\n"),
        ("a space in the request target", "GET /a b HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("a relative request target", "GET a/b HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("a fragment in the request target", "GET /a#b HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("an asterisk target for GET", "GET * HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("two spaces in the request line", "GET  / HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("a missing version", "GET /\r\n\r\n"),
        ("a malformed version", "GET / HTTP/1.10\r\n\r\n"),
        ("a lower-case version", "GET / http/1.1\r\n\r\n"),
        ("chunked twice", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
        ("an invalid chunk size", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ("chunk data without its CRLF", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"),
        ("garbage after a chunk size", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n0\r\n\r\n"),
        ("an obs-fold in a trailer", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n folded\r\n\r\n"),
        // Strict framing (RFC 9112): one Host, CRLF only, §7.1's chunk-size grammar.
        ("an HTTP/1.1 request without Host", "GET / HTTP/1.1\r\n\r\n"),
        ("two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        ("two Host fields in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"),
        ("a bare LF ending the request line", "GET / HTTP/1.1\nHost: t\r\n\r\n"),
        ("a bare LF ending a field line", "GET / HTTP/1.1\r\nHost: t\nX: 1\r\n\r\n"),
        ("a bare LF ending the head", "GET / HTTP/1.1\r\nHost: t\r\n\n"),
        ("a bare CR inside a field line", "GET / HTTP/1.1\r\nHost: t\rX: 1\r\n\r\n"),
        ("a bare LF after a chunk size", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"),
        ("a bare LF after chunk data", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n"),
        ("a bare LF ending the trailers", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n"),
        ("white space after a chunk size", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n"),
        ("an empty chunk extension", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n"),
        ("an extension that is not a token", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;a b\r\nabc\r\n0\r\n\r\n"),
        ("an unterminated quoted extension", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b\r\nabc\r\n0\r\n\r\n"),
        ("an extension with = and no value", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\r\nabc\r\n0\r\n\r\n"),
        ("a TLS ClientHello", "\u{16}\u{03}\u{01}\u{02}\u{00}\u{01}\u{00}\u{01}\u{fc}\u{03}\u{03}"),
        ("a request starting with a control byte", "\u{01}GET / HTTP/1.1\r\nHost: t\r\n\r\n"),
    ]

    @Test("Chunk extensions in §7.1's grammar are accepted and ignored")
    func chunkExtensions() {
        for ext in [";a", ";a=b", " ;a=b", "; a = b", ";a=\"q\\\"uoted; x\"", ";a;b=c"] {
            let text = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\(ext)\r\nabc\r\n0\r\n\r\n"
            let outcome = ParserVerifier.verify(text)
            #expect(outcome.error == nil && outcome.requests.first?.body == "abc", "\(ext)")
        }
    }

    @Test("Bytes that cannot start a request are refused at the first byte, before any line end arrives")
    func refusedAtFirstByte() throws {
        for first: UInt8 in [0x16, 0x00, 0x80, UInt8(ascii: " "), UInt8(ascii: "{")] {
            var parser = HTTPRequestParser(maxHeaderBytes: 512, maxBodyBytes: 100)
            parser.append([first])
            #expect(throws: HTTPParseError.self, "\(first)") { try parser.next() }
        }
        var parser = HTTPRequestParser(maxHeaderBytes: 512, maxBodyBytes: 100)
        parser.append(Array("\r\nGE".utf8))
        #expect(try parser.next() == nil, "blank lines, then the start of a method: wait for more")
    }

    @Test("Malformed requests are 400, whole, byte by byte and pipelined", arguments: badRequests)
    func malformed(_ name: String, _ text: String) {
        let outcome = ParserVerifier.verify(text)
        guard case .badRequest? = outcome.error else {
            Issue.record("\(name): expected 400, got \(String(describing: outcome.error))")
            return
        }
        #expect(outcome.requests.isEmpty, "\(name)")
    }

    @Test("A transfer coding other than chunked is 501")
    func unknownTransferCoding() {
        for coding in ["gzip", "gzip, chunked", "chunked, gzip", "identity"] {
            let outcome = ParserVerifier.verify("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: \(coding)\r\n\r\n")
            guard case .notImplemented? = outcome.error else {
                Issue.record("\(coding): \(String(describing: outcome.error))")
                continue
            }
        }
    }

    @Test("Versions other than HTTP/1.0 and HTTP/1.1 are 505")
    func unsupportedVersions() {
        for version in ["HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/3.0"] {
            #expect(ParserVerifier.verify("GET / \(version)\r\n\r\n").error == .versionNotSupported(version))
        }
    }

    // MARK: - Limits

    @Test("A request line longer than maxHeaderBytes is 414, even before its end arrives")
    func requestLineTooLong() {
        let target = "/" + String(repeating: "a", count: 600)
        #expect(ParserVerifier.verify("GET \(target) HTTP/1.1\r\nHost: t\r\n\r\n").error == .uriTooLong)
        #expect(ParserVerifier.parse([Array("GET \(target)".utf8)]).error == .uriTooLong)
    }

    @Test("A header section longer than maxHeaderBytes is 431")
    func headersTooLarge() {
        let fields = (0..<40).map { "X-Field-\($0): some value\r\n" }.joined()
        #expect(ParserVerifier.verify("GET / HTTP/1.1\r\nHost: t\r\n\(fields)\r\n").error == .headersTooLarge)
        // Exactly at the limit is fine (the section: "Host: t" CRLF, this field, the final CRLF).
        let header = "X: " + String(repeating: "v", count: ParserVerifier.maxHeaderBytes - 7 - 9) + "\r\n"
        #expect(ParserVerifier.verify("GET / HTTP/1.1\r\nHost: t\r\n\(header)\r\n").error == nil)
    }

    @Test("A trailer section longer than maxHeaderBytes is 431")
    func trailersTooLarge() {
        let trailer = "T: " + String(repeating: "v", count: 600) + "\r\n"
        let text = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\(trailer)\r\n"
        #expect(ParserVerifier.verify(text).error == .headersTooLarge)
    }

    @Test("A declared body over maxBodyBytes is 413 as soon as the head is in")
    func declaredBodyTooLarge() {
        #expect(ParserVerifier.verify("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n").error == .bodyTooLarge)
        #expect(ParserVerifier.verify("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n").error
                == .bodyTooLarge)
        let exact = String(repeating: "b", count: 1000)
        #expect(ParserVerifier.verify("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n\(exact)").requests.count == 1)
    }

    @Test("A chunked body that grows over maxBodyBytes is 413")
    func chunkedBodyTooLarge() {
        let chunk = String(repeating: "c", count: 600)
        let text = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n0\r\n\r\n"
        #expect(ParserVerifier.verify(text).error == .bodyTooLarge)
        #expect(ParserVerifier.verify("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n").error
                == .bodyTooLarge)
    }

    @Test("After an error the parser keeps reporting it")
    func errorIsSticky() {
        var parser = HTTPRequestParser(maxHeaderBytes: 512, maxBodyBytes: 100)
        parser.append(Array("BAD\r\n".utf8))
        #expect(throws: HTTPParseError.self) { try parser.next() }
        parser.append(Array("GET / HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
        #expect(throws: HTTPParseError.self) { try parser.next() }
    }
}

@Suite("gzip negotiation and compression")
struct GzipTests {
    @Test("Accept-Encoding q-values decide whether gzip is used")
    func acceptEncoding() {
        #expect(Gzip.isAccepted(by: "gzip"))
        #expect(Gzip.isAccepted(by: "deflate, gzip;q=0.5"))
        #expect(Gzip.isAccepted(by: "GZIP ; Q=1"))
        #expect(Gzip.isAccepted(by: "*"))
        #expect(Gzip.isAccepted(by: "x-gzip"))
        #expect(!Gzip.isAccepted(by: nil))
        #expect(!Gzip.isAccepted(by: ""))
        #expect(!Gzip.isAccepted(by: "identity"))
        #expect(!Gzip.isAccepted(by: "gzip;q=0"))
        #expect(!Gzip.isAccepted(by: "gzip;q=0.000"))
        #expect(!Gzip.isAccepted(by: "gzip;q=0, *"))
        #expect(!Gzip.isAccepted(by: "*;q=0"))
        #expect(!Gzip.isAccepted(by: "br, deflate"))
    }

    @Test("gzip output is a gzip member that inflates back to the input")
    func roundTrip() throws {
        let input = Array(String(repeating: "To be, or not to be, that is the question. ", count: 100).utf8)
        let compressed = try #require(Gzip.compress(input))
        #expect(compressed.count < input.count / 5)
        #expect(Array(compressed.prefix(2)) == [0x1F, 0x8B])
        #expect(try gunzip(compressed) == input)
    }
}
