// Tokenizers are shared between threads (the server encodes many prompts at once): concurrent encodes of one
// tokenizer give the same ids as serial ones, and the protocol works through `any Tokenizer`.
import Foundation
import Testing
@testable import QuillTokenizers

@Suite("Sharing tokenizers")
struct ConcurrencyTests {
    @Test("Concurrent encodes with one tokenizer match serial ones", .needsGPT2, .needsShakespeare)
    func concurrentEncodes() async throws {
        let gpt2 = try Fixtures.gpt2()
        let text = try Fixtures.shakespeare(prefix: 200_000)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let chunks = stride(from: 0, to: lines.count, by: 200).map {
            lines[$0..<min($0 + 200, lines.count)].joined(separator: "\n")
        }
        let serial = chunks.map { gpt2.encode($0) }
        let concurrent = await withTaskGroup(of: (Int, [Int]).self) { group in
            for (index, chunk) in chunks.enumerated() { group.addTask { (index, gpt2.encode(chunk)) } }
            var results = [[Int]](repeating: [], count: chunks.count)
            for await (index, ids) in group { results[index] = ids }
            return results
        }
        #expect(concurrent == serial)
    }

    @Test("Both kinds work through `any Tokenizer`", .needsGPT2)
    func existential() throws {
        let tokenizers: [any Tokenizer] = [try Fixtures.gpt2(), CharTokenizer(corpus: "Your drawing.", endOfText: true)]
        for tokenizer in tokenizers {
            let text = "Your drawing."
            let ids = try tokenizer.encode(text)
            #expect(try tokenizer.decode(ids) == text)
            #expect(try tokenizer.encodeWithOffsets(text).ids == ids)
            #expect(try tokenizer.pieces(ids).count == ids.count)
            #expect(tokenizer.endOfTextID == tokenizer.specialTokens["<|endoftext|>"])
            #expect(try loadTokenizer(json: tokenizer.jsonData()).kind == tokenizer.kind)
        }
    }
}
