// quill-server's settings: file < QUILL_* environment < flags, with errors that name the setting.
import Foundation
@testable import QuillService
import QuillSettings
import Testing
import QuillJSON

@Suite("Server configuration")
struct ConfigTests {
    func write(_ text: String) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("quill-config-\(UUID().uuidString).json").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    @Test("the README's settings table is the one ServerConfig.table prints (scripts/update-settings-tables.sh)")
    func readmeTable() throws {
        #expect(try readmeSettingsTable("quill-server") == ServerConfig.table.markdownTable)
        #expect(ServerConfig.table.keys.count == 30)
    }

    @Test("docs/API.md has a row for every setting, with the variable and the flag the table gives it")
    func apiDocRows() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("docs/API.md"), encoding: .utf8)
        for s in ServerConfig.table.settings {
            #expect(doc.contains("| `\(s.key)` | `\(s.variable(prefix: "QUILL_"))` | `\(s.flag)` |"), "\(s.key)")
        }
    }

    @Test("every setting gets a flag: each key set through its flag reaches the same field as through the file")
    func everySettingHasAFlag() throws {
        for s in ServerConfig.table.settings {
            var viaFlag = ServerConfig(), viaEnv = ServerConfig()
            let value = s.typeName == "integer" ? "7" : s.typeName == "number" ? "7.5" : "x7"
            try viaFlag.apply(flags: [s.flag, value])
            try viaEnv.apply(environment: [s.variable(prefix: "QUILL_"): value])
            #expect(viaFlag != ServerConfig(), "\(s.flag) changed nothing")
            #expect(viaFlag == viaEnv, "\(s.key)")
        }
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

    @Test("every size setting has an upper bound: max_tokens_limit near Int.max (which once let a request trap) is refused")
    func upperBounds() throws {
        let huge: [(WritableKeyPath<ServerConfig, Int>, Int, String)] = [
            (\.maxTokensLimit, Int.max, "max_tokens_limit"), (\.maxTokensLimit, (1 << 24) + 1, "max_tokens_limit"),
            (\.queueCapacity, Int.max, "queue_capacity"), (\.threads, 1 << 40, "threads"),
            (\.maxConnections, Int.max, "max_connections"), (\.maxHeaderBytes, Int.max, "max_header_bytes"),
            (\.maxBodyBytes, 1 << 62, "max_body_bytes"), (\.minSendRate, Int.max, "min_send_rate"),
        ]
        for (key, value, name) in huge {
            var c = ServerConfig()
            c[keyPath: key] = value
            do {
                try c.validate()
                Issue.record("\(name) = \(value) was accepted")
            } catch {
                #expect(error.description.contains(name), "\(error.description)")
            }
        }
        var c = ServerConfig()
        c.maxTokensLimit = 1 << 24
        try c.validate()
        c.requestTimeout = 1e300
        #expect(throws: ServiceError.self) { try c.validate() }
    }

    @Test("an integer field near Int.max is a 400, not a trap: 2^63 - 1 rounds to 2^63 as a double")
    func integerFieldsNearIntMax() throws {
        struct Body: Decodable { var n: Int? }
        // A request's integer field as the routes read it: decoded, then checked against its range.
        func read(_ text: String, in range: ClosedRange<Int>) throws -> Int {
            let p = try Params(json: try JSONValue.parse(Array(#"{"n": \#(text)}"#.utf8)))
            return try Limits.int(p.decode(Body.self).n, "n", default: 0, in: range)
        }
        for text in ["9223372036854775808", "9.3e18", "1e300", "-9223372036854775809", "18446744073709551616"] {
            #expect(throws: APIError.self, "\(text)") { try read(text, in: 0...Int.max) }
            #expect(throws: APIError.self, "\(text)") { try read(text, in: 1...4096) }
        }
        // Integer literals are read exactly, up to Int.max itself.
        for (text, value) in [("9223372036854775807", Int.max), ("9007199254740993", 9007199254740993), ("4e3", 4000)] {
            #expect(try read(text, in: 0...Int.max) == value, "\(text)")
        }
    }

    @Test("a checkpoint that is missing or not a GPT is a clear error")
    func badCheckpoints() {
        #expect(throws: ServiceError.self) { try LoadedModel(path: "/nonexistent.safetensors") }
    }
}

/// The README's settings table for `command`, between its markers.
func readmeSettingsTable(_ command: String) throws -> String? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let text = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    return documentedSettingsTable(for: command, in: text)
}
