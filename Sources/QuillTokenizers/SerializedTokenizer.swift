// The JSON form of a tokenizer, as stored in a checkpoint's `quill.tokenizer` metadata, and the loader that
// rebuilds the right tokenizer from it. Reading and writing the checkpoint file is QuillCheckpoint's job.
import Foundation

/// Everything needed to rebuild a tokenizer exactly:
///
///     {"kind": "char", "vocab": ["\n", " ", "!", …], "special_tokens": {"<|endoftext|>": 65}}
///     {"kind": "bpe", "vocab": ["!", "\"", …, "<|endoftext|>"], "merges": ["Ġ t", …],
///      "special_tokens": {"<|endoftext|>": 50256}}
///
/// `vocab[id]` is the token's piece: for "char" the one scalar it stands for; for "bpe" its bytes written with
/// GPT-2's byte-level scalars (`ByteLevel`), or a special token's own text. `merges` (bpe only) are in rank order,
/// each two pieces separated by one space, as in Hugging Face's merges.txt.
public struct SerializedTokenizer: Codable, Sendable, Equatable {
    /// "char" or "bpe".
    public var kind: TokenizerKind
    /// Each id's piece, in id order.
    public var vocab: [String]
    /// BPE merges in rank order ("Ġ t"); nil for "char".
    public var merges: [String]?
    /// Special tokens by text.
    public var specialTokens: [String: Int]

    enum CodingKeys: String, CodingKey {
        case kind, vocab, merges
        case specialTokens = "special_tokens"
    }

    public init(kind: TokenizerKind, vocab: [String], merges: [String]?, specialTokens: [String: Int]) {
        self.kind = kind
        self.vocab = vocab
        self.merges = merges
        self.specialTokens = specialTokens
    }

    // MARK: - Rebuilding

    /// The tokenizer this describes.
    /// - Throws: `TokenizerError.invalidJSON` / `.invalidVocabulary` / `.invalidMerge` when it is inconsistent.
    public func makeTokenizer() throws -> any Tokenizer {
        switch kind {
        case .char:
            var scalars: [Unicode.Scalar] = []
            scalars.reserveCapacity(vocab.count)
            let special = specialTokens[SpecialTokens.endOfText]
            guard specialTokens.count == (special == nil ? 0 : 1) else {
                throw TokenizerError.invalidJSON("a char tokenizer has no special token but \(SpecialTokens.endOfText)")
            }
            for (id, piece) in vocab.enumerated() {
                if id == special { continue }
                guard piece.unicodeScalars.count == 1 else {
                    throw TokenizerError.invalidJSON(
                        "char vocab entry \(id) is \(piece.debugDescription): each entry must be exactly one Unicode scalar")
                }
                scalars.append(piece.unicodeScalars.first!)
            }
            if let special, special != scalars.count || vocab.count != scalars.count + 1 {
                throw TokenizerError.invalidJSON("\(SpecialTokens.endOfText) must be the last id of a char vocabulary")
            }
            return try CharTokenizer(scalars: scalars, endOfText: special != nil)
        case .bpe:
            guard let merges else { throw TokenizerError.invalidJSON("a bpe tokenizer needs \"merges\"") }
            return try BytePairTokenizer(vocabulary: vocab, merges: merges, specialTokens: specialTokens)
        }
    }
}

// MARK: - Loading

/// Rebuilds a tokenizer from its JSON form (`Tokenizer.jsonData()`), dispatching on `kind`.
/// - Throws: `TokenizerError.invalidJSON` when the JSON is not a tokenizer, or the builder's errors.
public func loadTokenizer(json: Data) throws -> any Tokenizer {
    let serialized: SerializedTokenizer
    do {
        serialized = try JSONDecoder().decode(SerializedTokenizer.self, from: json)
    } catch let error as DecodingError {
        throw TokenizerError.invalidJSON(describe(error))
    }
    return try serialized.makeTokenizer()
}

/// A one-line account of a decoding error: which field and what was wrong.
private func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
        return keys.isEmpty ? "the top level" : keys.joined(separator: ".")
    }
    switch error {
    case .keyNotFound(let key, let context):
        return "missing field \"\(key.stringValue)\" at \(path(context))"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return "\(context.debugDescription) at \(path(context))"
    @unknown default:
        return "\(error)"
    }
}

// MARK: - Each kind's form

extension CharTokenizer {
    /// `{"kind": "char", "vocab": [each scalar], "special_tokens": {…}}`.
    public var serialized: SerializedTokenizer {
        var vocab = scalars.map { String($0) }
        if !specialTokens.isEmpty { vocab.append(SpecialTokens.endOfText) }
        return SerializedTokenizer(kind: .char, vocab: vocab, merges: nil, specialTokens: specialTokens)
    }
}

extension BytePairTokenizer {
    /// `{"kind": "bpe", "vocab": [each piece], "merges": ["a b", …], "special_tokens": {…}}`.
    public var serialized: SerializedTokenizer {
        let merges = tables.merges.rules.map { tables.pieces[Int($0.left)] + " " + tables.pieces[Int($0.right)] }
        return SerializedTokenizer(kind: .bpe, vocab: tables.pieces, merges: merges, specialTokens: specialTokens)
    }
}
