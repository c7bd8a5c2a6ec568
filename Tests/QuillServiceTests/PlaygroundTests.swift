// The playground's files as the server sends them. scripts/browser-test.py drives the page itself in Chromium.
import Foundation
import QuillService
import Testing

@Suite("Playground", .serialized)
struct PlaygroundTests {
    @Test("the page, its script, style and icons are served from the binary with their content types")
    func assetsAreServed() async throws {
        try await Fixture.withServer { server in
            let expected = [
                "/": "text/html; charset=utf-8", "/playground.js": "text/javascript; charset=utf-8",
                "/playground.css": "text/css; charset=utf-8", "/favicon.svg": "image/svg+xml",
                "/favicon.ico": "image/x-icon",
            ]
            for (path, type) in expected {
                let r = try await RawClient.request(port: server.port, path: path)
                #expect(r.status == 200, "\(path)")
                #expect(r.header("Content-Type") == type, "\(path)")
                #expect(r.header("X-Content-Type-Options") == "nosniff", "\(path)")
                #expect(r.body.count > 100, "\(path)")
            }
            let icon = try await RawClient.request(port: server.port, path: "/favicon.ico").body
            #expect(Array(icon.prefix(4)) == [0, 0, 1, 0], "an ICO file starts 00 00 01 00")
            let script = try await RawClient.request(port: server.port, path: "/playground.js").text
            for route in ["/complete", "/tokenize", "/attention", "/info"] {
                #expect(script.contains("'\(route)'"), "the script calls \(route)")
            }
        }
    }

    @Test("the page may load nothing from another origin, and names no other origin")
    func noExternalRequests() async throws {
        try await Fixture.withServer { server in
            let page = try await RawClient.request(port: server.port, path: "/")
            let policy = page.header("Content-Security-Policy") ?? ""
            #expect(policy.hasPrefix("default-src 'self';"))
            #expect(!policy.contains("unsafe-inline"))
            for path in ["/", "/playground.js", "/playground.css", "/favicon.svg"] {
                let text = try await RawClient.request(port: server.port, path: path).text
                    .replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
                #expect(!text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"), "\(path)")
                // Inline scripts and styles would be refused by the policy above.
                #expect(!text.contains("<script>") && !text.contains("style=\""), "\(path)")
            }
        }
    }

    @Test("the model's name is escaped into the page's title and header")
    func modelNameIsEscaped() async throws {
        let named = try LoadedModel(path: Fixture.checkpointPath, name: #"<b>"x"&y</b>"#, workers: 1)
        try await Fixture.withServer(model: named) { server in
            let text = try await RawClient.request(port: server.port, path: "/").text
            #expect(text.contains("<title>Quill · &lt;b&gt;&quot;x&quot;&amp;y&lt;/b&gt;</title>"))
            #expect(!text.contains("<b>"))
        }
    }
}
