// `quill-train prepare`: tokenize a corpus once, streaming, over every core, into token shards (Shards.swift).
//
// The sources are read in chunks that end where a cut changes no token: after a line break for lines and jsonl,
// after a line break between two non-space bytes for text (GPT-2's pre-tokenizer then splits there too). Each round,
// every worker tokenizes one chunk; the chunks' tokens are then written in order. Memory is the round's chunks and
// their tokens (bounded by `memoryMB`), the tokenizer and the write buffers, not the corpus.
//
// Train and val: lines and jsonl documents go to val by a hash of their bytes and the seed (whole documents; a
// document repeated in the corpus always lands on the same side), text files by their last val_fraction (cut at a
// safe line break), as an in-memory run splits them.
import CZlib
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTensor
import QuillTokenizers

#if canImport(Glibc)
import Glibc
#endif

public struct PrepareOptions: Sendable {
    public var inputs: [String]
    public var output: String
    public var format: DataFormat = .text
    public var tokenizer = TokenizerSpec(kind: "char")
    /// A checkpoint or Hugging Face folder whose tokenizer to use instead (for fine-tuning on the shards).
    public var tokenizerFrom: String? = nil
    public var valFraction = 0.1
    public var seed: UInt64 = 1337
    /// Peak memory of the chunks in flight (MB); the chunk size follows from it and the workers.
    public var memoryMB = 256
    /// A shard is closed at the first document boundary past this many tokens.
    public var shardTokens = 100_000_000
    /// Bytes of the corpus a BPE vocabulary is fitted on (MB), taken evenly through it.
    public var sampleMB = 32
    public var workers = Parallel.defaultWorkers
    /// Replace an existing shard folder.
    public var force = false
    /// Tests: chunks of this many bytes instead of the size the memory budget gives.
    var chunkBytesOverride: Int? = nil

    public init(inputs: [String], output: String) {
        self.inputs = inputs
        self.output = output
    }

    /// Bytes per chunk: the memory budget over the workers, at about 24 bytes of working memory per byte of text
    /// (the text, its String, the ids as Int and as UInt32).
    var chunkBytes: Int { chunkBytesOverride ?? min(64 << 20, max(64 << 10, (memoryMB << 20) / (max(1, workers) * 24))) }
}

public enum PrepareEvent: Sendable {
    case tokenizer(String)
    case progress(bytes: Int, totalBytes: Int, tokens: Int, seconds: Double)
}

// MARK: - Reading in safe chunks

/// A source file read sequentially (plain or gzip), in chunks that end at safe cuts.
final class ChunkReader {
    let path: String
    let format: DataFormat
    private var fd: Int32 = -1
    private var gz: gzFile? = nil
    private var carry: [UInt8] = []
    private var eof = false
    /// Bytes handed out so far.
    private(set) var offset = 0

