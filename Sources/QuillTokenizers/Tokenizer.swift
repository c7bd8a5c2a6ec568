// The contract every Quill tokenizer meets: text ⇄ token ids, pieces, special tokens and a JSON form for checkpoints.
// The concrete vocabularies live in CharTokenizer and BytePairTokenizer; the model never sees anything but ids.
import Foundation

// MARK: - Tokenizer

/// Turns text into token ids and back, exactly: `decode(encode(s)) == s` for every string `s`.
///
/// Tokenizers are immutable values, safe to share between threads.
///
/// Special tokens: `encode(_:allowSpecial:)` with `allowSpecial: false` (the default of `encode(_:)`) treats the
/// text of a special token such as `<|endoftext|>` as ordinary text, like tiktoken's `encode_ordinary`; with
/// `allowSpecial: true` each occurrence of a special token's text becomes that token's id.
public protocol Tokenizer: Sendable {
    /// Which kind of tokenizer this is; also the `kind` field of its JSON form.
    var kind: TokenizerKind { get }

    /// Number of token ids, special tokens included: ids are `0..<vocabularySize`.
    var vocabularySize: Int { get }

    /// Special tokens by their text, e.g. `["<|endoftext|>": 50256]` for GPT-2.
    var specialTokens: [String: Int] { get }

    /// Token ids of `text`; see the protocol's notes on `allowSpecial`.
    /// - Throws: `TokenizerError.unknownCharacters` when a character-level tokenizer meets characters it does not know.
    func encode(_ text: String, allowSpecial: Bool) throws -> [Int]

    /// Token ids of `text` with each token's span of `text`, in Unicode scalars.
    func encodeWithOffsets(_ text: String, allowSpecial: Bool) throws -> EncodedText

    /// The bytes (UTF-8 text, possibly cut inside a character) that `ids` stand for.
    /// - Throws: `TokenizerError.invalidTokenID` for an id outside `0..<vocabularySize`.
    func decodeBytes(_ ids: [Int]) throws -> [UInt8]

    /// The token's own string as the vocabulary writes it (`Ġdrawing` for GPT-2's " drawing").
    func piece(_ id: Int) throws -> String

    /// The JSON-ready description that rebuilds this tokenizer exactly (see `loadTokenizer(json:)`).
    var serialized: SerializedTokenizer { get }

    /// Token ids of many documents at once: `ranges` are UTF-8 byte ranges of `text` (at scalar boundaries), each
    /// encoded as `encode(_:)` would encode it alone (special-token text as ordinary text), the ids appended to `ids`
    /// in order, each document's first index appended to `starts`. Faster than one `encode` per document where a
    /// tokenizer can share work between them (BPE shares its word cache).
    func encodeDocuments(_ text: String, ranges: [Range<Int>], ids: inout [UInt32], starts: inout [Int]) throws
}

extension Tokenizer {
    public func encodeDocuments(_ text: String, ranges: [Range<Int>], ids: inout [UInt32], starts: inout [Int]) throws {
        let utf8 = Array(text.utf8)
        for r in ranges {
            starts.append(ids.count)
            for id in try encode(String(decoding: utf8[r], as: UTF8.self)) { ids.append(UInt32(id)) }
        }
    }
}

// MARK: - Conveniences

extension Tokenizer {
    /// Token ids of `text`, with special-token text treated as ordinary text.
    public func encode(_ text: String) throws -> [Int] {
        try encode(text, allowSpecial: false)
    }

    /// Token ids of `text` with their spans, special-token text treated as ordinary text.
    public func encodeWithOffsets(_ text: String) throws -> EncodedText {
        try encodeWithOffsets(text, allowSpecial: false)
    }

    /// The text that `ids` stand for; bytes that do not form whole UTF-8 characters become U+FFFD.
    /// Use `StreamingDecoder` to decode a growing list of ids without splitting characters.
    public func decode(_ ids: [Int]) throws -> String {
        String(decoding: try decodeBytes(ids), as: UTF8.self)
    }

    /// The pieces of `ids`, in order.
    public func pieces(_ ids: [Int]) throws -> [String] {
        try ids.map { try piece($0) }
    }

    /// The id of `<|endoftext|>`, when this tokenizer has one.
    public var endOfTextID: Int? {
        specialTokens[SpecialTokens.endOfText]
    }

    /// The one token an empty prompt starts from, everywhere (server, `quill-train sample`, the trainer's samples):
    /// end-of-text when the vocabulary has it (the start of a document), else a newline when it is one token (a
    /// character model trained on plain text), else id 0.
    public var startToken: Int {
        if let eot = endOfTextID { return eot }
        if let nl = try? encode("\n"), nl.count == 1 { return nl[0] }
        return 0
    }

    /// The tokenizer as JSON (sorted keys, so the same tokenizer always gives the same bytes).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(serialized)
    }
}

// MARK: - Values

/// The kinds of tokenizer Quill has; the raw value is the `kind` field of the JSON form.
public enum TokenizerKind: String, Codable, Sendable {
    /// One token per Unicode scalar (`CharTokenizer`).
    case char
    /// Byte-level byte-pair encoding, GPT-2 style (`BytePairTokenizer`).
    case bpe
}

/// Names of the special tokens Quill knows.
public enum SpecialTokens {
    /// GPT-2's end-of-text marker (id 50256 in GPT-2's vocabulary).
    public static let endOfText = "<|endoftext|>"
}

/// Token ids with the span of the input that each one covers.
public struct EncodedText: Sendable, Equatable, Codable {
    /// The token ids.
    public var ids: [Int]
    /// For each token, `[start, end)` in Unicode scalars of the input text. A token that holds only part of a
    /// character's bytes covers the whole character, so neighbouring spans may overlap by one character.
    public var offsets: [Range<Int>]

    public init(ids: [Int], offsets: [Range<Int>]) {
        self.ids = ids
        self.offsets = offsets
    }
}
