// Byte-level byte-pair encoding, GPT-2 style: pre-tokenize, map bytes to base tokens, apply merges by rank.
// Loading files, fitting, explaining and the JSON form are facets in BytePairTokenizer+*.swift.
import Foundation
import HeapModule

/// A byte-level BPE tokenizer, exact to GPT-2 / tiktoken's `gpt2` encoding when built from GPT-2's files.
///
/// Encoding: the text's UTF-8 bytes are cut into words by `GPT2PreTokenizer`. A word that is itself a token is
/// that token; otherwise it starts as one token per byte and the adjacent pair with the lowest merge rank is
/// merged (the leftmost one on a tie) until no pair merges — tiktoken's rules, exactly.
///
/// Words are cached for the length of one `encode` call: the cache needs no lock, so a tokenizer is shared
/// freely between threads, and a text repeats its words often enough for the cache to pay off within one call
/// (measured with `quill-bench tokenize --chunk 200`: 200-byte calls with cold caches still run at about 0.6× the
/// whole-file speed, several times tiktoken's).
public struct BytePairTokenizer: Tokenizer {
    let tables: Tables

    /// Special tokens by their text; their ids are part of the vocabulary.
    public let specialTokens: [String: Int]

    /// Always `.bpe`.
    public var kind: TokenizerKind { .bpe }

    /// Number of ids, special tokens included (50,257 for GPT-2).
    public var vocabularySize: Int { tables.count }

    /// The merges in rank order, as pairs of token ids.
    public var merges: [(left: Int, right: Int)] {
        tables.merges.rules.map { (Int($0.left), Int($0.right)) }
    }

    // MARK: - Building

    /// A tokenizer from its vocabulary and merges in the Hugging Face / GPT-2 notation.
    /// - Parameters:
    ///   - vocabulary: each id's piece, in id order, written with `ByteLevel`'s scalars ("Ġthe"); a special
    ///     token's entry is its own text.
    ///   - merges: the merges in rank order, each as two pieces separated by one space ("Ġ t").
    ///   - specialTokens: special tokens by text, with ids inside the vocabulary.
    /// - Throws: `TokenizerError.invalidVocabulary` or `.invalidMerge` when they do not fit together.
    public init(vocabulary: [String], merges: [String], specialTokens: [String: Int]) throws {
        try self.init(vocabulary: vocabulary,
                      mergeLines: merges.enumerated().map { ($0.offset + 1, Substring($0.element)) },
                      specialTokens: specialTokens)
    }

