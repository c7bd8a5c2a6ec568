// quill-train prepare: the shards hold exactly the tokens an in-memory run would make, split by whole documents,
// whatever the chunk size and the number of workers; training maps them; bad input and stale shards are errors.
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTensor
import QuillTokenizers
@testable import QuillTraining
import Testing

/// Every token of a split, in order, and the document starts, read back from the shard files.
func readShards(_ dir: URL, split: String) throws -> (tokens: [Int32], docs: [Int]) {
    let set = try ShardSet(directory: dir.path)
    var tokens: [Int32] = [], docs: [Int] = []
    for s in set.manifest.shards where s.split == split {
        let m = try MappedTokens(path: dir.appendingPathComponent(s.file).path, count: s.tokens, width: set.manifest.width)
        let d = try Data(contentsOf: dir.appendingPathComponent(s.docs))
        let base = tokens.count
        d.withUnsafeBytes { raw in
            for i in 0..<(d.count / 4) { docs.append(base + Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))) }
        }
        for i in 0..<m.count { tokens.append(m[i]) }
    }
    return (tokens, docs)
}

@Suite("Token shards", .needsShakespeare)
struct ShardTests {
    func prepare(_ inputs: [String], _ out: URL, format: DataFormat, tokenizer: TokenizerSpec = TokenizerSpec(kind: "char"),
                 workers: Int = 2, chunk: Int? = nil, shardTokens: Int = 100_000_000) throws -> ShardManifest {
        var o = PrepareOptions(inputs: inputs, output: out.path)
        o.format = format
        o.tokenizer = tokenizer
        o.workers = workers
        o.chunkBytesOverride = chunk
        o.shardTokens = shardTokens
        return try ShardPreparer.run(o)
    }

    @Test("lines: the shards hold each document's tokens and end-of-text, whole documents to val by hash, as in memory")
    func linesEqualInMemory() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(120_000, in: dir)
        let m = try prepare([data], dir.appendingPathComponent("a"), format: .lines, chunk: 7_000, shardTokens: 30_000)
        #expect(m.dtype == "uint16" && m.dataFormat == "lines" && m.shards.filter { $0.split == "train" }.count > 1)
        // The expectation, from the in-memory reader: the same documents, each to the side its hash picks.
        let corpus = try Corpus(path: data, format: .lines)
        let tokenizer = try m.tokenizer.makeTokenizer()
        let eot = Int32(tokenizer.endOfTextID!)
        var expected: (train: [Int32], val: [Int32]) = ([], [])
        var docs: (train: [Int], val: [Int]) = ([], [])
        let threshold = UInt64(Double(UInt64.max) * 0.1)
        for d in corpus.documents {
            var s = d
            let h = s.withUTF8 { documentHash(UnsafeRawBufferPointer($0), seed: 1337) }
            let ids = try tokenizer.encode(d).map(Int32.init) + [eot]
            if h < threshold { docs.val.append(expected.val.count); expected.val += ids } else { docs.train.append(expected.train.count); expected.train += ids }
        }
        let train = try readShards(dir.appendingPathComponent("a"), split: "train")
        let val = try readShards(dir.appendingPathComponent("a"), split: "val")
        #expect(train.tokens == expected.train && val.tokens == expected.val)
        #expect(train.docs == docs.train && val.docs == docs.val)
        #expect(m.documents("train") + m.documents("val") == corpus.documents.count)
        // Every shard starts with a document (windows never span two shards, so none may be cut between them),
        // and every closed shard but the last of its split holds at least shard_tokens.
        for (i, s) in m.shards.enumerated() {
            let docs = try Data(contentsOf: dir.appendingPathComponent("a").appendingPathComponent(s.docs))
            #expect(docs.prefix(4) == Data([0, 0, 0, 0]), "\(s.file)")
            let lastOfSplit = !m.shards[(i + 1)...].contains { $0.split == s.split }
            if !lastOfSplit { #expect(s.tokens >= 30_000, "\(s.file): \(s.tokens)") }
        }
        // About a tenth of the distinct documents (a repeated line always goes the same way).
        var distinct: [String: Bool] = [:]
        for d in corpus.documents { var s = d; distinct[d] = s.withUTF8 { documentHash(UnsafeRawBufferPointer($0), seed: 1337) } < threshold }
        let share = Double(distinct.values.filter { $0 }.count) / Double(distinct.count)
        #expect(share > 0.08 && share < 0.12, "val share \(share)")
        // The same bytes with one worker and another chunk size.
        let m2 = try prepare([data], dir.appendingPathComponent("b"), format: .lines, workers: 1, chunk: 64 << 10, shardTokens: 30_000)
        #expect(try readShards(dir.appendingPathComponent("b"), split: "train").tokens == expected.train)
        #expect(m2.tokenizer == m.tokenizer)
        try ShardSet(directory: dir.appendingPathComponent("a").path).verify()
        // sha256sum -c reads the same digests.
        let sums = try String(contentsOf: dir.appendingPathComponent("a/SHA256SUMS"), encoding: .utf8)
        #expect(sums.split(separator: "\n").count == 2 * m.shards.count)
        #expect(sums.contains("\(m.shards[0].sha256)  \(m.shards[0].file)\n"))
    }

