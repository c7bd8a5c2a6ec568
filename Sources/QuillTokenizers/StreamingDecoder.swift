// Decoding token ids as they arrive (streamed generation): returns the text that is complete so far and holds
// back the bytes of a UTF-8 character that the next token will finish.

/// Turns a growing list of token ids into text without ever splitting a UTF-8 character.
///
/// Feed ids as they come; each call returns the newly completed text. A token can end inside a character
/// (GPT-2 spells many emoji as two or three byte tokens): those bytes wait for the next call. `finish()` returns
/// whatever is left, with U+FFFD for bytes that never formed a character. All the pieces joined equal
/// `tokenizer.decode(allIDs)`.
public struct StreamingDecoder: Sendable {
    /// The tokenizer whose ids this decodes.
    public let tokenizer: any Tokenizer
    /// Bytes of an unfinished character.
    private var pending: [UInt8] = []

    public init(tokenizer: any Tokenizer) {
        self.tokenizer = tokenizer
    }

    // MARK: - Decoding

    /// The text completed by `id`.
    /// - Throws: `TokenizerError.invalidTokenID`; the decoder is then unchanged.
    public mutating func feed(_ id: Int) throws -> String {
        try feed([id])
    }

    /// The text completed by `ids`.
    /// - Throws: `TokenizerError.invalidTokenID`; the decoder is then unchanged.
    public mutating func feed(_ ids: [Int]) throws -> String {
        pending.append(contentsOf: try tokenizer.decodeBytes(ids))
        let cut = Self.completeLength(pending)
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// The held-back bytes as text (U+FFFD for an unfinished character); the decoder is then empty.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Whether bytes are being held back.
    public var hasPendingBytes: Bool { !pending.isEmpty }

    // MARK: - UTF-8 boundary

    /// The length of the longest prefix of `bytes` that does not end inside a character that could still be
    /// completed: an unfinished sequence (a valid lead byte followed by fewer continuation bytes than it needs)
    /// at the end is held back; anything else, even invalid bytes, is released.
    static func completeLength(_ bytes: [UInt8]) -> Int {
        let count = bytes.count
        var k = count - 1
        while k >= 0 && k >= count - 4 {
            let b = bytes[k]
            if b & 0xC0 != 0x80 {   // the last byte that is not a continuation byte
                let needed = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 1
                return count - k < needed ? k : count
            }
            k -= 1
        }
        return count
    }
}