    /// As `init(vocabulary:merges:specialTokens:)`, with each merge's line number for error messages.
    init(vocabulary: [String], mergeLines: [(line: Int, text: Substring)], specialTokens: [String: Int]) throws {
        let specialIDs = Set(specialTokens.values)
        var tokenBytes: [[UInt8]] = []
        tokenBytes.reserveCapacity(vocabulary.count)
        var idOfPiece: [Substring: UInt32] = [:]
        idOfPiece.reserveCapacity(vocabulary.count)
        for (id, piece) in vocabulary.enumerated() {
            if specialIDs.contains(id) {
                tokenBytes.append(Array(piece.utf8))
                continue
            }
            guard let bytes = ByteLevel.bytes(for: piece) else {
                throw TokenizerError.invalidVocabulary(
                    "piece \(piece.debugDescription) (id \(id)) has a character outside GPT-2's byte-level alphabet")
            }
            tokenBytes.append(bytes)
            if idOfPiece[Substring(piece)] == nil { idOfPiece[Substring(piece)] = UInt32(id) }
        }
        var pairs: [(UInt32, UInt32)] = []
        pairs.reserveCapacity(mergeLines.count)
        for (line, text) in mergeLines {
            let parts = text.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.invalidMerge(line: line, text: String(text), reason: "expected two pieces")
            }
            guard let left = idOfPiece[parts[0]], let right = idOfPiece[parts[1]] else {
                throw TokenizerError.invalidMerge(line: line, text: String(text),
                                                  reason: "a piece is not in the vocabulary")
            }
            pairs.append((left, right))
        }
        try self.init(tokenBytes: tokenBytes, merges: pairs, specialTokens: specialTokens, pieces: vocabulary)
    }

    /// A tokenizer from each id's bytes and the merges (pairs of ids) in rank order.
    init(tokenBytes: [[UInt8]], merges: [(UInt32, UInt32)], specialTokens: [String: Int],
         pieces: [String]? = nil) throws {
        tables = try Tables(tokenBytes: tokenBytes, merges: merges, specialTokens: specialTokens, pieces: pieces)
        self.specialTokens = specialTokens
    }

    // MARK: - Encoding

    /// Token ids of `text`, treating special-token text as ordinary text (tiktoken's `encode_ordinary`).
    public func encode(_ text: String) -> [Int] {
        encode(text, allowSpecial: false)
    }

    /// Token ids of `text`; with `allowSpecial`, special-token text becomes the special token's id.
    public func encode(_ text: String, allowSpecial: Bool) -> [Int] {
        var text = text
        return text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return [] }
            var sink = IDSink(capacity: buffer.count / 3 + 16)
            encode(base, buffer.count, allowSpecial: allowSpecial, into: &sink)
            return sink.ids
        }
    }

    /// Token ids of `text` with their spans in Unicode scalars, special-token text treated as ordinary text.
    public func encodeWithOffsets(_ text: String) -> EncodedText {
        encodeWithOffsets(text, allowSpecial: false)
    }

    /// Token ids of `text` with their spans in Unicode scalars.
    public func encodeWithOffsets(_ text: String, allowSpecial: Bool) -> EncodedText {
        var text = text
        return text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return EncodedText(ids: [], offsets: []) }
            var sink = OffsetSink(text: base, tokenStart: tables.tokenStart)
            encode(base, buffer.count, allowSpecial: allowSpecial, into: &sink)
            return EncodedText(ids: sink.ids, offsets: sink.offsets)
        }
    }

    /// Many documents of one text with one word cache: the same ids as `encode(_:)` of each alone.
    public func encodeDocuments(_ text: String, ranges: [Range<Int>], ids: inout [UInt32], starts: inout [Int]) {
        var text = text
        text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else {
                for _ in ranges { starts.append(ids.count) }
                return
            }
            var context = EncodeContext(expectedWords: min(buffer.count / 128 + 64, 1 << 14))
            var sink = ArraySink(ids: ids)
            for r in ranges {
                precondition(r.lowerBound >= 0 && r.upperBound <= buffer.count, "encodeDocuments: range outside the text")
                starts.append(sink.ids.count)
                encodeOrdinary(base, r.lowerBound, r.upperBound, &context, &sink)
            }
            ids = sink.ids
        }
    }

    /// Encodes the valid UTF-8 in `p[0..<count]` into `sink`.
    func encode<Sink: TokenSink & ~Copyable>(_ p: UnsafePointer<UInt8>, _ count: Int, allowSpecial: Bool,
                                             into sink: inout Sink) {
        var context = EncodeContext(expectedWords: min(count / 128 + 64, 1 << 14))
        var start = 0
        if allowSpecial && !tables.specials.isEmpty {
            while let (at, length, id) = tables.nextSpecial(p, from: start, count) {
                encodeOrdinary(p, start, at, &context, &sink)
                sink.append(UInt32(id))
                start = at + length
            }
        }
        encodeOrdinary(p, start, count, &context, &sink)
    }

    /// Encodes `p[start..<end]`, which holds no special tokens, word by word through the cache.
    @inline(__always)
    func encodeOrdinary<Sink: TokenSink & ~Copyable>(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int,
                                                     _ context: inout EncodeContext, _ sink: inout Sink) {
        let byteToID = tables.byteToID
        var i = start
        while i < end {
            let wordEnd = GPT2PreTokenizer.wordEnd(p, i, end)
            let length = wordEnd - i
            if length == 1 {
                sink.append(byteToID[Int(p[i])])
            } else if length <= EncodeContext.longestCachedWord {
                let (position, found) = context.words.find(p + i, length)
                let first: Int
                let count: Int
                if found {
                    let (value, extra) = context.words.payload(position)
                    first = Int(value)
                    count = Int(extra)
                } else {
                    let merged = tables.mergeWord(p + i, length, &context)
                    first = context.remember(merged)
                    count = merged.count
                    context.words.insert(p + i, length, at: position, value: UInt32(first), extra: UInt32(count))
                }
                let ids = context.ids
                for k in first..<(first + count) { sink.append(ids[k]) }
            } else {
                for id in tables.mergeWord(p + i, length, &context) { sink.append(id) }
            }
            i = wordEnd
        }
    }

    // MARK: - Decoding

    /// The bytes that `ids` stand for.
    public func decodeBytes(_ ids: [Int]) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for id in ids {
            guard id >= 0 && id < tables.count else {
                throw TokenizerError.invalidTokenID(id, vocabularySize: tables.count)
            }
            let start = Int(tables.tokenStart[id])
            let end = Int(tables.tokenStart[id + 1])
            out.append(contentsOf: UnsafeBufferPointer(start: tables.bytes + start, count: end - start))
        }
        return out
    }

    /// The bytes of one token.
    public func bytes(of id: Int) throws -> [UInt8] {
        try decodeBytes([id])
    }

    /// The token's piece: its bytes in `ByteLevel`'s scalars ("Ġdrawing"), or a special token's text.
    public func piece(_ id: Int) throws -> String {
        guard id >= 0 && id < tables.count else {
            throw TokenizerError.invalidTokenID(id, vocabularySize: tables.count)
        }
        return tables.pieces[id]
    }

    /// The id of a piece, if the vocabulary has it.
    public func id(ofPiece piece: String) -> Int? {
        tables.idOfPiece[piece]
    }
}

