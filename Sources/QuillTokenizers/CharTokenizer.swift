// One token per Unicode scalar: the vocabulary is the sorted set of the corpus's scalars, optionally plus
// `<|endoftext|>` as the last id. Scalars, not Swift Characters: "\r\n" is one Character but two tokens.
import Foundation

/// A character-level tokenizer over Unicode scalars, as the notebooks' `stoi` / `itos` (sorted, so
/// tinyshakespeare.txt gives 65 tokens: "\n", " ", "!", …, "z").
public struct CharTokenizer: Tokenizer {
    /// The vocabulary's scalars; a scalar's id is its index.
    public let scalars: [Unicode.Scalar]
    /// `["<|endoftext|>": scalars.count]` when the tokenizer has an end-of-text token, else empty.
    public let specialTokens: [String: Int]
    private let idOfScalar: [UInt32: Int]
    /// Ids of the scalars below 256 (-1 where none): the common case without hashing.
    private let latin1: [Int]

    /// Always `.char`.
    public var kind: TokenizerKind { .char }

    /// The scalars plus the end-of-text token when there is one.
    public var vocabularySize: Int { scalars.count + specialTokens.count }

    // MARK: - Building

    /// The tokenizer of `corpus`: its distinct scalars in ascending order, then `<|endoftext|>` if asked for.
    public init(corpus: String, endOfText: Bool = false) {
        var seen = Set<UInt32>()
        for scalar in corpus.unicodeScalars { seen.insert(scalar.value) }
        self.init(distinct: seen.sorted().map { Unicode.Scalar($0)! }, endOfText: endOfText)
    }

    /// A tokenizer with exactly these scalars as ids `0..<scalars.count`.
    /// - Throws: `TokenizerError.invalidVocabulary` when a scalar is listed twice.
    public init(scalars: [Unicode.Scalar], endOfText: Bool = false) throws {
        var seen = Set<UInt32>()
        for scalar in scalars where !seen.insert(scalar.value).inserted {
            throw TokenizerError.invalidVocabulary("the character \"\(scalar.escaped(asASCII: true))\" is listed twice")
        }
        self.init(distinct: scalars, endOfText: endOfText)
    }

    private init(distinct scalars: [Unicode.Scalar], endOfText: Bool) {
        var idOfScalar: [UInt32: Int] = [:]
        var latin1 = [Int](repeating: -1, count: 256)
        for (id, scalar) in scalars.enumerated() {
            idOfScalar[scalar.value] = id
            if scalar.value < 256 { latin1[Int(scalar.value)] = id }
        }
        self.scalars = scalars
        self.idOfScalar = idOfScalar
        self.latin1 = latin1
        specialTokens = endOfText ? [SpecialTokens.endOfText: scalars.count] : [:]
    }

    // MARK: - Encoding

    /// One id per scalar of `text`; with `allowSpecial`, `<|endoftext|>` in the text becomes its id.
    /// - Throws: `TokenizerError.unknownCharacters` listing (escaped, at most 10) the scalars it does not know.
    public func encode(_ text: String, allowSpecial: Bool) throws -> [Int] {
        try encodeWithOffsets(text, allowSpecial: allowSpecial).ids
    }

    /// One id per scalar of `text`, special-token text treated as ordinary text.
    public func encode(_ text: String) throws -> [Int] {
        try encode(text, allowSpecial: false)
    }

    /// Ids with spans, special-token text treated as ordinary text.
    public func encodeWithOffsets(_ text: String) throws -> EncodedText {
        try encodeWithOffsets(text, allowSpecial: false)
    }

    /// Ids with spans: scalar `i` covers `i..<i+1`; a special token covers its whole text.
    public func encodeWithOffsets(_ text: String, allowSpecial: Bool) throws -> EncodedText {
        let input = Array(text.unicodeScalars)
        var ids: [Int] = []
        ids.reserveCapacity(input.count)
        var offsets: [Range<Int>] = []
        offsets.reserveCapacity(input.count)
        var unknown: [Unicode.Scalar] = []
        var unknownSet = Set<UInt32>()
        let special = allowSpecial ? specialTokens.first.map { (Array($0.key.unicodeScalars), $0.value) } : nil
        var i = 0
        while i < input.count {
            if let (marker, id) = special, input[i] == marker[0], input.count - i >= marker.count,
               input[i..<(i + marker.count)].elementsEqual(marker) {
                ids.append(id)
                offsets.append(i..<(i + marker.count))
                i += marker.count
                continue
            }
            let value = input[i].value
            let id = value < 256 ? latin1[Int(value)] : (idOfScalar[value] ?? -1)
            if id >= 0 {
                ids.append(id)
                offsets.append(i..<(i + 1))
            } else if unknownSet.insert(value).inserted {
                unknown.append(input[i])
            }
            i += 1
        }
        if !unknown.isEmpty {
            throw TokenizerError.unknownCharacters(
                characters: unknown.prefix(10).map { $0.escaped(asASCII: true) }, count: unknown.count)
        }
        return EncodedText(ids: ids, offsets: offsets)
    }

    // MARK: - Decoding

    /// The UTF-8 of the scalars (and special-token text) that `ids` stand for.
    public func decodeBytes(_ ids: [Int]) throws -> [UInt8] {
        Array(try decode(ids).utf8)
    }

    /// The text that `ids` stand for.
    public func decode(_ ids: [Int]) throws -> String {
        var scalars = String.UnicodeScalarView()
        for id in ids {
            if id >= 0 && id < self.scalars.count {
                scalars.append(self.scalars[id])
            } else if id >= 0 && id < vocabularySize {
                scalars.append(contentsOf: SpecialTokens.endOfText.unicodeScalars)
            } else {
                throw TokenizerError.invalidTokenID(id, vocabularySize: vocabularySize)
            }
        }
        return String(scalars)
    }

    /// The token's character, or `<|endoftext|>`.
    public func piece(_ id: Int) throws -> String {
        try decode([id])
    }
}