    @Test("text: cut into chunks at safe line breaks, the shards hold GPT-2's tokens of the whole file, its last tenth as val",
          .needsGPT2)
    func textEqualsWholeFile() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(150_000, in: dir)
        let spec = TokenizerSpec(kind: "gpt2", path: TestData.gpt2Directory.path)
        let m = try prepare([data], dir.appendingPathComponent("s"), format: .text, tokenizer: spec, workers: 3, chunk: 3_000)
        let tokenizer = try BytePairTokenizer(directory: TestData.gpt2Directory)
        let whole = try tokenizer.encode(String(contentsOfFile: data, encoding: .utf8)).map(Int32.init)
        let train = try readShards(dir.appendingPathComponent("s"), split: "train")
        let val = try readShards(dir.appendingPathComponent("s"), split: "val")
        #expect(train.tokens + val.tokens == whole)
        let share = Double(val.tokens.count) / Double(whole.count)
        #expect(share > 0.08 && share < 0.12, "val share \(share)")
        #expect(train.docs == [0] && val.docs == [0] && m.endOfText == 50256)
    }

    @Test("a vocabulary past 65,536 ids is stored as uint32")
    func wideTokens() throws {
        let dir = scratchFolder()
        // 70,000 distinct scalars from the supplementary planes, 100 to a line.
        var text = ""
        for i in 0..<70_000 {
            text.unicodeScalars.append(Unicode.Scalar(0x10000 + UInt32(i))!)
            if i % 100 == 99 { text += "\n" }
        }
        let path = dir.appendingPathComponent("wide.txt").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let m = try prepare([path], dir.appendingPathComponent("w"), format: .text)
        #expect(m.dtype == "uint32" && m.vocabSize == 70_000 + 1)
        let t = try readShards(dir.appendingPathComponent("w"), split: "train").tokens
            + readShards(dir.appendingPathComponent("w"), split: "val").tokens
        let tokenizer = try m.tokenizer.makeTokenizer()
        #expect(t == (try tokenizer.encode(text).map(Int32.init)))
    }

    @Test("a run trains from shards, resumes from them, and refuses shards that changed")
    func trainFromShards() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(60_000, in: dir)
        let shards = dir.appendingPathComponent("shards")
        _ = try prepare([data], shards, format: .lines)
        var c = tinyConfig(steps: 8)
        c.tokenizer = TokenizerSpec(kind: "bpe", vocabSize: 300)  // ignored: the shards bring their tokenizer
        let ckpt = dir.appendingPathComponent("m.safetensors").path
        let t = try Trainer(config: c, dataPath: shards.path, format: .text, checkpoint: ckpt)
        #expect(t.tokenizer.kind == .char)
        #expect((t.model as? GPT)?.config.documentToken == t.tokenizer.endOfTextID)
        try t.run()
        let more = try Trainer(resuming: ckpt, overrides: [("max_steps", "10")])
        #expect(more.step == 8)
        try more.run()
        // A shard cut short, and a manifest changed, are both refused.
        let first = shards.appendingPathComponent("train-00000.bin")
        let bytes = try Data(contentsOf: first)
        try bytes.prefix(bytes.count - 2).write(to: first)
        #expect(throws: TrainingError.self) { _ = try Trainer(resuming: ckpt, overrides: [("max_steps", "12")]) }
        try bytes.write(to: first)
        let manifest = shards.appendingPathComponent("manifest.json")
        let text = try String(contentsOf: manifest, encoding: .utf8)
        try text.replacingOccurrences(of: "\"seed\" : 1337", with: "\"seed\" : 1338").write(to: manifest, atomically: true, encoding: .utf8)
        do {
            _ = try Trainer(resuming: ckpt, overrides: [("max_steps", "12")])
            Issue.record("a changed manifest was accepted")
        } catch {
            #expect("\(error)".contains("SHA-256 differs"))
        }
    }

    @Test("bad input and an occupied output folder are errors that name them")
    func errors() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(20_000, in: dir)
        let out = dir.appendingPathComponent("o")
        _ = try prepare([data], out, format: .lines)
        #expect(throws: TrainingError.output(path: out.path, reason: "holds shards already: pass --force to replace them")) {
            _ = try prepare([data], out, format: .lines)
        }
        var o = PrepareOptions(inputs: [data], output: out.path)
        o.force = true
        o.format = .lines
        #expect(try ShardPreparer.run(o).documents("train") > 0)
        let bad = dir.appendingPathComponent("bad.txt")
        try Data("good line\nbad \u{00e9}".utf8.dropLast(1)).write(to: bad)
        do {
            _ = try prepare([bad.path], dir.appendingPathComponent("x"), format: .lines)
            Issue.record("invalid UTF-8 was accepted")
        } catch {
            #expect("\(error)".contains("not valid UTF-8 (first bad byte at offset 14)"), "\(error)")
        }
        let jsonl = dir.appendingPathComponent("d.jsonl")
        try "{\"text\": \"a\"}\n{\"txt\": 1}\n".write(to: jsonl, atomically: true, encoding: .utf8)
        #expect(throws: TrainingError.self) { _ = try prepare([jsonl.path], dir.appendingPathComponent("y"), format: .jsonl) }
        #expect(throws: TrainingError.data(path: "/nonexistent.txt", reason: "no such file")) {
            _ = try prepare(["/nonexistent.txt"], dir.appendingPathComponent("z"), format: .text)
        }
    }
}
