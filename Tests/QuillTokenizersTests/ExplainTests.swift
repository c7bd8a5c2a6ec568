// Explaining BPE: each word's pieces before merging and after each merge step, ending in what encode gives.
import Testing
@testable import QuillTokenizers

@Suite("Explaining merges")
struct ExplainTests {
    @Test("Each word's steps start from bytes and end in the encoded pieces", .needsGPT2)
    func stepsEndInPieces() throws {
        let gpt2 = try Fixtures.gpt2()
        let text = "Your drawing is charmingly anachronistic."
        let explained = gpt2.explain(text)
        #expect(explained.map(\.word) == ["Your", "Ġdrawing", "Ġis", "Ġcharmingly", "Ġanachronistic", "."])
        #expect(explained.flatMap { $0.steps.last! } == (try gpt2.pieces(gpt2.encode(text))))
        let charmingly = explained[3]
        #expect(charmingly.steps.first == ["Ġ", "c", "h", "a", "r", "m", "i", "n", "g", "l", "y"])
        #expect(charmingly.steps.last == ["Ġcharming", "ly"])
        for (before, after) in zip(charmingly.steps, charmingly.steps.dropFirst()) {
            #expect(after.count < before.count)
            #expect(after.joined() == before.joined())
        }
    }

    @Test("Explaining agrees with encoding on awkward text", .needsGPT2, arguments: Fixtures.awkwardStrings)
    func agreesWithEncode(text: String) throws {
        let gpt2 = try Fixtures.gpt2()
        let explained = gpt2.explain(text, allowSpecial: true)
        #expect(explained.flatMap { $0.steps.last! } == (try gpt2.pieces(gpt2.encode(text, allowSpecial: true))))
    }

    @Test("A special token is a word of one step", .needsGPT2)
    func specialToken() throws {
        let explained = try Fixtures.gpt2().explain("a<|endoftext|>", allowSpecial: true)
        #expect(explained == [WordExplanation(word: "a", steps: [["a"]]),
                              WordExplanation(word: "<|endoftext|>", steps: [["<|endoftext|>"]])])
    }
}
