// Fitting a byte-level BPE tokenizer to a corpus (the algorithm is in BytePairTrainer.swift).
// Deterministic: the same corpus and size always give the same vocabulary, ids and merges.

extension BytePairTokenizer {
    // MARK: - Fitting

    /// A byte-level BPE tokenizer fitted to `corpus`, GPT-2 style.
    ///
    /// Ids 0…255 are the single bytes (id = byte value); each merge of the most frequent adjacent pair within
    /// pre-tokenized words adds the next id (ties go to the smallest (left, right) ids); `<|endoftext|>`, when
    /// asked for, is the last id. Fitting stops early, with a smaller vocabulary, if no pair is left to merge.
    /// - Parameters:
    ///   - vocabularySize: the number of ids wanted, end-of-text included; at least 256 (+1 with end-of-text).
    ///   - endOfText: whether to add `<|endoftext|>`.
    /// - Throws: `TokenizerError.invalidArgument` when `vocabularySize` is too small.
    public static func fit(corpus: String, vocabularySize: Int, endOfText: Bool = true) throws -> BytePairTokenizer {
        let specials = endOfText ? 1 : 0
        guard vocabularySize >= 256 + specials else {
            let what = endOfText ? "the 256 bytes and <|endoftext|>" : "the 256 bytes"
            throw TokenizerError.invalidArgument(
                "vocabularySize must be at least \(256 + specials) (\(what)), got \(vocabularySize)")
        }
        var trainer = BytePairTrainer(corpus: corpus)
        while trainer.tokenCount < vocabularySize - specials && trainer.mergeBestPair() {}
        var tokenBytes = trainer.tokenBytes
        var specialTokens: [String: Int] = [:]
        if endOfText {
            specialTokens[SpecialTokens.endOfText] = tokenBytes.count
            tokenBytes.append(Array(SpecialTokens.endOfText.utf8))
        }
        return try BytePairTokenizer(tokenBytes: tokenBytes, merges: trainer.merges, specialTokens: specialTokens)
    }
}
