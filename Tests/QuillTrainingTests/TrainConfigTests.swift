// Presets load and validate; flags override any key with JSON's typing; unknown keys and wrong types are errors.
import Foundation
import QuillSettings
import QuillTraining
import Testing

@Suite("Training config")
struct TrainConfigTests {
    static let presets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Config/train")

    @Test("every preset in Config/train loads and validates", arguments: ["shakespeare-char", "gpt-nano", "gpt-micro", "gpt-mini", "bigram"])
    func presetsLoad(name: String) throws {
        let c = try TrainConfig.load(file: Self.presets.appendingPathComponent(name + ".json").path, overrides: [])
        #expect(c.maxSteps > 0)
    }

    @Test("the README's training settings table is the one TrainConfig.table prints")
    func readmeTable() throws {
        #expect(try readmeSettingsTable("quill-train train") == TrainConfig.table.markdownTable)
    }

    @Test("a config written into a checkpoint decodes back to itself, and flags with dashes equal flags with underscores")
    func roundTrip() throws {
        var c = try TrainConfig.load(file: nil, overrides: [("max-steps", "9"), ("tokenizer.vocab-size", "300"),
                                                            ("tokenizer.kind", "bpe"), ("init_from", "x")])
        #expect(c.maxSteps == 9 && c.tokenizer == TokenizerSpec(kind: "bpe", vocabSize: 300) && c.initFrom == "x")
        c.initFrom = ""
        #expect(try JSONDecoder().decode(TrainConfig.self, from: Data(c.jsonText.utf8)) == c)
        #expect(c.jsonText.contains(#""tokenizer":{"kind":"bpe","vocab_size":300}"#))
    }

    @Test("flags override keys, nested tokenizer keys included")
    func overrides() throws {
        let c = try TrainConfig.load(file: Self.presets.appendingPathComponent("gpt-nano.json").path,
                                     overrides: [("max_steps", "7"), ("dropout", "0.25"), ("bias", "false"),
                                                 ("tokenizer.kind", "bpe"), ("tokenizer.vocab_size", "300"),
                                                 ("positional", "sinusoidal")])
        #expect(c.maxSteps == 7 && c.dropout == 0.25 && !c.bias && c.positional == .sinusoidal)
        #expect(c.tokenizer == TokenizerSpec(kind: "bpe", vocabSize: 300))
        #expect(c.nLayer == 3)  // untouched keys keep the preset's values
    }

    @Test("unknown keys, wrong types and invalid values are errors that name the key")
    func errors() {
        func message(_ f: () throws -> TrainConfig) -> String {
            do { _ = try f(); return "" } catch { return "\(error)" }
        }
        #expect(message { try TrainConfig.load(file: nil, overrides: [("n_layers", "3")]) }.contains("unknown key --n_layers"))
        #expect(message { try TrainConfig.load(file: nil, overrides: [("n_layer", "three")]) }.contains("n_layer must be of type integer"))
        #expect(message { try TrainConfig.load(file: nil, overrides: [("n_embd", "100"), ("n_head", "3")]) }.contains("divisible"))
        #expect(message { try TrainConfig.load(file: nil, overrides: [("val_fraction", "1.5")]) }.contains("val_fraction"))
        #expect(message { try TrainConfig.load(file: "/nonexistent/x.json", overrides: []) }.contains("cannot read"))
        let dir = scratchFolder()
        let bad = dir.appendingPathComponent("bad.json").path
        try! "{\"n_layer\": 2, \"colour\": 1}".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(message { try TrainConfig.load(file: bad, overrides: []) }.contains("unknown key colour"))
    }
}

/// The README's settings table for `command`, between its markers.
func readmeSettingsTable(_ command: String) throws -> String? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let text = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    return documentedSettingsTable(for: command, in: text)
}
