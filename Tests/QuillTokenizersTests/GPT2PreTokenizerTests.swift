// GPT-2's pre-tokenization, one rule per test: contractions, the optional leading space, letters / numbers /
// other runs, and the white-space rules (a run gives its last scalar to the next word unless it ends the text).
import Testing
@testable import QuillTokenizers

@Suite("GPT-2 pre-tokenization")
struct GPT2PreTokenizerTests {
    @Test("Lowercase contractions split off; uppercase ones do not")
    func contractions() {
        #expect(GPT2PreTokenizer.split("I'm you're they've we'll he'd it's can't")
                == ["I", "'m", " you", "'re", " they", "'ve", " we", "'ll", " he", "'d", " it", "'s", " can", "'t"])
        #expect(GPT2PreTokenizer.split("DON'T") == ["DON", "'", "T"])
        #expect(GPT2PreTokenizer.split("'sam") == ["'s", "am"])
        #expect(GPT2PreTokenizer.split("''s") == ["''", "s"])
    }

    @Test("A space joins the letters, numbers or punctuation that follow it")
    func leadingSpace() {
        #expect(GPT2PreTokenizer.split("Hello world 42 !!") == ["Hello", " world", " 42", " !!"])
        #expect(GPT2PreTokenizer.split("abc123def") == ["abc", "123", "def"])
        #expect(GPT2PreTokenizer.split("x?!.y") == ["x", "?!.", "y"])
    }

    @Test("A run of spaces gives its last space to the next word")
    func whitespaceBeforeWord() {
        #expect(GPT2PreTokenizer.split("a   b") == ["a", "  ", " b"])
        #expect(GPT2PreTokenizer.split("a\n\nb") == ["a", "\n", "\n", "b"])
        #expect(GPT2PreTokenizer.split("a \n b") == ["a", " \n", " b"])
        #expect(GPT2PreTokenizer.split("a\tb") == ["a", "\t", "b"])
    }

    @Test("White space at the end of the text stays one word")
    func trailingWhitespace() {
        #expect(GPT2PreTokenizer.split("end   ") == ["end", "   "])
        #expect(GPT2PreTokenizer.split("end \n") == ["end", " \n"])
        #expect(GPT2PreTokenizer.split(" ") == [" "])
        #expect(GPT2PreTokenizer.split("") == [])
    }

    @Test("\"\\r\\n\" is two scalars of white space")
    func carriageReturn() {
        #expect(GPT2PreTokenizer.split("a\r\nb") == ["a", "\r", "\n", "b"])
        #expect(GPT2PreTokenizer.split("a\r\n") == ["a", "\r\n"])
    }

    @Test("Letters and numbers are Unicode's; marks and emoji are other")
    func unicodeClasses() {
        #expect(GPT2PreTokenizer.split("héllo 中文 ٣٤ ½") == ["héllo", " 中文", " ٣٤", " ½"])
        #expect(GPT2PreTokenizer.split("e\u{301}x") == ["e", "\u{301}", "x"])
        #expect(GPT2PreTokenizer.split("hi 🙂🙂 there") == ["hi", " 🙂🙂", " there"])
        // U+00A0 and U+3000 are white space, but only U+0020 can lead a word.
        #expect(GPT2PreTokenizer.split("a\u{A0}b") == ["a", "\u{A0}", "b"])
        #expect(GPT2PreTokenizer.split("a \u{3000}b") == ["a", " ", "\u{3000}", "b"])
    }

    @Test("The words joined give the text back", arguments: Fixtures.awkwardStrings)
    func wordsCoverText(text: String) {
        #expect(GPT2PreTokenizer.split(text).joined() == text)
    }
}
