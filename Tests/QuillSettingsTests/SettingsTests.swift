// One declaration per setting: the table decodes files strictly, reads flags and variables, encodes, and writes
// the docs, all from the same rows.
import Foundation
import QuillSettings
import Testing

private struct Demo: Codable, Equatable {
    var port = 8080
    var rate = 2.5
    var name: String? = nil
    var origins: [String] = []
    var verbose = false
    var kind = "char"
    var size: Int? = nil

    static let table = SettingsTable(Demo(), environmentPrefix: "DEMO_", [
        Setting("port", \.port, "Port."),
        Setting("rate", \.rate, "Rate."),
        Setting("model_name", \.name, "Name | with a bar."),
        Setting("cors_origins", \.origins, "Origins."),
        Setting("verbose", \.verbose, "Verbose."),
        Setting("tok.kind", \.kind, "Kind."),
        Setting("tok.vocab_size", \.size, "Size."),
    ])

    init() {}
    init(from decoder: any Decoder) throws { self.init(); try Self.table.decode(&self, from: decoder) }
    func encode(to encoder: any Encoder) throws { try Self.table.encode(self, to: encoder) }
}

private func load(_ json: String) throws(SettingsError) -> Demo {
    try Demo.table.load(Demo.self, json: Data(json.utf8))
}

private func message(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch { return "\(error)" }
}

@Suite("Settings tables")
struct SettingsTests {
    @Test("a file sets what it names, nested keys included, and leaves the rest at their defaults")
    func fileSets() throws {
        let d = try load(#"{"port": 9000, "model_name": "m", "tok": {"vocab_size": 300}}"#)
        var want = Demo()
        want.port = 9000; want.name = "m"; want.size = 300
        #expect(d == want)
    }

    @Test("in a file, an unknown key (top level or nested) or a value of the wrong type is an error naming the key")
    func strictFiles() {
        #expect(message { _ = try load(#"{"prot": 1}"#) } == "unknown key prot")
        #expect(message { _ = try load(#"{"tok": {"knd": "x"}}"#) } == "unknown key tok.knd")
        #expect(message { _ = try load(#"{"port": "80"}"#) } == "port must be of type integer")
        #expect(message { _ = try load(#"{"tok": {"vocab_size": "big"}}"#) } == "tok.vocab_size must be of type integer")
        #expect(message { _ = try load(#"{"tok": 3}"#) } == "tok must be an object")
        #expect(message { _ = try load("[1]") }.contains("not a JSON object"))
    }

    @Test("outside files (checkpoints, saved runs), unknown keys from another version are skipped")
    func lenientDecoding() throws {
        let d = try JSONDecoder().decode(Demo.self, from: Data(#"{"port": 1, "retired_key": true}"#.utf8))
        #expect(d.port == 1)
    }

    @Test("flags take dashes or underscores, a space or =, and name themselves in errors")
    func flags() throws {
        let t = Demo.table
        let pairs = try t.parseFlags(["--model-name", "a", "--cors_origins=https://x, https://y", "--tok.vocab-size", "7",
                                      "--verbose", "true", "--rate=0.5"])
        #expect(pairs.map(\.key) == ["model_name", "cors_origins", "tok.vocab_size", "verbose", "rate"])
        var d = Demo()
        try t.apply(flags: pairs, to: &d)
        #expect(d.name == "a" && d.origins == ["https://x", "https://y"] && d.size == 7 && d.verbose && d.rate == 0.5)
        #expect(message { _ = try t.parseFlags(["--prot", "1"]) }.hasPrefix("unknown key --prot (known: "))
        #expect(message { _ = try t.parseFlags(["--port"]) } == "--port needs a value")
        #expect(message { _ = try t.parseFlags(["port", "1"]) }.hasPrefix("unexpected argument port"))
        #expect(message { try t.apply(flags: [("port", "eighty")], to: &d) } == #"--port must be of type integer, not "eighty""#)
        #expect(message { try t.apply(flags: [("verbose", "yes")], to: &d) } == #"--verbose must be of type boolean, not "yes""#)
        #expect(message { try t.apply(flags: [("rate", "nan")], to: &d) } == #"--rate must be of type number, not "nan""#)
    }

    @Test("every setting has a variable under the prefix; an empty one unsets an optional")
    func environment() throws {
        var d = Demo()
        d.name = "x"
        try Demo.table.apply(environment: ["DEMO_PORT": "1", "DEMO_MODEL_NAME": "", "DEMO_TOK_KIND": "bpe", "PORT": "2"],
                             to: &d)
        #expect(d.port == 1 && d.name == nil && d.kind == "bpe")
        #expect(message { try Demo.table.apply(environment: ["DEMO_PORT": "x"], to: &d) }.hasPrefix("DEMO_PORT must be"))
    }

    @Test("encoding leaves unset optionals out, nests groups, and decodes back to the same value")
    func roundTrip() throws {
        var d = Demo()
        d.size = 5
        d.origins = ["*"]
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        let text = String(decoding: try e.encode(d), as: UTF8.self)
        #expect(text == #"{"cors_origins":["*"],"port":8080,"rate":2.5,"tok":{"kind":"char","vocab_size":5},"verbose":false}"#)
        #expect(try load(text) == d)
    }

    @Test("help and the Markdown table list every setting with its flag, variable, type and default")
    func docs() {
        let table = Demo.table.markdownTable.split(separator: "\n")
        #expect(table.count == 2 + Demo.table.settings.count)
        #expect(table[2] == "| `port` | `DEMO_PORT` | `--port` | integer | `8080` | Port. |")
        #expect(table[4] == #"| `model_name` | `DEMO_MODEL_NAME` | `--model-name` | string | `none` | Name \| with a bar. |"#)
        #expect(table[8] == "| `tok.vocab_size` | `DEMO_TOK_VOCAB_SIZE` | `--tok.vocab-size` | integer | `none` | Size. |")
        #expect(Demo.table.helpText.contains("  --rate <number>   [default: 2.5]\n      Rate.\n"))
    }
}
