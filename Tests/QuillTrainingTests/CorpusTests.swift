// Data files: formats, gzip, and the one-line errors for missing, empty, non-UTF-8 and too-short files.
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTokenizers
import QuillTraining
import Testing

@Suite("Corpus")
struct CorpusTests {
    func message(_ f: () throws -> Void) -> String {
        do { try f(); return "" } catch { return "\(error)" }
    }

    @Test("missing, empty, directory and non-UTF-8 files are errors naming the file")
    func badFiles() throws {
        let dir = scratchFolder()
        let empty = dir.appendingPathComponent("empty.txt").path
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        let binary = dir.appendingPathComponent("bin.txt").path
        _ = FileManager.default.createFile(atPath: binary, contents: Data([0x41, 0x42, 0xFF, 0xFE]))
        #expect(message { _ = try Corpus(path: dir.path + "/nope.txt", format: .text) }.contains("nope.txt: no such file"))
        #expect(message { _ = try Corpus(path: empty, format: .text) }.contains("empty"))
        #expect(message { _ = try Corpus(path: dir.path, format: .text) }.contains("is a directory"))
        #expect(message { _ = try Corpus(path: binary, format: .text) }.contains("not valid UTF-8 (first bad byte at offset 2)"))
    }

    @Test("lines and jsonl formats make one document per entry, each followed by end-of-text")
    func formats() throws {
        let dir = scratchFolder()
        let lines = dir.appendingPathComponent("l.txt").path
        try "first doc\n\n  \nsecond doc\n".write(toFile: lines, atomically: true, encoding: .utf8)
        let c = try Corpus(path: lines, format: .lines)
        #expect(c.documents == ["first doc", "second doc"])
        let tok = try c.makeTokenizer(TokenizerSpec(kind: "char"))
        let ids = try c.tokens(with: tok)
        let eot = Int32(tok.specialTokens[SpecialTokens.endOfText]!)
        #expect(ids.filter { $0 == eot }.count == 2 && ids.last == eot)
        let jsonl = dir.appendingPathComponent("j.jsonl").path
        try "{\"text\": \"a b\"}\n{\"text\": \"c\", \"id\": 3}\n".write(toFile: jsonl, atomically: true, encoding: .utf8)
        #expect(try Corpus(path: jsonl, format: .jsonl).documents == ["a b", "c"])
        try "{\"text\": \"a\"}\n{\"body\": 1}\n".write(toFile: jsonl, atomically: true, encoding: .utf8)
        #expect(message { _ = try Corpus(path: jsonl, format: .jsonl) }.contains("line 2: expected a JSON object"))
    }

    @Test("gzip files are read through zlib")
    func gzip() throws {
        let dir = scratchFolder()
        let path = dir.appendingPathComponent("t.txt").path
        try "To be, or not to be\n".write(toFile: path, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = [path]
        try p.run()
        p.waitUntilExit()
        #expect(try Corpus(path: path + ".gz", format: .text).text == "To be, or not to be\n")
    }

    @Test("a corpus shorter than block_size + 1 per split is an error that says what to do")
    func tooShort() {
        #expect(message { _ = try TokenSplit(tokens: Array(repeating: 1, count: 100), valFraction: 0.1, blockSize: 16, path: "x") }
            .contains("block_size + 1 = 17"))
    }

    @Test("the split is the first 90% for training and the last 10% for validation")
    func split() throws {
        let s = try TokenSplit(tokens: (0..<1000).map(Int32.init), valFraction: 0.1, blockSize: 8, path: "x")
        #expect(s.train.count == 900 && s.train.last == 899 && s.val.first == 900)
    }
}

@Suite("Documents kept apart in training", .needsShakespeare)
struct DocumentTrainingTests {
    @Test("lines and jsonl runs keep documents apart (end-of-text opens each), text runs and document_mask false do not")
    func documentToken() throws {
        let dir = scratchFolder()
        let text = try shakespeareSlice(20_000, in: dir)
        let lines = try shakespeareSlice(20_000, in: dir, name: "lines.txt")
        func token(_ path: String, _ format: DataFormat, mask: Bool = true, name: String) throws -> Int? {
            var c = tinyConfig(steps: 2)
            c.documentMask = mask
            let out = dir.appendingPathComponent(name + ".safetensors")
            let t = try Trainer(config: c, dataPath: path, format: format, checkpoint: out.path)
            try t.run()
            guard case .gpt(let g) = try Checkpoint.read(from: out).spec else { return -1 }
            #expect(g.documentToken == (t.model as? GPT)?.config.documentToken)
            if g.documentToken != nil { #expect(g.documentToken == t.tokenizer.endOfTextID) }
            return g.documentToken
        }
        #expect(try token(lines, .lines, name: "a") != nil)
        #expect(try token(text, .text, name: "b") == nil)
        #expect(try token(lines, .lines, mask: false, name: "c") == nil)
    }
}
