// The one rule for the token an empty prompt starts from, shared by the server, `quill-train sample` and the
// trainer's samples.
import Testing
@testable import QuillTokenizers

@Suite("Start token")
struct StartTokenTests {
    @Test("end-of-text when the vocabulary has it, else a newline, else id 0")
    func rule() throws {
        let plain = CharTokenizer(corpus: "ab\nc")
        #expect(plain.startToken == (try plain.encode("\n"))[0])
        // A character model trained on lines has end-of-text: it starts there, as a document does.
        let lines = try CharTokenizer(scalars: ["\n", "a", "b"], endOfText: true)
        #expect(lines.startToken == lines.endOfTextID && lines.startToken == 3)
        let noNewline = CharTokenizer(corpus: "abc")
        #expect(noNewline.startToken == 0)
        let bpe = try BytePairTokenizer.fit(corpus: "hello world hello", vocabularySize: 260)
        #expect(bpe.endOfTextID != nil && bpe.startToken == bpe.endOfTextID)
    }
}