    init(path: String, format: DataFormat) throws(TrainingError) {
        self.path = path
        self.format = format
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw .data(path: path, reason: "no such file") }
        guard !isDir.boolValue else { throw .data(path: path, reason: "is a directory, expected a text file") }
        if path.hasSuffix(".gz") {
            guard let g = gzopen(path, "rb") else { throw .data(path: path, reason: "cannot open the gzip file") }
            gz = g
        } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .data(path: path, reason: "cannot read the file (\(String(cString: strerror(errno))))") }
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if let gz { gzclose(gz) }
    }

    /// Bytes after decompression, by reading a gzip file through once (plain files: their size).
    static func size(of path: String) throws(TrainingError) -> Int {
        if !path.hasSuffix(".gz") {
            guard let s = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int else {
                throw .data(path: path, reason: "no such file")
            }
            return s
        }
        let r = try ChunkReader(path: path, format: .text)
        var total = 0
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try r.readRaw(&buf)
            if n == 0 { break }
            total += n
        }
        return total
    }

    private func readRaw(_ buf: inout [UInt8]) throws(TrainingError) -> Int {
        let cap = buf.count
        let n: Int = buf.withUnsafeMutableBytes { b in
            if let gz { return Int(gzread(gz, b.baseAddress, UInt32(cap))) }
            while true {
                let r = read(fd, b.baseAddress, cap)
                if r < 0 && errno == EINTR { continue }
                return r
            }
        }
        if n < 0 { throw .data(path: path, reason: gz != nil ? "corrupt gzip data" : "read error (\(String(cString: strerror(errno))))") }
        return n
    }

    /// Whether a chunk may end just before byte index i of `b` (i.e. after b[i - 1]): after a line break, and for
    /// text only between two non-space bytes.
    @inline(__always) static func safeCut(_ b: [UInt8], _ i: Int, format: DataFormat) -> Bool {
        guard i >= 1 && i <= b.count && b[i - 1] == 0x0A else { return false }
        if format != .text { return true }
        func space(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 || c == 0x0B || c == 0x0C }
        return i >= 2 && i < b.count && !space(b[i - 2]) && !space(b[i])
    }

    /// The next chunk: about `size` bytes, ending at the last safe cut before that (or, failing one, the first after
    /// it; a file without any ends in one chunk); nil at the end of the file.
    func next(size: Int) throws(TrainingError) -> [UInt8]? {
        var buf = carry
        carry = []
        var block = [UInt8](repeating: 0, count: 1 << 20)
        // One byte past `size`, so that a cut at exactly `size` can see the byte after it.
        while buf.count <= size && !eof {
            let n = try readRaw(&block)
            if n == 0 { eof = true; break }
            buf.append(contentsOf: block[0..<n])
        }
        if buf.isEmpty { return nil }
        if buf.count <= size && eof {
            offset += buf.count
            return buf
        }
        var cut = 0
        var i = min(size, buf.count)
        while i >= 1 { if ChunkReader.safeCut(buf, i, format: format) { cut = i; break }; i -= 1 }
        if cut == 0 {
            i = min(size, buf.count) + 1
            while true {
                while i < buf.count { if ChunkReader.safeCut(buf, i, format: format) { cut = i; break }; i += 1 }
                if cut > 0 || eof { break }
                let n = try readRaw(&block)
                if n == 0 { eof = true; break }
                buf.append(contentsOf: block[0..<n])
            }
            if cut == 0 { cut = buf.count }
        }
        carry = Array(buf[cut...])
        buf.removeSubrange(cut...)
        offset += buf.count
        return buf
    }
}

// MARK: - Tokenizing one chunk

struct ChunkTokens {
    var train: [UInt32] = []
    var val: [UInt32] = []
    /// Offsets in train / val where a document starts.
    var trainDocs: [Int] = []
    var valDocs: [Int] = []
    var bytes = 0
}

/// FNV-1a over the bytes, mixed with the seed: which side of the split a document goes to.
@inline(__always) func documentHash(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return SplitMix64.mix(h ^ seed)
}

func documentsOf(_ text: String, format: DataFormat, path: String) throws(TrainingError) -> [Substring] {
    switch format {
    case .text:
        return [text[...]]
    case .lines:
        // As Corpus reads them: non-empty lines that are not all blanks.
        return text.split(whereSeparator: \.isNewline).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    case .jsonl:
        var docs: [Substring] = []
        for line in text.split(separator: "\n") {
            let l = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if l.isEmpty { continue }
            guard let t = jsonlText(l) else {
                throw .data(path: path, reason: "expected a JSON object with a string field \"text\" on every line (first bad line starts: \(l.prefix(40)))")
            }
            docs.append(t[...])
        }
        return docs
    }
}