// MARK: - Tables

extension BytePairTokenizer {
    /// Everything the encoder reads, built once. @unchecked Sendable: immutable after init.
    final class Tables: @unchecked Sendable {
        /// Number of ids.
        let count: Int
        /// All tokens' bytes back to back; token `id` is `bytes[tokenStart[id]..<tokenStart[id + 1]]`.
        let bytes: UnsafeMutablePointer<UInt8>
        let tokenStart: UnsafeMutablePointer<Int32>
        /// The id of each single byte.
        let byteToID: UnsafeMutablePointer<UInt32>
        let merges: MergeTable
        /// Every ordinary token's bytes → its id (a word that is a whole token skips merging, as in tiktoken).
        let tokenIndex: ByteStringTable
        /// Each id's piece.
        let pieces: [String]
        let idOfPiece: [String: Int]
        /// Special tokens' bytes and ids, longest first (so the longest wins where two start together).
        let specials: [(bytes: [UInt8], id: Int)]
        /// Whether a special token starts with this byte.
        let specialFirstByte: [Bool]

        init(tokenBytes: [[UInt8]], merges rules: [(UInt32, UInt32)], specialTokens: [String: Int],
             pieces: [String]?) throws {
            count = tokenBytes.count
            guard count < Int(Int32.max) else { throw TokenizerError.invalidVocabulary("too many tokens (\(count))") }
            for (text, id) in specialTokens {
                guard id >= 0 && id < count else {
                    throw TokenizerError.invalidVocabulary(
                        "special token \(text.debugDescription) has id \(id), outside 0..<\(count)")
                }
                guard tokenBytes[id] == Array(text.utf8) else {
                    throw TokenizerError.invalidVocabulary(
                        "special token \(text.debugDescription) (id \(id)) must be written as its own text")
                }
            }
            let specialIDs = Set(specialTokens.values)

            // Single bytes, and the id of every ordinary token's bytes.
            var singleByteID = [UInt32](repeating: UInt32.max, count: 256)
            var byBytes = ByteStringTable(expected: count)
            for id in 0..<count where !specialIDs.contains(id) {
                let token = tokenBytes[id]
                guard !token.isEmpty else { throw TokenizerError.invalidVocabulary("token \(id) is empty") }
                if token.count == 1 && singleByteID[Int(token[0])] == UInt32.max { singleByteID[Int(token[0])] = UInt32(id) }
                _ = token.withUnsafeBufferPointer { byBytes.findOrInsert($0.baseAddress!, $0.count, value: UInt32(id)) }
            }
            if let missing = singleByteID.firstIndex(of: UInt32.max) {
                throw TokenizerError.invalidVocabulary(
                    "no token for byte 0x\(String(missing, radix: 16)): byte-level BPE needs all 256 single bytes")
            }

            // Merges: each makes the token whose bytes are the two parts' bytes.
            var checked: [(left: UInt32, right: UInt32, merged: UInt32)] = []
            checked.reserveCapacity(rules.count)
            for (rank, (left, right)) in rules.enumerated() {
                let piece = { (id: UInt32) in ByteLevel.piece(for: tokenBytes[Int(id)]) }
                guard Int(left) < count, Int(right) < count,
                      !specialIDs.contains(Int(left)), !specialIDs.contains(Int(right)) else {
                    throw TokenizerError.invalidMerge(line: rank + 1, text: "\(left) \(right)",
                                                      reason: "ids must be ordinary tokens of the vocabulary")
                }
                let joined = tokenBytes[Int(left)] + tokenBytes[Int(right)]
                let (entry, found) = joined.withUnsafeBufferPointer { byBytes.find($0.baseAddress!, $0.count) }
                guard found else {
                    throw TokenizerError.invalidMerge(line: rank + 1, text: "\(piece(left)) \(piece(right))",
                                                      reason: "the merged piece is not in the vocabulary")
                }
                checked.append((left, right, byBytes.payload(entry).value))
            }
            merges = MergeTable(rules: checked)
            tokenIndex = byBytes

            // Token bytes back to back (allocated last, so that a throw above leaks nothing).
            let total = tokenBytes.reduce(0) { $0 + $1.count }
            bytes = .allocate(capacity: max(total, 1))
            tokenStart = .allocate(capacity: count + 1)
            var offset = 0
            for (id, token) in tokenBytes.enumerated() {
                tokenStart[id] = Int32(offset)
                (bytes + offset).initialize(from: token, count: token.count)
                offset += token.count
            }
            tokenStart[count] = Int32(offset)
            byteToID = .allocate(capacity: 256)
            byteToID.initialize(from: singleByteID, count: 256)

            // Pieces and special tokens.
            let names = Dictionary(specialTokens.map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            let pieceList = pieces ?? (0..<count).map { names[$0] ?? ByteLevel.piece(for: tokenBytes[$0]) }
            self.pieces = pieceList
            idOfPiece = Dictionary(pieceList.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            specials = specialTokens.map { (Array($0.key.utf8), $0.value) }
                .filter { !$0.0.isEmpty }
                .sorted { $0.0.count != $1.0.count ? $0.0.count > $1.0.count : $0.1 < $1.1 }
            var first = [Bool](repeating: false, count: 256)
            for special in specials { first[Int(special.bytes[0])] = true }
            specialFirstByte = first
            _ = ScalarClass.basicPlane   // build the 64 KiB class table now (~10 ms), not in the first encode
        }

        deinit {
            bytes.deallocate()
            tokenStart.deallocate()
            byteToID.deallocate()
        }

        // MARK: Special tokens

        /// The first special token in `p[from..<end]`: where it starts, its length in bytes and its id.
        func nextSpecial(_ p: UnsafePointer<UInt8>, from: Int, _ end: Int) -> (Int, Int, Int)? {
            var i = from
            while i < end {
                if specialFirstByte[Int(p[i])] {
                    for special in specials where special.bytes.count <= end - i {
                        if special.bytes.withUnsafeBufferPointer({ memcmp(p + i, $0.baseAddress!, $0.count) == 0 }) {
                            return (i, special.bytes.count, special.id)
                        }
                    }
                }
                i += 1
            }
            return nil
        }

        // MARK: Merging one word

        /// Words longer than this merge with a heap (O(n log n)) instead of rescanning (O(n²), faster when short).
        static let heapThreshold = 256

        /// The ids of one pre-tokenized word, valid until the next call with the same context.
        ///
        /// A word whose bytes are a token is that token, without merging: tiktoken does the same, and it agrees
        /// with merging for every token of GPT-2's vocabulary (a test checks).
        @inline(__always)
        func mergeWord(_ p: UnsafePointer<UInt8>, _ length: Int,
                       _ context: inout EncodeContext) -> UnsafeBufferPointer<UInt32> {
            let (entry, found) = tokenIndex.find(p, length)
            if found {
                context.reserveScratch(1)
                context.parts[0] = tokenIndex.payload(entry).value
                return UnsafeBufferPointer(start: context.parts, count: 1)
            }
            return length > Self.heapThreshold
                ? mergeWithHeap(p, length, &context) : mergeByScanning(p, length, &context)
        }

        /// tiktoken's loop: merge the lowest-ranked adjacent pair (the leftmost of equals) until none merges.
        func mergeByScanning(_ p: UnsafePointer<UInt8>, _ length: Int,
                             _ context: inout EncodeContext) -> UnsafeBufferPointer<UInt32> {
            context.reserveScratch(length)
            let parts = context.parts
            let ranks = context.ranks   // ranks[k]: lookup(parts[k], parts[k + 1]) = rank << 32 | merged id
            for k in 0..<length { parts[k] = byteToID[Int(p[k])] }
            var m = length
            for k in 0..<max(m - 1, 0) { ranks[k] = merges.lookup(parts[k], parts[k + 1]) }
            while m > 1 {
                var best = UInt64.max
                var at = 0
                for k in 0..<(m - 1) where ranks[k] < best {
                    best = ranks[k]
                    at = k
                }
                if best == UInt64.max { break }
                parts[at] = UInt32(truncatingIfNeeded: best)
                // Remove parts[at + 1] and the pair that started there.
                if at + 2 < m {
                    (parts + at + 1).update(from: parts + at + 2, count: m - at - 2)
                    (ranks + at + 1).update(from: ranks + at + 2, count: m - at - 3 < 0 ? 0 : m - at - 3)
                }
                m -= 1
                if at + 1 < m { ranks[at] = merges.lookup(parts[at], parts[at + 1]) }
                if at > 0 { ranks[at - 1] = merges.lookup(parts[at - 1], parts[at]) }
            }
            return UnsafeBufferPointer(start: parts, count: m)
        }

        /// The same merges in the same order, for long words: a linked list of parts and a min-heap of
        /// (rank, position) with stale entries skipped when popped.
        func mergeWithHeap(_ p: UnsafePointer<UInt8>, _ length: Int,
                           _ context: inout EncodeContext) -> UnsafeBufferPointer<UInt32> {
            var ids = (0..<length).map { byteToID[Int(p[$0])] }
            var next = (0..<length).map { $0 + 1 < length ? Int32($0 + 1) : -1 }
            var prev = (0..<length).map { Int32($0 - 1) }
            var heap = Heap<UInt64>()  // swift-collections
            for k in 0..<(length - 1) {
                let rank = merges.rank(ids[k], ids[k + 1])
                if rank != MergeTable.noRank { heap.insert(UInt64(rank) << 32 | UInt64(k)) }
            }
            while let top = heap.popMin() {
                let rank = UInt32(truncatingIfNeeded: top >> 32)
                let at = Int(truncatingIfNeeded: top & 0xFFFF_FFFF)
                let right = Int(next[at])
                if right < 0 { continue }
                let found = merges.lookup(ids[at], ids[right])
                if UInt32(truncatingIfNeeded: found >> 32) != rank { continue }   // stale entry
                ids[at] = UInt32(truncatingIfNeeded: found)
                next[at] = next[right]
                if next[right] >= 0 { prev[Int(next[right])] = Int32(at) }
                next[right] = -1
                if prev[at] >= 0 {
                    let left = Int(prev[at])
                    let r = merges.rank(ids[left], ids[at])
                    if r != MergeTable.noRank { heap.insert(UInt64(r) << 32 | UInt64(left)) }
                }
                if next[at] >= 0 {
                    let r = merges.rank(ids[at], ids[Int(next[at])])
                    if r != MergeTable.noRank { heap.insert(UInt64(r) << 32 | UInt64(at)) }
                }
            }
            context.reserveScratch(length)
            var m = 0
            var k = 0
            while k >= 0 {
                context.parts[m] = ids[k]
                m += 1
                k = Int(next[k])
            }
            return UnsafeBufferPointer(start: context.parts, count: m)
        }
    }
}

// MARK: - Per-call state

/// The word cache and scratch space of one encode call (never shared, so it needs no lock). Noncopyable: its
/// buffers have one owner, freed when the call ends.
struct EncodeContext: ~Copyable {
    /// Words longer than this are merged every time rather than cached.
    static let longestCachedWord = 256

