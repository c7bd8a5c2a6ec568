// The JSON form that travels inside checkpoints: both kinds rebuild exactly, and bad JSON says what is wrong.
import Foundation
import Testing
@testable import QuillTokenizers

@Suite("JSON form")
struct SerializedTokenizerTests {
    @Test("GPT-2 survives a trip through JSON", .needsGPT2, .needsShakespeare)
    func gpt2RoundTrip() throws {
        let gpt2 = try Fixtures.gpt2()
        let json = try gpt2.jsonData()
        let loaded = try loadTokenizer(json: json)
        #expect(loaded.kind == .bpe)
        #expect(loaded.vocabularySize == 50257)
        #expect(loaded.specialTokens == ["<|endoftext|>": 50256])
        #expect(loaded.serialized == gpt2.serialized)
        let text = try Fixtures.shakespeare(prefix: 5000)
        #expect(try loaded.encode(text) == gpt2.encode(text))
        #expect(try loaded.jsonData() == json)
    }

    @Test("A fitted BPE survives a trip through JSON", .needsShakespeare)
    func fittedRoundTrip() throws {
        let fitted = try FitTests.smallFit()
        let loaded = try loadTokenizer(json: fitted.jsonData())
        #expect(loaded.serialized == fitted.serialized)
        for text in Fixtures.awkwardStrings { #expect(try loaded.encode(text) == fitted.encode(text)) }
    }

    @Test("A character tokenizer survives a trip through JSON", arguments: [false, true])
    func charRoundTrip(endOfText: Bool) throws {
        let char = CharTokenizer(corpus: "hello\r\nwörld 🙂", endOfText: endOfText)
        let json = try char.jsonData()
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(object["kind"] as? String == "char")
        let loaded = try loadTokenizer(json: json)
        #expect(loaded.kind == .char)
        #expect(loaded.serialized == char.serialized)
        #expect(try loaded.encode("wörld\r\n") == char.encode("wörld\r\n"))
        #expect(loaded.endOfTextID == char.endOfTextID)
    }

    @Test("The JSON form has kind, vocab, merges and special tokens")
    func shape() throws {
        let fitted = try BytePairTokenizer.fit(corpus: "aaab aab ab", vocabularySize: 259)
        let object = try #require(try JSONSerialization.jsonObject(with: fitted.jsonData()) as? [String: Any])
        #expect(object["kind"] as? String == "bpe")
        #expect((object["vocab"] as? [String])?.count == 259)
        #expect(object["merges"] as? [String] == ["a a", "aa b"] || object["merges"] as? [String] == ["a a", "a b"])
        #expect(object["special_tokens"] as? [String: Int] == ["<|endoftext|>": 258])
    }

    @Test("Bad JSON is an error that names the problem")
    func badJSON() {
        let cases: [(String, String)] = [
            (#"{"vocab": []}"#, "kind"),
            (#"{"kind": "wordpiece", "vocab": [], "special_tokens": {}}"#, "wordpiece"),
            (#"{"kind": "bpe", "vocab": [], "special_tokens": {}}"#, "merges"),
            (#"{"kind": "char", "vocab": ["ab"], "special_tokens": {}}"#, "one Unicode scalar"),
            (#"{"kind": "char", "vocab": ["a", "a"], "special_tokens": {}}"#, "twice"),
        ]
        for (json, expected) in cases {
            let error = #expect(throws: TokenizerError.self) { try loadTokenizer(json: Data(json.utf8)) }
            #expect(error?.description.contains(expected) == true, "\(json): \(String(describing: error))")
        }
    }
}
