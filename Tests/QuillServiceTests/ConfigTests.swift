// quill-server's settings: file < QUILL_* environment < flags, with errors that name the setting.
import Foundation
import QuillService
import Testing

@Suite("Server configuration")
struct ConfigTests {
    func write(_ text: String) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("quill-config-\(UUID().uuidString).json").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    @Test("the shipped Config/server.json loads and holds the defaults")
    func shippedFile() throws {
        let c = try ServerConfig.load(file: "Config/server.json")
        #expect(c == ServerConfig())
        try c.validate()
    }

    @Test("environment variables override the file and bad values name the variable")
    func environment() throws {
        var c = try ServerConfig.load(file: write(#"{"port": 9000, "batch_capacity": 4}"#))
        #expect(c.port == 9000 && c.batchCapacity == 4)
        try c.apply(environment: ["QUILL_PORT": "9100", "QUILL_API_KEY": "k", "QUILL_REQUEST_TIMEOUT": "2.5", "HOME": "/"])
        #expect(c.port == 9100 && c.apiKey == "k" && c.requestTimeout == 2.5 && c.batchCapacity == 4)
        #expect(throws: ServiceError.self) { try c.apply(environment: ["QUILL_PORT": "eighty"]) }
        do {
            try c.apply(environment: ["QUILL_PORT": "eighty"])
        } catch {
            #expect(error.description.contains("QUILL_PORT"))
        }
    }

    @Test("unknown keys, wrong types and out-of-range values are errors")
    func invalidFiles() throws {
        #expect(throws: ServiceError.self) { try ServerConfig.load(file: write(#"{"prot": 80}"#)) }
        #expect(throws: ServiceError.self) { try ServerConfig.load(file: write(#"{"port": "80"}"#)) }
        #expect(throws: ServiceError.self) { try ServerConfig.load(file: write("not json")) }
        #expect(throws: ServiceError.self) { try ServerConfig.load(file: "/nonexistent/server.json") }
        var c = ServerConfig()
        c.batchCapacity = 0
        #expect(throws: ServiceError.self) { try c.validate() }
        c = ServerConfig()
        c.logLevel = "loud"
        #expect(throws: ServiceError.self) { try c.validate() }
    }

    @Test("a checkpoint that is missing or not a GPT is a clear error")
    func badCheckpoints() {
        #expect(throws: ServiceError.self) { try LoadedModel(path: "/nonexistent.safetensors") }
    }
}