    /// Cached words: each entry's payloads are where its ids start in `ids` and how many there are.
    var words: ByteStringTable
    /// The cached words' ids, back to back.
    private(set) var ids: UnsafeMutablePointer<UInt32>
    private var idCount = 0
    private var idCapacity: Int

    /// Scratch for merging one word.
    private(set) var parts: UnsafeMutablePointer<UInt32>
    private(set) var ranks: UnsafeMutablePointer<UInt64>
    private var scratchCapacity = 64

    init(expectedWords: Int) {
        words = ByteStringTable(expected: expectedWords)
        idCapacity = max(256, expectedWords * 2)
        ids = .allocate(capacity: idCapacity)
        parts = .allocate(capacity: scratchCapacity)
        ranks = .allocate(capacity: scratchCapacity)
    }

    deinit {
        ids.deallocate()
        parts.deallocate()
        ranks.deallocate()
    }

    /// Makes the scratch buffers hold at least `length` elements.
    @inline(__always)
    mutating func reserveScratch(_ length: Int) {
        guard length > scratchCapacity else { return }
        while scratchCapacity < length { scratchCapacity *= 2 }
        parts.deallocate()
        ranks.deallocate()
        parts = .allocate(capacity: scratchCapacity)
        ranks = .allocate(capacity: scratchCapacity)
    }

