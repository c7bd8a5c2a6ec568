// quill-server with tls_cert and tls_key: a TLS listener beside the plain one, checked with the `openssl` and `curl`
// commands (Debian's openssl and curl packages; .ci/run installs both).
import Foundation
import QuillHTTP
import QuillService
import Testing

@Suite("TLS serving")
struct TLSServingTests {
    static let openssl = ["/usr/bin/openssl", "/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let curl = ["/usr/bin/curl", "/bin/curl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs a command to its end; (exit status, stdout, stderr).
    static func run(_ tool: String, _ arguments: [String]) async throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read on Dispatch threads, not the cooperative pool: the server under test needs those threads.
        let (stdout, stderr) = await withCheckedContinuation { (done: CheckedContinuation<(Data, Data), Never>) in
            DispatchQueue.global().async {
                let group = DispatchGroup()
                let box = Locked<Data>(Data())
                DispatchQueue.global().async(group: group) {
                    let e = err.fileHandleForReading.readDataToEndOfFile()
                    box.withLock { $0 = e }
                }
                let o = out.fileHandleForReading.readDataToEndOfFile()
                group.wait()
                p.waitUntilExit()
                done.resume(returning: (o, box.withLock { $0 }))
            }
        }
        return (p.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    /// A self-signed certificate for localhost made by `openssl req`; (certificate, key).
    static func certificate() async throws -> (String, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quill-tls-serving-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let (cert, key) = (dir + "/cert.pem", dir + "/key.pem")
        let (status, _, stderr) = try await run(Self.openssl!, [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        #expect(status == 0, "\(stderr)")
        return (cert, key)
    }

    @Test("curl over https gets /health and a streamed completion, TLS 1.1 is refused, and the plain port still serves",
          .enabled(if: openssl != nil && curl != nil))
    func curlOverHTTPS() async throws {
        let (cert, key) = try await Self.certificate()
        try await Fixture.withServer({
            $0.tlsCert = cert
            $0.tlsKey = key
            $0.tlsPort = 0
        }) { server in
            let tlsPort = try #require(server.tlsPort)
            #expect(tlsPort != server.port)
            let base = "https://localhost:\(tlsPort)"

            let (healthStatus, health, healthErr) = try await Self.run(Self.curl!, ["-sS", "--cacert", cert, base + "/health"])
            #expect(healthStatus == 0, "\(healthErr)")
            #expect(health == #"{"status":"ok"}"#)

            let (streamStatus, stream, streamErr) = try await Self.run(Self.curl!, [
                "-sSN", "--cacert", cert, base + "/complete", "-H", "Content-Type: application/json",
                "-d", #"{"prompt":"ROMEO:","max_tokens":12,"stream":true,"seed":3}"#])
            #expect(streamStatus == 0, "\(streamErr)")
            let events = stream.split(separator: "\n").filter { $0.hasPrefix("data: ") }
            #expect(events.count >= 12, "\(stream)")
            #expect(events.last == "data: [DONE]")
            // The same request over plain HTTP streams the same text (seeded sampling, one model).
            let (_, plain, _) = try await Self.run(Self.curl!, [
                "-sSN", "http://127.0.0.1:\(server.port)/complete", "-H", "Content-Type: application/json",
                "-d", #"{"prompt":"ROMEO:","max_tokens":12,"stream":true,"seed":3}"#])
            let plainEvents = plain.split(separator: "\n").filter { $0.hasPrefix("data: ") }
            // (The last event's timings differ, and the second run hits the prompt cache.)
            func tokens(_ events: [Substring]) -> [Substring] { events.filter { !$0.contains("timings") } }
            #expect(tokens(plainEvents).count == 13)
            #expect(tokens(plainEvents) == tokens(events))

            // TLS 1.1 and older: a protocol_version alert in the handshake (curl exits 35).
            let (oldStatus, _, oldErr) = try await Self.run(Self.curl!, [
                "-sS", "--cacert", cert, "--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0", base + "/health"])
            #expect(oldStatus == 35, "\(oldErr)")
            // And a client that does not trust the certificate stops itself (curl exits 60).
            let (untrusted, _, _) = try await Self.run(Self.curl!, ["-sS", base + "/health"])
            #expect(untrusted == 60)
        }
    }

    @Test("tls_cert without tls_key, and a TLS port equal to the plain one, are configuration errors")
    func configErrors() throws {
        var c = ServerConfig()
        c.tlsCert = "cert.pem"
        #expect(throws: ServiceError.self) { try c.validate() }
        c.tlsKey = "key.pem"
        try c.validate()
        c.tlsPort = c.port
        #expect(throws: ServiceError.self) { try c.validate() }
    }

    @Test("A certificate that does not load stops the start with a message that names the file")
    func unreadableCertificate() throws {
        let server = QuillServer(config: Fixture.config {
            $0.tlsCert = "/nonexistent/cert.pem"
            $0.tlsKey = "/nonexistent/key.pem"
            $0.tlsPort = 0
        })
        do {
            try server.start()
            Issue.record("a missing certificate was accepted")
        } catch {
            #expect(error.description.contains("/nonexistent/"))
        }
        #expect(server.tlsPort == nil)
    }
}
