// The framing decision alone, with no socket: what each kind of response puts on the wire.
import HTTPTypes
@testable import QuillHTTP
import Testing

@Suite("HTTP server: response framing")
struct ResponseFramingTests {
    typealias F = ResponseFraming

    func decide(_ code: Int = 200, fields: HTTPFields = [:], body: F.Body = .bytes(Array("hello".utf8)),
                version: HTTPVersion = .http11, head: Bool = false, keepAlive: Bool = true, gzip: Bool = false,
                closing: Bool = false) -> F {
        F.decide(status: code, fields: fields, body: body,
                 request: .init(version: version, isHead: head, keepAlive: keepAlive, acceptsGzip: gzip),
                 closing: closing, gzipMinBytes: 64, serverName: "quill", date: "DATE")
    }

    func names(_ f: F) -> [String] { f.framingFields.map { "\($0.0): \($0.1)" } }

    @Test("a body of bytes gets Date, Server and its Content-Length, and the connection stays open")
    func plainBytes() {
        let f = decide()
        #expect(names(f) == ["Date: DATE", "Server: quill", "Content-Length: 5"])
        #expect(f.bodyBytes == Array("hello".utf8) && f.keepAlive && !f.writesStream)
    }

    @Test("HEAD gets the Content-Length a GET would, and no body")
    func head() {
        let f = decide(head: true)
        #expect(names(f).contains("Content-Length: 5") && f.bodyBytes.isEmpty)
    }

    @Test("204 and 304 carry no body and no length, and their streams are cancelled")
    func noBodyStatuses() {
        for code in [204, 304] {
            let f = decide(code)
            #expect(!names(f).contains { $0.hasPrefix("Content-Length") } && f.bodyBytes.isEmpty, "\(code)")
            let s = decide(code, body: .stream)
            #expect(!s.writesStream && !names(s).contains { $0.hasPrefix("Transfer-Encoding") }, "\(code)")
        }
    }

    @Test("a stream is chunked over HTTP/1.1; over HTTP/1.0 it is written unframed and the connection closes")
    func streams() {
        let a = decide(body: .stream)
        #expect(a.writesStream && a.chunked && a.keepAlive && names(a).contains("Transfer-Encoding: chunked"))
        let b = decide(body: .stream, version: .http10)
        #expect(b.writesStream && !b.chunked && !b.keepAlive && names(b).last == "Connection: close")
        let h = decide(body: .stream, head: true)
        #expect(!h.writesStream && names(h).contains("Transfer-Encoding: chunked"))
    }

    @Test("the connection closes when the request, the handler or the server says so; HTTP/1.0 keep-alive is echoed")
    func connection() {
        #expect(names(decide(keepAlive: false)).last == "Connection: close")
        #expect(names(decide(fields: [.connection: "close"])).last == "Connection: close")
        #expect(names(decide(closing: true)).last == "Connection: close")
        let ten = decide(version: .http10)
        #expect(ten.keepAlive && names(ten).last == "Connection: keep-alive")
    }

    @Test("a large body is gzipped only for a client that accepts it, always with Vary, never twice")
    func gzip() {
        let big = Array(String(repeating: "quill ", count: 100).utf8)
        let yes = decide(body: .bytes(big), gzip: true)
        #expect(yes.extraFields[.contentEncoding] == "gzip" && yes.bodyBytes.count < big.count)
        #expect(names(yes).contains("Content-Length: \(yes.bodyBytes.count)"))
        let no = decide(body: .bytes(big))
        #expect(no.extraFields[.contentEncoding] == nil && no.extraFields[.vary] == "Accept-Encoding" && no.bodyBytes == big)
        let already = decide(fields: [.contentEncoding: "br"], body: .bytes(big), gzip: true)
        #expect(already.bodyBytes == big && already.extraFields[.vary] == nil)
        #expect(decide(gzip: true).extraFields[.contentEncoding] == nil)  // 5 bytes: under gzipMinBytes
    }

    @Test("a handler's own Date and Server are kept, not doubled")
    func handlerFields() {
        let f = decide(fields: [.date: "Mon", .server: "other"])
        #expect(names(f) == ["Content-Length: 5"])
    }
}
