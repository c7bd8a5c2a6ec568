// Several API keys (api_key, api_keys, api_key_file), compared in constant time, and CORS for the origins in
// cors_origins, with preflight.
import Foundation
import Logging
@testable import QuillService
import Testing

/// Collects every log line a logger writes.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ s: String) { lock.withLock { lines.append(s) } }
    var all: [String] { lock.withLock { lines } }
}

struct CollectingHandler: LogHandler {
    let collector: LineCollector
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
             function: String, line: UInt) {
        collector.add("\(message) \(metadata ?? [:])")
    }
}

@Suite("API keys and origins", .serialized)
struct KeysAndOriginsTests {
    @Test("every configured key opens the API, from api_key, api_keys and a key file; others get 401 with WWW-Authenticate")
    func severalKeys() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(getpid()).txt")
        try "# team keys\nkey-from-file\n\n  second-from-file  \n".write(to: file, atomically: true, encoding: .utf8)
        try await Fixture.withServer({ c in
            c.apiKey = "main-key"
            c.apiKeys = ["extra-1", "extra-2"]
            c.apiKeyFile = file.path
        }) { server in
            for key in ["main-key", "extra-1", "extra-2", "key-from-file", "second-from-file"] {
                let r = try await RawClient.request(port: server.port, path: "/info", headers: [("Authorization", "Bearer \(key)")])
                #expect(r.status == 200, "\(key)")
            }
            for auth in ["Bearer extra-3", "Bearer extra-", "Bearer extra-10", "extra-1", "Bearer # team keys", ""] {
                let r = try await RawClient.request(port: server.port, path: "/info", headers: auth.isEmpty ? [] : [("Authorization", auth)])
                #expect(r.status == 401 && r.header("WWW-Authenticate") == "Bearer", "\(auth)")
            }
            let health = try await RawClient.request(port: server.port, path: "/health")
            #expect(health.status == 200)
        }
        var bad = ServerConfig()
        bad.apiKeyFile = "/nonexistent/keys.txt"
        #expect(throws: ServiceError.self) { try bad.allAPIKeys() }
        try "\n# nothing\n".write(to: file, atomically: true, encoding: .utf8)
        bad.apiKeyFile = file.path
        #expect(throws: ServiceError.self) { try bad.allAPIKeys() }
    }

    @Test("the key comparison matches exactly, whatever the lengths")
    func comparison() {
        let keys = [Array("abc".utf8), Array("longer-key".utf8)]
        #expect(QuillAPI.matchesKey(Array("abc".utf8), keys))
        #expect(QuillAPI.matchesKey(Array("longer-key".utf8), keys))
        #expect(!QuillAPI.matchesKey(Array("ab".utf8), keys))
        #expect(!QuillAPI.matchesKey(Array("abcd".utf8), keys))
        #expect(!QuillAPI.matchesKey([], keys))
        #expect(!QuillAPI.matchesKey(Array("abc".utf8), []))
    }

    @Test("an allowed origin gets Access-Control-Allow-Origin and a preflight answer; another origin gets neither")
    func cors() async throws {
        try await Fixture.withServer({ c in
            c.corsOrigins = ["https://app.example"]
            c.apiKey = "k"
        }) { server in
            let p = server.port
            let allowed = try await RawClient.request(port: p, path: "/info",
                                                      headers: [("Origin", "https://app.example"), ("Authorization", "Bearer k")])
            #expect(allowed.status == 200 && allowed.header("Access-Control-Allow-Origin") == "https://app.example")
            #expect(allowed.header("Vary") == "Origin")
            // Errors carry it too, so that the page can read them.
            let denied = try await RawClient.request(port: p, path: "/info", headers: [("Origin", "https://app.example")])
            #expect(denied.status == 401 && denied.header("Access-Control-Allow-Origin") == "https://app.example")
            let other = try await RawClient.request(port: p, path: "/info",
                                                    headers: [("Origin", "https://evil.example"), ("Authorization", "Bearer k")])
            #expect(other.status == 200 && other.header("Access-Control-Allow-Origin") == nil)
            // Preflight: no key needed, the methods and headers the API uses.
            let pre = try await RawClient.request(port: p, method: "OPTIONS", path: "/complete",
                headers: [("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST"),
                          ("Access-Control-Request-Headers", "authorization, content-type")])
            #expect(pre.status == 204)
            #expect(pre.header("Access-Control-Allow-Methods")?.contains("POST") == true)
            #expect(pre.header("Access-Control-Allow-Headers")?.contains("Authorization") == true)
            #expect(pre.header("Access-Control-Allow-Origin") == "https://app.example")
            let prOther = try await RawClient.request(port: p, method: "OPTIONS", path: "/complete",
                headers: [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")])
            #expect(prOther.status != 204 && prOther.header("Access-Control-Allow-Origin") == nil)
        }
        var c = ServerConfig()
        c.corsOrigins = ["app.example"]
        #expect(throws: ServiceError.self) { try c.validate() }
    }

    @Test("keys, right or wrong, never appear in the request log")
    func keysNotLogged() async throws {
        let collector = LineCollector()
        let logger = Logger(label: "test") { _ in CollectingHandler(collector: collector) }
        let server = QuillServer(config: Fixture.config { $0.apiKey = "secret-key-123" }, model: Fixture.model, logger: logger)
        try server.start()
        _ = try await RawClient.request(port: server.port, path: "/info", headers: [("Authorization", "Bearer secret-key-123")])
        _ = try await RawClient.request(port: server.port, path: "/info", headers: [("Authorization", "Bearer guess-456")])
        // Log lines are written after the response; give the access log a moment.
        for _ in 0..<50 where collector.all.count < 2 { try await Task.sleep(nanoseconds: 20_000_000) }
        await server.shutdown()
        let lines = collector.all
        #expect(lines.count >= 2 && lines.contains { $0.contains("/info 200") } && lines.contains { $0.contains("/info 401") }, "\(lines)")
        #expect(!lines.contains { $0.contains("secret-key-123") || $0.contains("guess-456") }, "\(lines)")
    }
}
