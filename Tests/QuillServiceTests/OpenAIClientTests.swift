// OpenAI's official Python client against the real server. `make test` installs the `openai` package into a
// virtual environment and names its python in QUILL_OPENAI_PYTHON.
import Foundation
import QuillService
import Testing

@Suite("OpenAI Python client")
struct OpenAIClientTests {
    static let python = ProcessInfo.processInfo.environment["QUILL_OPENAI_PYTHON"]

    @Test("the openai package completes, chats and streams against /v1", .enabled(if: python != nil))
    func officialClient() async throws {
        try await Fixture.withServer { server in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.python!)
            p.arguments = ["scripts/openai_e2e.py", String(server.port), "tiny"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            // Read while it runs, on another thread, so a full pipe cannot stall it.
            let data = await Task.detached { out.fileHandleForReading.readDataToEndOfFile() }.value
            p.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self)
            #expect(p.terminationStatus == 0, "\(text)")
            #expect(text.contains("\"choices\": 3"))
        }
    }
}
