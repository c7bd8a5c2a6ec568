// The streaming decoder: never splits a UTF-8 character, holds back unfinished bytes, and all its output joined
// equals decoding all the ids at once.
import Testing
@testable import QuillTokenizers

@Suite("Streaming decoder")
struct StreamingDecoderTests {
    @Test("An emoji split across byte tokens comes out whole", .needsGPT2)
    func emojiAcrossTokens() throws {
        let gpt2 = try Fixtures.gpt2()
        let ids = gpt2.encode("hi🙂")           // "hi", then 🙂 as two tokens: F0 9F | 99 82
        #expect(ids.count == 3)
        var decoder = StreamingDecoder(tokenizer: gpt2)
        #expect(try decoder.feed(ids[0]) == "hi")
        #expect(try decoder.feed(ids[1]) == "")
        #expect(decoder.hasPendingBytes)
        #expect(try decoder.feed(ids[2]) == "🙂")
        #expect(decoder.finish() == "")
    }

    @Test("Bytes that never finish a character come out as U+FFFD at the end", .needsGPT2)
    func unfinishedAtEnd() throws {
        let gpt2 = try Fixtures.gpt2()
        let ids = gpt2.encode("🙂")
        var decoder = StreamingDecoder(tokenizer: gpt2)
        #expect(try decoder.feed(ids[0]) == "")
        #expect(decoder.finish() == "\u{FFFD}")
        #expect(!decoder.hasPendingBytes)
    }

    @Test("Streamed text joined equals the whole decode", .needsGPT2, arguments: Fixtures.awkwardStrings)
    func streamedEqualsWhole(text: String) throws {
        let gpt2 = try Fixtures.gpt2()
        let ids = gpt2.encode(text)
        var decoder = StreamingDecoder(tokenizer: gpt2)
        var streamed = ""
        for id in ids {
            let piece = try decoder.feed(id)
            #expect(!piece.unicodeScalars.contains("\u{FFFD}") || text.unicodeScalars.contains("\u{FFFD}"))
            streamed += piece
        }
        streamed += decoder.finish()
        #expect(streamed == text)
    }

    @Test("Odd id orders decode the same streamed or whole", .needsGPT2)
    func oddOrders() throws {
        let gpt2 = try Fixtures.gpt2()
        let emoji = gpt2.encode("🙂👨‍👩‍👧中")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let ids = (0..<8).map { _ in emoji.randomElement(using: &generator)! }
            var decoder = StreamingDecoder(tokenizer: gpt2)
            var streamed = ""
            for id in ids { streamed += try decoder.feed(id) }
            streamed += decoder.finish()
            #expect(streamed == (try gpt2.decode(ids)), "\(ids)")
        }
    }

    @Test("An invalid id throws and leaves the decoder as it was", .needsGPT2)
    func invalidID() throws {
        let gpt2 = try Fixtures.gpt2()
        var decoder = StreamingDecoder(tokenizer: gpt2)
        _ = try decoder.feed(gpt2.encode("🙂")[0])
        #expect(throws: TokenizerError.self) { try decoder.feed(99_999) }
        #expect(try decoder.feed(gpt2.encode("🙂")[1]) == "🙂")
    }

    @Test("A character tokenizer streams one character per id")
    func charTokenizer() throws {
        let char = CharTokenizer(corpus: "héllo")
        var decoder = StreamingDecoder(tokenizer: char)
        #expect(try char.encode("héllo").map { try decoder.feed($0) } == ["h", "é", "l", "l", "o"])
    }
}