/// The non-blank lines of UTF-8 bytes, as byte ranges: what `split(whereSeparator: \.isNewline)` and the blank
/// filter of `documentsOf` give (line ends: \n, \r, \r\n, \v, \f, U+0085, U+2028, U+2029), without making Strings.
func lineRanges(_ b: [UInt8]) -> [Range<Int>] {
    var out: [Range<Int>] = []
    b.withUnsafeBufferPointer { p in
        let n = p.count
        var start = 0, i = 0
        func close(_ end: Int) {
            guard end > start else { return }
            // Blank: only spaces and tabs, or (with non-ASCII bytes and nothing else visible) only Unicode spaces.
            var visibleASCII = false, nonASCII = false
            for k in start..<end {
                let c = p[k]
                if c >= 0x80 { nonASCII = true } else if c != 0x20 && c != 0x09 { visibleASCII = true; break }
            }
            if visibleASCII {
                out.append(start..<end)
            } else if nonASCII {
                let s = String(decoding: UnsafeBufferPointer(rebasing: p[start..<end]), as: UTF8.self)
                if !s.trimmingCharacters(in: .whitespaces).isEmpty { out.append(start..<end) }
            }
        }
        while i < n {
            let c = p[i]
            var w = 0
            if c == 0x0A || c == 0x0B || c == 0x0C || c == 0x0D { w = 1 }
            else if c == 0xC2 && i + 1 < n && p[i + 1] == 0x85 { w = 2 }
            else if c == 0xE2 && i + 2 < n && p[i + 1] == 0x80 && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9) { w = 3 }
            if w > 0 {
                close(i)
                i += w
                start = i
            } else {
                i += 1
            }
        }
        close(n)
    }
    return out
}

func decodeChunk(_ bytes: [UInt8], path: String, at offset: Int) throws(TrainingError) -> String {
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw .data(path: path, reason: "not valid UTF-8 (first bad byte at offset \(offset + firstInvalidUTF8(bytes)))")
    }
    return text
}

// MARK: - Writing shards

/// One split's output: the open shard, its docs file, their hashes, and the shards closed so far.
final class ShardSink {
    let directory: String
    let split: String
    let width: Int
    let shardTokens: Int
    private(set) var shards: [ShardManifest.Shard] = []
    private var file: FileHandle?
    private var docsFile: FileHandle?
    private var hasher = SHA256Hasher(), docsHasher = SHA256Hasher()
    private var tokens = 0, documents = 0
    private var buffer: [UInt8] = []
    private var docsBuffer: [UInt8] = []

    init(directory: String, split: String, width: Int, shardTokens: Int) {
        self.directory = directory
        self.split = split
        self.width = width
        self.shardTokens = shardTokens
    }

    private var name: String { String(format: "%@-%05d", split, shards.count) }

