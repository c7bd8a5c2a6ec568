// The character-level tokenizer: a vocabulary of Unicode scalars (not Characters), sorted; end-of-text last;
// unknown characters listed in the error, escaped, at most 10.
import Testing
@testable import QuillTokenizers

@Suite("Character tokenizer")
struct CharTokenizerTests {
    @Test("The vocabulary is the corpus's sorted scalars")
    func sortedScalars() throws {
        let char = CharTokenizer(corpus: "hello world")
        #expect(char.scalars.map { String($0) } == [" ", "d", "e", "h", "l", "o", "r", "w"])
        #expect(char.vocabularySize == 8)
        #expect(try char.encode("hello") == [3, 2, 4, 4, 5])
        #expect(char.endOfTextID == nil)
    }

    @Test("Tiny Shakespeare has 65 characters, newline first", .needsShakespeare)
    func shakespeareVocabulary() throws {
        let char = CharTokenizer(corpus: try Fixtures.shakespeare())
        #expect(char.vocabularySize == 65)
        #expect(try char.piece(0) == "\n")
        #expect(try char.piece(1) == " ")
        #expect(try char.encode("hii there") == [46, 47, 47, 1, 58, 46, 43, 56, 43])
    }

    @Test("\"\\r\\n\" is one Character but two tokens")
    func carriageReturnNewline() throws {
        let char = CharTokenizer(corpus: "a\r\nb")
        #expect("\r\n".count == 1)
        #expect(char.vocabularySize == 4)
        #expect(try char.encode("\r\n").count == 2)
        #expect(try char.decode(char.encode("a\r\nb")) == "a\r\nb")
    }

    @Test("Combining marks and emoji parts are tokens of their own")
    func scalarsNotGraphemes() throws {
        let text = "e\u{301}👨‍👩‍👧"
        let char = CharTokenizer(corpus: text)
        #expect(try char.encode(text).count == text.unicodeScalars.count)
        #expect(try char.encodeWithOffsets(text).offsets == (0..<text.unicodeScalars.count).map { $0..<($0 + 1) })
    }

    @Test("End-of-text is the last id, recognised only when allowed")
    func endOfText() throws {
        let char = CharTokenizer(corpus: "<|>abdefnotx", endOfText: true)
        let eot = try #require(char.endOfTextID)
        #expect(eot == char.vocabularySize - 1)
        #expect(try char.encode("a<|endoftext|>b", allowSpecial: true).count == 3)
        #expect(try char.encode("a<|endoftext|>b").count == 15)
        #expect(try char.decode([eot]) == "<|endoftext|>")
        #expect(try char.encodeWithOffsets("a<|endoftext|>", allowSpecial: true).offsets == [0..<1, 1..<14])
    }

    @Test("Unknown characters are listed, escaped, at most 10")
    func unknownCharacters() throws {
        let char = CharTokenizer(corpus: "abc")
        #expect(throws: TokenizerError.unknownCharacters(characters: ["x", "\\t", "\\u{00E9}", "\\u{0001F642}"], count: 4)) {
            try char.encode("abxc\t\u{E9}🙂x")
        }
        let many = String((0..<26).map { Character(Unicode.Scalar(UInt8(ascii: "A") + UInt8($0))) })
        let error = #expect(throws: TokenizerError.self) { try char.encode(many) }
        guard case .unknownCharacters(let listed, let count) = error else { Issue.record("wrong error"); return }
        #expect(listed == ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"])
        #expect(count == 26)
        #expect(error?.description.contains("and 16 more") == true)
    }

    @Test("Ids outside the vocabulary are an error")
    func invalidID() {
        let char = CharTokenizer(corpus: "ab")
        #expect(throws: TokenizerError.invalidTokenID(2, vocabularySize: 2)) { try char.decode([0, 2]) }
    }
}
