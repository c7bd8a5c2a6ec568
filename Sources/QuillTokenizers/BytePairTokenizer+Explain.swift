// Explaining an encoding: for each pre-tokenized word, its pieces after each merge step (the notebooks'
// `encode_and_show_work`). Slow and allocating on purpose: it is for people, not for the hot path.

extension BytePairTokenizer {
    // MARK: - Explain

    /// For each word of `text`, its pieces before merging and after each merge step.
    ///
    /// A step applies the lowest-ranked merge present in the word to all its occurrences, left to right (as
    /// GPT-2's `bpe()` does); the last step's pieces are the word's tokens from `encode`. (A word that is itself
    /// a token is encoded as that token, as tiktoken does; in the rare vocabulary where merging would split
    /// such a word, one last step shows the whole word.)
    /// With `allowSpecial`, a special token is a word of one step holding its text.
    public func explain(_ text: String, allowSpecial: Bool = false) -> [WordExplanation] {
        var explanations: [WordExplanation] = []
        var text = text
        text.withUTF8 { buffer in
            guard let p = buffer.baseAddress else { return }
            var start = 0
            if allowSpecial {
                while let (at, length, id) = tables.nextSpecial(p, from: start, buffer.count) {
                    explainOrdinary(p, start, at, into: &explanations)
                    explanations.append(WordExplanation(word: tables.pieces[id], steps: [[tables.pieces[id]]]))
                    start = at + length
                }
            }
            explainOrdinary(p, start, buffer.count, into: &explanations)
        }
        return explanations
    }

    private func explainOrdinary(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int,
                                 into explanations: inout [WordExplanation]) {
        var i = start
        while i < end {
            let wordEnd = GPT2PreTokenizer.wordEnd(p, i, end)
            var parts = (i..<wordEnd).map { tables.byteToID[Int(p[$0])] }
            var steps = [parts.map { tables.pieces[Int($0)] }]
            while parts.count > 1 {
                var best = UInt64.max
                for k in 0..<(parts.count - 1) { best = min(best, tables.merges.lookup(parts[k], parts[k + 1])) }
                if best == UInt64.max { break }
                let rank = UInt32(truncatingIfNeeded: best >> 32)
                let merged = UInt32(truncatingIfNeeded: best)
                var next: [UInt32] = []
                var k = 0
                while k < parts.count {
                    if k + 1 < parts.count && tables.merges.rank(parts[k], parts[k + 1]) == rank {
                        next.append(merged)
                        k += 2
                    } else {
                        next.append(parts[k])
                        k += 1
                    }
                }
                parts = next
                steps.append(parts.map { tables.pieces[Int($0)] })
            }
            let (entry, isToken) = tables.tokenIndex.find(p + i, wordEnd - i)
            if isToken && parts.count > 1 { steps.append([tables.pieces[Int(tables.tokenIndex.payload(entry).value)]]) }
            let word = ByteLevel.piece(for: UnsafeBufferPointer(start: p + i, count: wordEnd - i))
            explanations.append(WordExplanation(word: word, steps: steps))
            i = wordEnd
        }
    }
}