    private func open() throws(TrainingError) {
        for f in [name + ".bin", name + ".docs"] {
            let path = (directory as NSString).appendingPathComponent(f)
            // open(2), not FileManager.createFile, which writes through a ".dat.nosync…" temporary beside the file.
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .output(path: path, reason: "cannot create the shard") }
            let h = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            if f.hasSuffix(".bin") { file = h } else { docsFile = h }
        }
        hasher = SHA256Hasher()
        docsHasher = SHA256Hasher()
        tokens = 0
        documents = 0
    }

    private func flush() throws(TrainingError) {
        do {
            if !buffer.isEmpty {
                buffer.withUnsafeBytes { hasher.update($0) }
                try file?.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
            if !docsBuffer.isEmpty {
                docsBuffer.withUnsafeBytes { docsHasher.update($0) }
                try docsFile?.write(contentsOf: docsBuffer)
                docsBuffer.removeAll(keepingCapacity: true)
            }
        } catch {
            throw .output(path: (directory as NSString).appendingPathComponent(name + ".bin"), reason: "\(error)")
        }
    }

    /// Appends a chunk's tokens; `docs` are the offsets in `ids` where documents start. A new shard begins at a
    /// document start once the current one holds shard_tokens.
    func append(_ ids: [UInt32], docs: [Int]) throws(TrainingError) {
        var from = 0
        var d = 0  // docs[d] is the first document start at or after `from`
        while from < ids.count {
            while d < docs.count && docs[d] < from { d += 1 }
            // A full shard closes where a document starts.
            if file != nil && tokens >= shardTokens && d < docs.count && docs[d] == from { try close() }
            if file == nil { try open() }
            // Up to the first document start past the shard's room (or the chunk's end).
            var to = ids.count
            let room = shardTokens - tokens
            if room < ids.count - from {
                var k = d
                while k < docs.count && docs[k] < from + max(room, 1) { k += 1 }
                if k < docs.count { to = docs[k] }
            }
            for o in docs where o >= from && o < to {
                let rel = UInt32(tokens + o - from)
                withUnsafeBytes(of: rel.littleEndian) { docsBuffer.append(contentsOf: $0) }
                documents += 1
            }
            // Little-endian (the only byte order Swift runs on here: x86-64 and arm64).
            if width == 2 {
                let narrow = ids[from..<to].map { UInt16(truncatingIfNeeded: $0) }
                narrow.withUnsafeBytes { buffer.append(contentsOf: $0) }
            } else {
                ids[from..<to].withUnsafeBytes { buffer.append(contentsOf: $0) }
            }
            tokens += to - from
            if buffer.count >= 8 << 20 { try flush() }
            from = to
        }
    }

    func close() throws(TrainingError) {
        guard file != nil else { return }
        try flush()
        do {
            try file?.synchronize()
            try docsFile?.synchronize()
            try file?.close()
            try docsFile?.close()
        } catch {
            throw .output(path: (directory as NSString).appendingPathComponent(name + ".bin"), reason: "\(error)")
        }
        file = nil
        docsFile = nil
        shards.append(ShardManifest.Shard(file: name + ".bin", split: split, tokens: tokens, documents: documents,
                                          sha256: hasher.finalizeHex(), docs: name + ".docs",
                                          docsSHA256: docsHasher.finalizeHex()))
    }
}

// MARK: - The pipeline

