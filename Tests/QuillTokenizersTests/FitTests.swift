// Fitting byte-level BPE: reaches the asked size, is deterministic, round-trips, and agrees with a plain
// from-scratch fit (recount every pair, merge the most frequent) on a small corpus.
import Testing
@testable import QuillTokenizers

@Suite("Fitting byte-level BPE")
struct FitTests {
    /// A 512-token fit on the first 100 kB of Tiny Shakespeare, shared by the tests that only need some fit.
    private static let small = Result {
        try BytePairTokenizer.fit(corpus: Fixtures.shakespeare(prefix: 100_000), vocabularySize: 512)
    }
    static func smallFit() throws -> BytePairTokenizer { try small.get() }

    @Test("Fitting reaches the asked vocabulary size, end-of-text last", .needsShakespeare)
    func reachesSize() throws {
        let fitted = try Self.smallFit()
        #expect(fitted.vocabularySize == 512)
        #expect(fitted.endOfTextID == 511)
        #expect(fitted.merges.count == 511 - 256)
        #expect(try fitted.piece(Int(UInt8(ascii: "a"))) == "a")
        let noEOT = try BytePairTokenizer.fit(corpus: "aaab aab ab", vocabularySize: 258, endOfText: false)
        #expect(noEOT.vocabularySize == 258 && noEOT.specialTokens.isEmpty)
    }

    @Test("Fitting is deterministic", .needsShakespeare)
    func deterministic() throws {
        let text = try Fixtures.shakespeare(prefix: 100_000)
        let again = try BytePairTokenizer.fit(corpus: text, vocabularySize: 512)
        #expect(again.serialized == (try Self.smallFit()).serialized)
    }

    @Test("A fitted tokenizer compresses its corpus and round-trips it", .needsShakespeare)
    func compressesAndRoundTrips() throws {
        let text = try Fixtures.shakespeare(prefix: 100_000)
        let fitted = try Self.smallFit()
        let ids = fitted.encode(text)
        #expect(ids.count < text.utf8.count / 2)
        #expect(try fitted.decode(ids) == text)
    }

    @Test("The first merges are the most frequent pairs, ties to the smallest ids")
    func firstMerges() throws {
        // Words after pre-tokenization: "aaab", " aab", " ab".
        let fitted = try BytePairTokenizer.fit(corpus: "aaab aab ab", vocabularySize: 258, endOfText: false)
        // Pair counts: (a,a)=3, (a,b)=3, (" ",a)=2: (a,a) and (a,b) tie; (97,97) < (97,98) wins.
        #expect(fitted.merges.first! == (97, 97))
        #expect(try fitted.piece(256) == "aa")
    }

    @Test("Incremental pair counts give the same merges as recounting from scratch", .needsShakespeare)
    func matchesNaiveFit() throws {
        let corpus = try Fixtures.shakespeare(prefix: 20_000)
        let fitted = try BytePairTokenizer.fit(corpus: corpus, vocabularySize: 356, endOfText: false)
        #expect(fitted.merges.map { [$0.left, $0.right] } == naiveMerges(corpus, count: 100))
    }

    @Test("A vocabulary smaller than the bytes is an error")
    func tooSmall() {
        #expect(throws: TokenizerError.self) { try BytePairTokenizer.fit(corpus: "abc", vocabularySize: 256) }
    }

    @Test("A corpus with no pairs left stops early")
    func stopsEarly() throws {
        let fitted = try BytePairTokenizer.fit(corpus: "ab", vocabularySize: 1000, endOfText: false)
        #expect(fitted.vocabularySize == 257)
        #expect(fitted.encode("ab") == [256])
    }

    /// The textbook algorithm: split into words, recount all pairs for every merge.
    private func naiveMerges(_ corpus: String, count: Int) -> [[Int]] {
        var counts: [[Int]: Int] = [:]
        for word in GPT2PreTokenizer.split(corpus) { counts[Array(word.utf8).map(Int.init), default: 0] += 1 }
        var words = Array(counts.keys)
        let frequency = words.map { counts[$0]! }
        var merges: [[Int]] = []
        for next in 256..<(256 + count) {
            var pairs: [[Int]: Int] = [:]
            for (w, parts) in words.enumerated() where parts.count > 1 {
                for k in 0..<(parts.count - 1) { pairs[[parts[k], parts[k + 1]], default: 0] += frequency[w] }
            }
            guard let best = pairs.max(by: { $0.value != $1.value ? $0.value < $1.value
                                              : ($0.key[0], $0.key[1]) > ($1.key[0], $1.key[1]) }) else { break }
            merges.append(best.key)
            words = words.map { parts in
                var out: [Int] = []
                var k = 0
                while k < parts.count {
                    if k + 1 < parts.count && parts[k] == best.key[0] && parts[k + 1] == best.key[1] {
                        out.append(next)
                        k += 2
                    } else {
                        out.append(parts[k])
                        k += 1
                    }
                }
                return out
            }
        }
        return merges
    }
}
