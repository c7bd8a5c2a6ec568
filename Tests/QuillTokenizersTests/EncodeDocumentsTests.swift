// encodeDocuments: many documents of one text in one call (what `quill-train prepare` uses) give exactly the ids of
// encoding each alone, for GPT-2's vocabulary, a fitted BPE and characters.
import Foundation
import QuillTokenizers
import Testing

@Suite("Encoding many documents at once", .needsShakespeare)
struct EncodeDocumentsTests {
    /// The first lines of Tiny Shakespeare plus awkward cases: leading spaces, contractions, digits, non-ASCII,
    /// special-token text (ordinary text here), an empty range.
    func sample() throws -> (String, [Range<Int>]) {
        let text = try String(contentsOf: Fixtures.shakespeareFile, encoding: .utf8)
        var doc = String(text.prefix(20_000))
        doc += "\n  leading spaces\nit's 2026's <|endoftext|> déjà vu 日本語 🙂\n\nend"
        var ranges: [Range<Int>] = []
        var start = 0
        for (i, b) in doc.utf8.enumerated() where b == 0x0A {
            ranges.append(start..<i)
            start = i + 1
        }
        ranges.append(start..<doc.utf8.count)
        return (doc, ranges)
    }

    @Test("GPT-2, a fitted BPE and a character tokenizer give each document's own ids", .needsGPT2)
    func sameAsAlone() throws {
        let (text, ranges) = try sample()
        let bytes = Array(text.utf8)
        let tokenizers: [any Tokenizer] = [try Fixtures.gpt2(), try BytePairTokenizer.fit(corpus: text, vocabularySize: 400),
                                           CharTokenizer(corpus: text)]
        for t in tokenizers {
            var ids: [UInt32] = [7]  // appended to, not replaced
            var starts: [Int] = []
            try t.encodeDocuments(text, ranges: ranges, ids: &ids, starts: &starts)
            #expect(starts.count == ranges.count && ids.first == 7)
            var expected: [UInt32] = [7]
            var expectedStarts: [Int] = []
            for r in ranges {
                expectedStarts.append(expected.count)
                expected += try t.encode(String(decoding: bytes[r], as: UTF8.self)).map { UInt32($0) }
            }
            #expect(ids == expected, "\(t.kind)")
            #expect(starts == expectedStarts, "\(t.kind)")
        }
    }
}
