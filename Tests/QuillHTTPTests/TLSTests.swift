// TLS on the server's own socket and Dispatch path: handshakes, versions, the handshake deadline, plaintext sent to
// the TLS port, streaming with back-pressure, and certificates that do not load. The certificate is self-signed,
// made by the `openssl` command (Debian's openssl package; .ci/run installs it).
import COpenSSL
import Foundation
import Testing
@testable import QuillHTTP

/// A self-signed certificate for localhost and 127.0.0.1, and its key, made once per test run by `openssl req`.
enum TestCertificate {
    static let openssl = ["/usr/bin/openssl", "/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    struct Files: Sendable {
        var directory: String
        var certificate: String { directory + "/cert.pem" }
        var key: String { directory + "/key.pem" }
    }

    static let made: Result<Files, ClientError> = {
        guard let openssl else { return .failure(ClientError(description: "no openssl command (apt-get install openssl)")) }
        let directory = NSTemporaryDirectory() + "quill-tls-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let files = Files(directory: directory)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: openssl)
        p.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", files.key, "-out", files.certificate,
                       "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return .failure(ClientError(description: "openssl: \(error)")) }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return .failure(ClientError(description: "openssl req exited \(p.terminationStatus)")) }
        return .success(files)
    }()

    static func files() throws -> Files { try made.get() }

    static func context() throws -> TLSContext {
        let files = try files()
        return try TLSContext(certificateChainFile: files.certificate, privateKeyFile: files.key)
    }
}

@Suite("HTTP server: TLS")
struct TLSTests {
    static func withTLSServer(_ adjust: @escaping (inout HTTPServerConfiguration) -> Void = { _ in },
                              _ body: (HTTPServer, Probe) async throws -> Void) async throws {
        let context = try TestCertificate.context()
        try await TestServer.with({
            $0.tls = context
            adjust(&$0)
        }, body)
    }

    @Test("Requests over TLS 1.3 and TLS 1.2 are answered, kept alive, pipelined and streamed",
          arguments: [nil, TLS1_2_VERSION])
    func exchanges(maxVersion: Int32?) async throws {
        let ca = try TestCertificate.files().certificate
        try await Self.withTLSServer { server, _ in
            let client = try RawClient.connect(port: server.port)
            defer { client.close() }
            let version = try await client.startTLS(maxVersion: maxVersion, caFile: ca)
            #expect(version == (maxVersion == nil ? "TLSv1.3" : "TLSv1.2"))
            try await client.send("GET /echo?one HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await client.readResponse().text == "GET /echo?one\n")
            // Two requests in one write: answered in order on the same connection.
            try await client.send("POST /echo?two HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await client.readResponse().text == "POST /echo?two\nabc")
            #expect(try await client.readResponse().text == TestServer.bigText)
            try await client.send("GET /stream?n=4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            let streamed = try await client.readResponse()
            #expect(streamed.header("Transfer-Encoding") == "chunked")
            #expect(streamed.text == "chunk 0\nchunk 1\nchunk 2\nchunk 3\n")
            #expect(await client.isClosedByServer())
        }
    }

    @Test("A client that offers nothing newer than TLS 1.1 is refused in the handshake")
    func oldVersionsRefused() async throws {
        try await Self.withTLSServer { server, probe in
            let client = try RawClient.connect(port: server.port)
            defer { client.close() }
            await #expect(throws: ClientError.self) {
                try await client.startTLS(maxVersion: TLS1_1_VERSION, minVersion: TLS1_VERSION)
            }
            #expect(await eventually { server.connectionCount == 0 })
            #expect(probe.accessLog.isEmpty)
        }
    }

    @Test("Plain HTTP sent to the TLS port is closed at once, not when a timeout comes")
    func plaintextRefused() async throws {
        try await Self.withTLSServer({ $0.requestTimeout = 5; $0.tlsHandshakeTimeout = 5 }) { server, _ in
            let client = try RawClient.connect(port: server.port)
            defer { client.close() }
            let start = ContinuousClock.now
            try await client.send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await client.readToEnd().isEmpty)
            #expect(ContinuousClock.now - start < .seconds(3))
        }
    }

    @Test("A handshake that has not finished by tlsHandshakeTimeout is closed, before the first-byte deadline")
    func handshakeTimeout() async throws {
        try await Self.withTLSServer({
            $0.tlsHandshakeTimeout = 0.4
            $0.requestTimeout = 8
            $0.idleTimeout = 8
        }) { server, _ in
            let silent = try RawClient.connect(port: server.port, timeout: 10)
            defer { silent.close() }
            // Half a ClientHello's record header, then nothing.
            try await silent.send([0x16, 0x03, 0x01])
            let start = ContinuousClock.now
            #expect(await silent.isClosedByServer())
            let waited = ContinuousClock.now - start
            #expect(waited < .seconds(4), "closed after \(waited); the first-byte deadline is 8 s")
            #expect(await eventually { server.connectionCount == 0 })
        }
    }

    @Test("A TLS client that stops reading is cut by the send-rate floor and its stream is cancelled")
    func backPressure() async throws {
        try await Self.withTLSServer({
            $0.minSendBytesPerSecond = 50_000_000
            $0.sendRateWindow = 0.3
        }) { server, probe in
            let client = try RawClient.connect(port: server.port, receiveBuffer: 4096)
            defer { client.close() }
            try await client.startTLS()
            try await client.send("GET /flood?id=tls HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(await eventually(timeout: 5) { probe.wasCancelled("tls") })
            #expect(await eventually { server.connectionCount == 0 })
            let entry = probe.accessLog.first
            #expect(entry?.status == 200)
            #expect(entry?.cut == "the client read slower than min_send_rate")
        }
    }

    @Test("Bytes sent over TLS are counted as the plaintext body, as on a plain connection")
    func bytesSentCountsPlaintext() async throws {
        try await Self.withTLSServer { server, probe in
            let client = try RawClient.connect(port: server.port)
            defer { client.close() }
            try await client.startTLS()
            try await client.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await client.readResponse().body.count == TestServer.bigText.utf8.count)
            #expect(await eventually { probe.accessLog.count == 1 })
            #expect(probe.accessLog.first?.bytesSent == TestServer.bigText.utf8.count)
        }
    }

    @Test("A missing certificate, a key that is not PEM, and a key of another certificate are refused, naming the file")
    func badCertificates() throws {
        let files = try TestCertificate.files()
        #expect(throws: TLSError.self) {
            try TLSContext(certificateChainFile: files.directory + "/missing.pem", privateKeyFile: files.key)
        }
        let notPEM = files.directory + "/not-a-key.pem"
        try "not a key".write(toFile: notPEM, atomically: true, encoding: .utf8)
        do {
            _ = try TLSContext(certificateChainFile: files.certificate, privateKeyFile: notPEM)
            Issue.record("a key that is not PEM was accepted")
        } catch {
            #expect(error.description.contains("not-a-key.pem"))
        }
        // Another key: made by openssl too.
        let otherKey = files.directory + "/other-key.pem"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestCertificate.openssl!)
        p.arguments = ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", otherKey]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        do {
            _ = try TLSContext(certificateChainFile: files.certificate, privateKeyFile: otherKey)
            Issue.record("a key of another certificate was accepted")
        } catch {
            #expect(error.description.contains("does not match"))
        }
    }
}
