// GPT-2's byte-level BPE against independent references: tiktoken's ids (golden, see GoldenIDs.swift), the
// notebooks' piece sequences, and a plain re-implementation of the merge loop.
import Foundation
import Testing
@testable import QuillTokenizers

@Suite("Byte-level BPE with GPT-2's vocabulary")
struct BytePairTokenizerTests {
    // MARK: - Golden pieces and ids

    @Test("GPT-2 splits a rare word into its merges", .needsGPT2)
    func charminglyAnachronistic() throws {
        let gpt2 = try Fixtures.gpt2()
        let ids = gpt2.encode("Your drawing is charmingly anachronistic.")
        #expect(try gpt2.pieces(ids) == ["Your", "Ġdrawing", "Ġis", "Ġcharming", "ly", "Ġan", "ach", "ron", "istic", "."])
        #expect(ids == [7120, 8263, 318, 23332, 306, 281, 620, 1313, 2569, 13])
    }

    @Test("GPT-2 spells a made-up word from pieces it knows", .needsGPT2)
    func cirkumnavigate() throws {
        let gpt2 = try Fixtures.gpt2()
        let ids = gpt2.encode("I like to cirkumnavigate the globe every year")
        #expect(try gpt2.pieces(ids)
                == ["I", "Ġlike", "Ġto", "Ġcir", "k", "umn", "av", "igate", "Ġthe", "Ġglobe", "Ġevery", "Ġyear"])
        #expect(ids == [40, 588, 284, 10774, 74, 4182, 615, 10055, 262, 13342, 790, 614])
    }

    @Test("The first 2,000 bytes of Tiny Shakespeare give tiktoken's ids", .needsGPT2, .needsShakespeare)
    func shakespearePrefixMatchesTiktoken() throws {
        let text = try Fixtures.shakespeare(prefix: GoldenIDs.shakespearePrefixBytes)
        #expect(try Fixtures.gpt2().encode(text) == GoldenIDs.shakespearePrefix)
    }

    @Test("All of Tiny Shakespeare gives tiktoken's 338,025 ids", .needsGPT2, .needsShakespeare)
    func wholeShakespeareMatchesTiktoken() throws {
        let ids = try Fixtures.gpt2().encode(try Fixtures.shakespeare())
        #expect(ids.count == GoldenIDs.shakespeareCount)
        #expect(ids.count == 338_025)
        #expect(fnv1a(ids) == GoldenIDs.shakespeareHash)
    }

    /// (text, tiktoken encode_ordinary ids), generated once with tiktoken's `gpt2` encoding.
    static let goldenStrings: [(String, [Int])] = [
        ("", []),
        (" ", [220]),
        ("  ", [220, 220]),
        ("\n\n\n", [628, 198]),
        ("   \n\n  x", [220, 220, 220, 628, 220, 2124]),
        ("a  b", [64, 220, 275]),
        ("a\tb", [64, 197, 65]),
        ("hello   world  ", [31373, 220, 220, 995, 220, 220]),
        ("I'm you're they've we'll he'd it's DON'T",
         [40, 1101, 345, 821, 484, 1053, 356, 1183, 339, 1549, 340, 338, 23917, 6, 51]),
        ("\r\n", [201, 198]),
        ("line\r\nnext\r\n", [1370, 201, 198, 19545, 201, 198]),
        ("héllo wörld", [71, 2634, 18798, 266, 30570, 335]),
        ("中文字符", [40792, 23877, 229, 27764, 245, 163, 105, 99]),
        ("e\u{301}", [68, 136, 223]),
        ("🙂", [8582, 25081]),
        ("👨‍👩‍👧", [41840, 101, 447, 235, 41840, 102, 447, 235, 41840, 100]),
        ("hi 🙂 there", [5303, 32485, 612]),
        ("<|endoftext|>", [27, 91, 437, 1659, 5239, 91, 29]),
        ("123 4567 ½ ²", [10163, 4153, 3134, 25208, 1587, 110]),
        (" \u{A0}x", [220, 1849, 87]),
        ("x\u{3000}y", [87, 5099, 222, 88]),
        ("tab\t\tend\t", [8658, 197, 197, 437, 197]),
    ]

    @Test("Fixed strings give tiktoken's ids", .needsGPT2, arguments: goldenStrings)
    func goldenString(text: String, expected: [Int]) throws {
        #expect(try Fixtures.gpt2().encode(text) == expected)
    }

    // MARK: - Special tokens

    @Test("End-of-text is ordinary text unless special tokens are allowed", .needsGPT2)
    func specialTokens() throws {
        let gpt2 = try Fixtures.gpt2()
        #expect(gpt2.endOfTextID == 50256)
        #expect(gpt2.vocabularySize == 50257)
        #expect(gpt2.encode("<|endoftext|>") == [27, 91, 437, 1659, 5239, 91, 29])
        #expect(gpt2.encode("<|endoftext|>", allowSpecial: true) == [50256])
        #expect(gpt2.encode("a<|endoftext|> b", allowSpecial: true) == [64, 50256, 275])
        #expect(try gpt2.decode([64, 50256, 275]) == "a<|endoftext|> b")
        #expect(try gpt2.piece(50256) == "<|endoftext|>")
    }

    // MARK: - Offsets

    @Test("Offsets are spans of Unicode scalars", .needsGPT2)
    func offsets() throws {
        let gpt2 = try Fixtures.gpt2()
        let encoded = gpt2.encodeWithOffsets("Your drawing")
        #expect(encoded.ids == [7120, 8263])
        #expect(encoded.offsets == [0..<4, 4..<12])
    }

    @Test("A token that holds part of a character covers the whole character", .needsGPT2)
    func offsetsInsideCharacters() throws {
        let gpt2 = try Fixtures.gpt2()
        // "🙂" is two tokens (bytes F0 9F | 99 82); "é" is one scalar inside "héllo".
        let emoji = gpt2.encodeWithOffsets("a🙂b")
        #expect(emoji.ids.count == emoji.offsets.count)
        for span in emoji.offsets.dropFirst().dropLast() { #expect(span == 1..<2) }
        #expect(emoji.offsets.first == 0..<1)
        #expect(emoji.offsets.last == 2..<3)
        let special = gpt2.encodeWithOffsets("x<|endoftext|>", allowSpecial: true)
        #expect(special.offsets == [0..<1, 1..<14])
    }

    @Test("Offsets cover every scalar in order", .needsGPT2, arguments: Fixtures.awkwardStrings)
    func offsetsAreConsistent(text: String) throws {
        let gpt2 = try Fixtures.gpt2()
        let encoded = gpt2.encodeWithOffsets(text)
        #expect(encoded.ids == gpt2.encode(text))
        var covered = 0
        for span in encoded.offsets {
            #expect(span.lowerBound <= covered && span.lowerBound >= covered - 1 && span.upperBound >= covered)
            covered = span.upperBound
        }
        #expect(covered == text.unicodeScalars.count)
    }

    // MARK: - Merging

    @Test("The heap merge gives the same tokens as the scanning merge on long words", .needsGPT2)
    func heapMatchesScan() throws {
        let gpt2 = try Fixtures.gpt2()
        let words = [String(repeating: "a", count: 48), "internationalization", "Ġ" + String(repeating: "ab", count: 300),
                     String(repeating: "🙂", count: 80), String(repeating: "1234567890", count: 40),
                     "supercalifragilisticexpialidocious" + String(repeating: "x", count: 300)]
        var context = EncodeContext(expectedWords: 16)
        for word in words {
            let bytes = Array(word.utf8)
            let (scanned, heaped) = bytes.withUnsafeBufferPointer { buffer in
                (Array(gpt2.tables.mergeByScanning(buffer.baseAddress!, buffer.count, &context)),
                 Array(gpt2.tables.mergeWithHeap(buffer.baseAddress!, buffer.count, &context)))
            }
            #expect(scanned == heaped, "\(word.prefix(20))")
            #expect(try gpt2.decodeBytes(scanned.map(Int.init)) == bytes)
        }
    }

    @Test("Every GPT-2 token merges back to itself, so a word that is a token may skip merging", .needsGPT2)
    func everyTokenIsReachable() throws {
        let gpt2 = try Fixtures.gpt2()
        var context = EncodeContext(expectedWords: 16)
        var unreachable: [String] = []
        for id in 0..<50256 {
            let bytes = try gpt2.bytes(of: id)
            let merged = bytes.withUnsafeBufferPointer { Array(gpt2.tables.mergeByScanning($0.baseAddress!, $0.count, &context)) }
            if merged != [UInt32(id)] { unreachable.append(try gpt2.piece(id)) }
        }
        #expect(unreachable.isEmpty, "\(unreachable.prefix(20))")
    }

    @Test("Words longer than the cache limit encode like the rest", .needsGPT2)
    func longWords() throws {
        let gpt2 = try Fixtures.gpt2()
        let long = String(repeating: "ab", count: 400)
        let ids = gpt2.encode(long)
        #expect(try gpt2.decode(ids) == long)
        #expect(gpt2.encode(long + " " + long) == ids + gpt2.encode(" " + long))
    }

    // MARK: - Errors and files

    @Test("Decoding an id outside the vocabulary throws", .needsGPT2)
    func invalidID() throws {
        let gpt2 = try Fixtures.gpt2()
        #expect(throws: TokenizerError.invalidTokenID(50257, vocabularySize: 50257)) { try gpt2.decode([50257]) }
        #expect(throws: TokenizerError.invalidTokenID(-1, vocabularySize: 50257)) { try gpt2.piece(-1) }
    }

    @Test("OpenAI's file names (encoder.json, vocab.bpe) load the same tokenizer", .needsGPT2)
    func openAIFileNames() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("quill-openai-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // Links, not copies: the data files stay in the data folder.
        try FileManager.default.createSymbolicLink(at: directory.appendingPathComponent("encoder.json"),
                                                   withDestinationURL: Fixtures.gpt2Directory.appendingPathComponent("vocab.json"))
        try FileManager.default.createSymbolicLink(at: directory.appendingPathComponent("vocab.bpe"),
                                                   withDestinationURL: Fixtures.gpt2Directory.appendingPathComponent("merges.txt"))
        let openAI = try BytePairTokenizer(directory: directory)
        let text = "Your drawing is charmingly anachronistic."
        #expect(openAI.encode(text) == (try Fixtures.gpt2().encode(text)))
        #expect(openAI.vocabularySize == 50257)
    }

    @Test("A directory without vocabulary files is an error that names the files")
    func missingFiles() throws {
        let error = #expect(throws: TokenizerError.self) {
            try BytePairTokenizer(directory: URL(fileURLWithPath: "/nonexistent-quill"))
        }
        #expect(error?.description.contains("vocab.json") == true)
    }

    @Test("A merge of unknown pieces is an error with its line number")
    func badMerge() throws {
        let vocabulary = (0..<256).map { ByteLevel.piece(for: [UInt8($0)]) } + ["ab"]
        #expect(throws: TokenizerError.invalidMerge(line: 2, text: "x yz", reason: "a piece is not in the vocabulary")) {
            try BytePairTokenizer(vocabulary: vocabulary, merges: ["a b", "x yz"], specialTokens: [:])
        }
        #expect(throws: TokenizerError.self) {
            try BytePairTokenizer(vocabulary: Array(vocabulary.prefix(255)), merges: [], specialTokens: [:])
        }
    }
}
