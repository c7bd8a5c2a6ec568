// How one pre-tokenized word became tokens: its pieces before any merge and after each merge, as the notebooks'
// `encode_and_show_work` prints them and /tokenize's `explain` returns them.

/// One word's merge history: `{"word": "Ġcharmingly", "steps": [["Ġ","c","h",…], …, ["Ġcharming","ly"]]}`.
public struct WordExplanation: Codable, Sendable, Equatable {
    /// The word as one byte-level piece string ("Ġcharmingly"), or a special token's text.
    public var word: String
    /// The word's pieces: first one per byte, then after each merge step; the last step is what `encode` gives.
    public var steps: [[String]]

    public init(word: String, steps: [[String]]) {
        self.word = word
        self.steps = steps
    }
}