public enum ShardPreparer {
    /// Tokenizes `options.inputs` into shards in `options.output` and returns the manifest written there.
    public static func run(_ o: PrepareOptions, onEvent: (PrepareEvent) -> Void = { _ in }) throws(TrainingError)
        -> ShardManifest {
        guard !o.inputs.isEmpty else { throw .config("prepare needs at least one --data FILE") }
        guard o.valFraction > 0 && o.valFraction < 1 else { throw .config("--val-fraction must be in (0, 1), got \(o.valFraction)") }
        guard o.memoryMB >= 16 else { throw .config("--memory-mb must be >= 16, got \(o.memoryMB)") }
        guard o.shardTokens >= 1024 else { throw .config("--shard-tokens must be >= 1024, got \(o.shardTokens)") }
        guard o.sampleMB >= 1 else { throw .config("--sample-mb must be >= 1, got \(o.sampleMB)") }
        var sizes: [Int] = []
        for p in o.inputs { sizes.append(try ChunkReader.size(of: p)) }
        for (p, s) in zip(o.inputs, sizes) where s == 0 { throw .data(path: p, reason: "the file is empty") }
        let total = sizes.reduce(0, +)
        try prepareOutput(o)
        let start = Date()

        // The tokenizer.
        let tokenizer = try makeTokenizer(o, sizes: sizes, onEvent: onEvent)
        let eot = tokenizer.endOfTextID
        if o.format != .text && eot == nil {
            throw .tokenizer("format \(o.format.rawValue) needs an end-of-text token, and this tokenizer has none")
        }
        let V = tokenizer.vocabularySize
        let width = V <= 65_536 ? 2 : 4
        let train = ShardSink(directory: o.output, split: "train", width: width, shardTokens: o.shardTokens)
        let val = ShardSink(directory: o.output, split: "val", width: width, shardTokens: o.shardTokens)
        var sources: [ShardManifest.Source] = []
        var done = 0, tokenCount = 0
        let W = max(1, o.workers)
        for (path, size) in zip(o.inputs, sizes) {
            let reader = try ChunkReader(path: path, format: o.format)
            // text: the file's last val_fraction is validation, from the last safe cut before that point.
            let valStart = o.format == .text ? Int(Double(size) * (1 - o.valFraction)) : Int.max
            var started = (train: false, val: false)
            var finished = false
            while !finished {
                // One round: W chunks, tokenized in parallel, then written in order.
                var pieces: [(bytes: [UInt8], offset: Int, toVal: Bool)] = []
                for _ in 0..<W {
                    let at = reader.offset
                    guard let c = try reader.next(size: o.chunkBytes) else { finished = true; break }
                    if at >= valStart {
                        pieces.append((c, at, true))
                    } else if at + c.count <= valStart {
                        pieces.append((c, at, false))
                    } else {
                        var cut = valStart - at
                        while cut > 0 && !ChunkReader.safeCut(c, cut, format: o.format) { cut -= 1 }
                        if cut > 0 { pieces.append((Array(c[..<cut]), at, false)) }
                        pieces.append((Array(c[cut...]), at + cut, true))
                    }
                }
                if pieces.isEmpty { break }
                var results = [ChunkTokens](repeating: ChunkTokens(), count: pieces.count)
                var failure: TrainingError? = nil
                let lock = NSLock()
                let fmt = o.format, seed = o.seed, threshold = UInt64(Double(UInt64.max) * o.valFraction)
                let round = pieces
                results.withUnsafeMutableBufferPointer { out in
                    let out = out
                    Parallel.forEach(round.count) { i in
                        do {
                            out[i] = try tokenizeChunk(round[i].bytes, offset: round[i].offset, path: path, format: fmt,
                                                       tokenizer: tokenizer, eot: eot, seed: seed, valThreshold: threshold,
                                                       toVal: round[i].toVal)
                        } catch {
                            lock.lock(); if failure == nil { failure = error as? TrainingError ?? .data(path: path, reason: "\(error)") }; lock.unlock()
                        }
                    }
                }
                if let failure { throw failure }
                for (i, r) in results.enumerated() {
                    var trainDocs = r.trainDocs, valDocs = r.valDocs
                    if fmt == .text {
                        // A text file is one document on each side of its split.
                        if pieces[i].toVal && !started.val && !r.val.isEmpty { valDocs = [0]; started.val = true }
                        if !pieces[i].toVal && !started.train && !r.train.isEmpty { trainDocs = [0]; started.train = true }
                    }
                    try train.append(r.train, docs: trainDocs)
                    try val.append(r.val, docs: valDocs)
                    done += r.bytes
                    tokenCount += r.train.count + r.val.count
                }
                onEvent(.progress(bytes: done, totalBytes: total, tokens: tokenCount, seconds: Date().timeIntervalSince(start)))
            }
            sources.append(ShardManifest.Source(path: path, bytes: size))
        }
        try train.close()
        try val.close()
        let manifest = ShardManifest(dataFormat: o.format.rawValue, sources: sources, tokenizer: tokenizer.serialized,
                                     vocabSize: V, dtype: width == 2 ? "uint16" : "uint32", endOfText: eot,
                                     valFraction: o.valFraction, seed: o.seed, shards: train.shards + val.shards)
        guard manifest.tokens("train") > 0 && manifest.tokens("val") > 0 else {
            throw .data(path: o.inputs[0], reason: "too little text: the split left \(manifest.tokens("train")) train and \(manifest.tokens("val")) val tokens")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            // The shards' digests in sha256sum's format too: `sha256sum -c SHA256SUMS` in the folder checks them.
            let sums = manifest.shards.flatMap { ["\($0.sha256)  \($0.file)\n", "\($0.docsSHA256)  \($0.docs)\n"] }.joined()
            try Data(sums.utf8).write(to: URL(fileURLWithPath: o.output).appendingPathComponent("SHA256SUMS"), options: .atomic)
            // Written last, atomically: a folder without a manifest is an unfinished prepare, never read as shards.
            let data = try encoder.encode(manifest)
            try data.write(to: URL(fileURLWithPath: o.output).appendingPathComponent(ShardManifest.fileName), options: .atomic)
        } catch {
            throw .output(path: o.output, reason: "cannot write the manifest: \(error)")
        }
        return manifest
    }