    /// Appends a word's ids to `ids`; returns where they start.
    mutating func remember(_ merged: UnsafeBufferPointer<UInt32>) -> Int {
        if idCount + merged.count > idCapacity {
            var capacity = idCapacity * 2
            while capacity < idCount + merged.count { capacity *= 2 }
            let grown = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
            grown.update(from: ids, count: idCount)
            ids.deallocate()
            ids = grown
            idCapacity = capacity
        }
        (ids + idCount).update(from: merged.baseAddress!, count: merged.count)
        idCount += merged.count
        return idCount - merged.count
    }
}

// MARK: - Sinks

/// Where the encoder puts each token id, so that ids-only and ids-with-offsets share one loop.
protocol TokenSink: ~Copyable {
    mutating func append(_ id: UInt32)
}

/// Appends ids to an array of UInt32 (encodeDocuments).
struct ArraySink: TokenSink {
    var ids: [UInt32]
    mutating func append(_ id: UInt32) { ids.append(id) }
}

/// Collects ids only, into a buffer it grows itself (cheaper per id than `Array.append`).
struct IDSink: TokenSink, ~Copyable {
    private var buffer: UnsafeMutablePointer<Int>
    private var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        buffer = .allocate(capacity: self.capacity)
    }

    deinit { buffer.deallocate() }

