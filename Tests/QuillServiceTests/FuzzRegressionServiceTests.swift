// The JSON fuzzer's seed corpus and every body it ever failed on (Fuzz/corpus/json, Fuzz/regressions/json), sent
// to every POST route: no answer is a 5xx but 503, and what parses as JSON survives serialize-then-parse.
import Foundation
import QuillService
import Testing
import QuillJSON

@Suite("JSON fuzz regressions", .serialized)
struct FuzzRegressionServiceTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    @Test("every corpus and regression body gets a 2xx or 4xx from every POST route")
    func noServerErrors() async throws {
        var files: [URL] = []
        for f in ["corpus/json", "regressions/json"] {
            let dir = Self.root.appendingPathComponent(f)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            files += names.filter { !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
        }
        #expect(files.count >= 8)
        try await Fixture.withServer { server in
            for f in files {
                let body = try String(contentsOf: f, encoding: .utf8)
                if let v = try? JSONValue.parse(Array(body.utf8)) {
                    #expect((try? JSONValue.parse(v.serialized())) == v, "\(f.lastPathComponent)")
                }
                for route in ["/complete", "/v1/completions", "/v1/chat/completions", "/tokenize", "/detokenize",
                              "/attention", "/apply-template"] {
                    let r = try await RawClient.post(port: server.port, route, json: body)
                    #expect(r.status < 500 || r.status == 503, "\(f.lastPathComponent) → \(route): \(r.status) \(r.text)")
                }
            }
        }
    }
}