    /// The output folder: created, or emptied of an earlier prepare with force; never mixed with other files.
    static func prepareOutput(_ o: PrepareOptions) throws(TrainingError) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: o.output, isDirectory: &isDir) {
            guard isDir.boolValue else { throw .output(path: o.output, reason: "exists and is not a folder") }
            let entries = (try? fm.contentsOfDirectory(atPath: o.output)) ?? []
            if !entries.isEmpty {
                let ours = entries.allSatisfy {
                    $0 == ShardManifest.fileName || $0 == "SHA256SUMS" || $0.hasSuffix(".bin") || $0.hasSuffix(".docs")
                }
                guard o.force && ours else {
                    throw .output(path: o.output, reason: ours ? "holds shards already: pass --force to replace them"
                                  : "is not empty and holds files other than shards: choose an empty or new folder")
                }
                for e in entries { try? fm.removeItem(atPath: (o.output as NSString).appendingPathComponent(e)) }
            }
        } else {
            do { try fm.createDirectory(atPath: o.output, withIntermediateDirectories: true) } catch {
                throw .output(path: o.output, reason: "cannot create the folder (\(error.localizedDescription))")
            }
        }
    }

    static func tokenizeChunk(_ bytes: [UInt8], offset: Int, path: String, format: DataFormat, tokenizer: any Tokenizer,
                              eot: Int?, seed: UInt64, valThreshold: UInt64, toVal: Bool) throws(TrainingError) -> ChunkTokens {
        let text = try decodeChunk(bytes, path: path, at: offset)
        var out = ChunkTokens()
        out.bytes = bytes.count
        do {
            if format == .text {
                let ids = try tokenizer.encode(text)
                let u = ids.map { UInt32($0) }
                if toVal { out.val = u } else { out.train = u }
                return out
            }
            // The documents as byte ranges of the chunk (lines), or as texts of their own (jsonl).
            var docText = text
            var ranges: [Range<Int>] = []
            if format == .lines {
                ranges = lineRanges(bytes)
            } else {
                let docs = try documentsOf(text, format: format, path: path)
                var joined: [UInt8] = []
                for d in docs {
                    let start = joined.count
                    joined.append(contentsOf: d.utf8)
                    ranges.append(start..<joined.count)
                }
                docText = String(decoding: joined, as: UTF8.self)
            }
            var ids: [UInt32] = [], starts: [Int] = []
            ids.reserveCapacity(bytes.count / 3 + 16)
            try tokenizer.encodeDocuments(docText, ranges: ranges, ids: &ids, starts: &starts)
            let e = UInt32(eot!)
            let docBytes = format == .lines ? bytes : Array(docText.utf8)
            docBytes.withUnsafeBytes { raw in
                for (k, r) in ranges.enumerated() {
                    let h = documentHash(UnsafeRawBufferPointer(rebasing: raw[r]), seed: seed)
                    let piece = ids[starts[k]..<(k + 1 < starts.count ? starts[k + 1] : ids.count)]
                    if h < valThreshold {
                        out.valDocs.append(out.val.count)
                        out.val.append(contentsOf: piece)
                        out.val.append(e)
                    } else {
                        out.trainDocs.append(out.train.count)
                        out.train.append(contentsOf: piece)
                        out.train.append(e)
                    }
                }
            }
        } catch let e as TrainingError {
            throw e
        } catch {
            throw .data(path: path, reason: "\(error)")
        }
        return out
    }

    // MARK: - Tokenizer

    static func makeTokenizer(_ o: PrepareOptions, sizes: [Int], onEvent: (PrepareEvent) -> Void) throws(TrainingError)
        -> any Tokenizer {
        if let from = o.tokenizerFrom {
            do {
                let t = try Checkpoint.load(path: from).tokenizer.makeTokenizer()
                onEvent(.tokenizer("the tokenizer of \(from): \(t.vocabularySize) tokens"))
                return t
            } catch let e as CheckpointError {
                throw .data(path: from, reason: e.description)
            } catch {
                throw .tokenizer("\(error)")
            }
        }
        switch o.tokenizer.kind {
        case "gpt2":
            guard let path = o.tokenizer.path else { throw .config("tokenizer gpt2 needs --tokenizer-path DIR (vocab.json, merges.txt)") }
            do {
                let t = try BytePairTokenizer(directory: URL(fileURLWithPath: path))
                onEvent(.tokenizer("GPT-2's tokenizer from \(path): \(t.vocabularySize) tokens"))
                return t
            } catch { throw .tokenizer("\(error)") }
        case "char":
            // Every scalar of the corpus (one pass over it, on every core).
            var seen = Set<UInt32>()
            try forEachChunk(o, sample: nil, sizes: sizes) { texts in
                var sets = [Set<UInt32>](repeating: [], count: texts.count)
                sets.withUnsafeMutableBufferPointer { out in
                    let out = out
                    Parallel.forEach(texts.count) { i in
                        var s = Set<UInt32>()
                        if o.format == .text {
                            for u in texts[i].unicodeScalars { s.insert(u.value) }
                        } else if let docs = try? documentsOf(texts[i], format: o.format, path: "") {
                            for d in docs { for u in d.unicodeScalars { s.insert(u.value) } }
                        }
                        out[i] = s
                    }
                }
                for s in sets { seen.formUnion(s) }
            }
            let t: CharTokenizer
            do { t = try CharTokenizer(scalars: seen.sorted().map { Unicode.Scalar($0)! }, endOfText: o.format != .text) } catch {
                throw .tokenizer("\(error)")
            }
            onEvent(.tokenizer("characters: \(t.vocabularySize) tokens"))
            return t
        case "bpe":
            let total = sizes.reduce(0, +)
            let sample = o.sampleMB << 20
            var parts: [String] = []
            try forEachChunk(o, sample: total > sample ? (total + sample - 1) / sample : nil, sizes: sizes) { texts in
                for t in texts {
                    if o.format == .text { parts.append(t) } else {
                        parts.append(((try? documentsOf(t, format: o.format, path: "")) ?? []).joined(separator: "\n"))
                    }
                }
            }
            let corpus = parts.joined(separator: "\n")
            do {
                let t = try BytePairTokenizer.fit(corpus: corpus, vocabularySize: o.tokenizer.vocabSize ?? 1024, endOfText: true)
                onEvent(.tokenizer("BPE fitted on \(corpus.utf8.count) bytes\(total > sample ? " sampled evenly from \(total)" : ""): \(t.vocabularySize) tokens"))
                return t
            } catch { throw .tokenizer("\(error)") }
        default:
            throw .config("tokenizer must be char, bpe or gpt2, got \(o.tokenizer.kind)")
        }
    }

    /// Reads the sources in rounds of chunks (decoded), calling body with each round; with `sample` = k, only every
    /// k-th chunk of 1 MB is decoded and passed.
    static func forEachChunk(_ o: PrepareOptions, sample: Int?, sizes: [Int], _ body: ([String]) throws(TrainingError) -> Void)
        throws(TrainingError) {
        let W = max(1, o.workers)
        var index = 0
        for path in o.inputs {
            let reader = try ChunkReader(path: path, format: o.format)
            var round: [String] = []
            while true {
                let at = reader.offset
                guard let c = try reader.next(size: sample == nil ? o.chunkBytes : 1 << 20) else { break }
                defer { index += 1 }
                if let k = sample, index % k != 0 { continue }
                round.append(try decodeChunk(c, path: path, at: at))
                if round.count == W { try body(round); round = [] }
            }
            if !round.isEmpty { try body(round) }
        }
    }
}
