// decode(encode(s)) == s for both tokenizers over awkward text, and what decoding odd id sequences gives.
import Testing
@testable import QuillTokenizers

@Suite("Round trips")
struct RoundTripTests {
    @Test("GPT-2 decodes what it encodes", .needsGPT2, arguments: Fixtures.awkwardStrings)
    func gpt2RoundTrip(text: String) throws {
        let gpt2 = try Fixtures.gpt2()
        #expect(try gpt2.decode(gpt2.encode(text)) == text)
        #expect(try gpt2.decode(gpt2.encode(text, allowSpecial: true)) == text)
        #expect(try gpt2.decodeBytes(gpt2.encode(text)) == Array(text.utf8))
    }

    @Test("A fitted BPE decodes what it encodes, even text unlike its corpus", .needsShakespeare, arguments: Fixtures.awkwardStrings)
    func fittedRoundTrip(text: String) throws {
        let fitted = try FitTests.smallFit()
        #expect(try fitted.decode(fitted.encode(text)) == text)
    }

    @Test("A character tokenizer decodes what it encodes", arguments: Fixtures.awkwardStrings)
    func charRoundTrip(text: String) throws {
        let char = CharTokenizer(corpus: Fixtures.awkwardStrings.joined(), endOfText: true)
        #expect(try char.decode(char.encode(text)) == text)
        #expect(try char.decode(char.encode(text, allowSpecial: true)) == text)
    }

    @Test("Tiny Shakespeare round-trips through GPT-2", .needsGPT2, .needsShakespeare)
    func shakespeareRoundTrip() throws {
        let text = try Fixtures.shakespeare()
        let gpt2 = try Fixtures.gpt2()
        #expect(try gpt2.decode(gpt2.encode(text)) == text)
    }

    @Test("Ids that end inside a character decode to U+FFFD", .needsGPT2)
    func partialCharacter() throws {
        let gpt2 = try Fixtures.gpt2()
        let ids = gpt2.encode("🙂")           // [8582, 25081]: F0 9F | 99 82
        #expect(ids.count == 2)
        #expect(try gpt2.decode([ids[0]]) == "\u{FFFD}")
        #expect(try gpt2.decode([ids[1], ids[0]]).unicodeScalars.allSatisfy { $0 == "\u{FFFD}" })
        #expect(try gpt2.decode([]) == "")
    }
}