    @inline(__always)
    mutating func append(_ id: UInt32) {
        if count == capacity { grow() }
        buffer[count] = Int(id)
        count += 1
    }

    private mutating func grow() {
        capacity *= 2
        let grown = UnsafeMutablePointer<Int>.allocate(capacity: capacity)
        grown.moveInitialize(from: buffer, count: count)
        buffer.deallocate()
        buffer = grown
    }

    /// The ids collected.
    var ids: [Int] { Array(UnsafeBufferPointer(start: buffer, count: count)) }
}

/// Collects ids and each token's span in Unicode scalars (a token inside a character covers the character).
struct OffsetSink: TokenSink {
    var ids: [Int] = []
    var offsets: [Range<Int>] = []
    let text: UnsafePointer<UInt8>
    let tokenStart: UnsafeMutablePointer<Int32>
    /// Byte where the next token starts.
    private var position = 0
    /// Bytes `0..<scanned` have been counted; `leads` of them start a scalar.
    private var scanned = 0
    private var leads = 0

    init(text: UnsafePointer<UInt8>, tokenStart: UnsafeMutablePointer<Int32>) {
        self.text = text
        self.tokenStart = tokenStart
    }

    @inline(__always)
    mutating func append(_ id: UInt32) {
        let end = position + Int(tokenStart[Int(id) + 1] - tokenStart[Int(id)])
        scan(to: position + 1)
        let first = leads - 1            // the scalar that holds the token's first byte
        scan(to: end)
        ids.append(Int(id))
        offsets.append(first..<leads)    // through the scalar that holds its last byte
        position = end
    }

    @inline(__always)
    private mutating func scan(to limit: Int) {
        while scanned < limit {
            if text[scanned] & 0xC0 != 0x80 { leads += 1 }
            scanned += 1
        }
    }
}
