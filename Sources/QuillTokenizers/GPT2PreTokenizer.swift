// GPT-2's pre-tokenization (the regex below), written by hand over UTF-8 bytes with an ASCII fast path.
// It cuts text into the words that byte-pair merges then work inside; merging itself is BytePairTokenizer's job.

/// Splits text the way GPT-2's pattern does, matching tiktoken's `gpt2` encoding exactly:
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// The first alternative that matches at a position wins, and each `+` is greedy. The one backtracking case is
/// `\s+(?!\S)`: a run of white space followed by a non-space gives its last white-space scalar to the next word
/// (so "a   b" splits as "a", "  ", " b"), and a run at the end of the text stays whole.
/// Contractions are lowercase only ("'S" is "'" then "S"), and only U+0020 can lead a word.
public enum GPT2PreTokenizer {
    // MARK: - Public API

    /// The words of `text`, in order; joined, they give `text` back.
    public static func split(_ text: String) -> [String] {
        var words: [String] = []
        var text = text
        text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            var start = 0
            while start < buffer.count {
                let end = wordEnd(base, start, buffer.count)
                words.append(String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<end]), as: UTF8.self))
                start = end
            }
        }
        return words
    }

    // MARK: - The scanner

    /// The end of the word that starts at byte `start` of the valid UTF-8 in `p[0..<count]`.
    /// `start` must be the first byte of a scalar and below `count`.
    @inline(__always)
    static func wordEnd(_ p: UnsafePointer<UInt8>, _ start: Int, _ count: Int) -> Int {
        let ascii = ScalarClass.ascii
        let first = p[start]

        // Contractions: 's 't 'm 'd 're 've 'll (lowercase only).
        if first == UInt8(ascii: "'"), start + 1 < count {
            let b1 = p[start + 1]
            if b1 == UInt8(ascii: "s") || b1 == UInt8(ascii: "t") || b1 == UInt8(ascii: "m") || b1 == UInt8(ascii: "d") {
                return start + 2
            }
            if start + 2 < count {
                let b2 = p[start + 2]
                if (b1 == UInt8(ascii: "r") && b2 == UInt8(ascii: "e")) || (b1 == UInt8(ascii: "v") && b2 == UInt8(ascii: "e"))
                    || (b1 == UInt8(ascii: "l") && b2 == UInt8(ascii: "l")) {
                    return start + 3
                }
            }
        }

        // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional U+0020, then a run of one class.
        if first == 0x20, start + 1 < count {
            let (cls, length) = classAt(p, start + 1, ascii)
            if cls != ScalarClass.whitespace.rawValue { return runEnd(p, start + 1 + length, count, cls, ascii) }
        } else if first < 0x80 {
            let cls = ascii[Int(first)]
            if cls != ScalarClass.whitespace.rawValue { return runEnd(p, start + 1, count, cls, ascii) }
        } else {
            let (cls, length) = classAt(p, start, ascii)
            if cls != ScalarClass.whitespace.rawValue { return runEnd(p, start + length, count, cls, ascii) }
        }

        // "\s+(?!\S)|\s+": the white-space run, less its last scalar when a non-space follows and the run has more
        // than one scalar.
        var last = start
        var i = start + scalarLength(first)
        while i < count {
            let (cls, length) = classAt(p, i, ascii)
            if cls != ScalarClass.whitespace.rawValue { break }
            last = i
            i += length
        }
        if i == count || last == start { return i }
        return last
    }

    /// The end of the run of scalars of class `cls` that starts at byte `i`.
    @inline(__always)
    static func runEnd(_ p: UnsafePointer<UInt8>, _ i: Int, _ count: Int, _ cls: UInt8,
                       _ ascii: UnsafePointer<UInt8>) -> Int {
        var i = i
        while i < count {
            let b = p[i]
            if b < 0x80 {
                if ascii[Int(b)] != cls { return i }
                i += 1
            } else {
                let (c, length) = classAt(p, i, ascii)
                if c != cls { return i }
                i += length
            }
        }
        return i
    }

    /// The class and UTF-8 length of the scalar that starts at byte `i`.
    @inline(__always)
    static func classAt(_ p: UnsafePointer<UInt8>, _ i: Int, _ ascii: UnsafePointer<UInt8>) -> (UInt8, Int) {
        let b0 = p[i]
        if b0 < 0x80 { return (ascii[Int(b0)], 1) }
        let value: UInt32
        let length: Int
        if b0 < 0xE0 {
            value = (UInt32(b0 & 0x1F) << 6) | UInt32(p[i + 1] & 0x3F)
            length = 2
        } else if b0 < 0xF0 {
            value = (UInt32(b0 & 0x0F) << 12) | (UInt32(p[i + 1] & 0x3F) << 6) | UInt32(p[i + 2] & 0x3F)
            length = 3
        } else {
            value = (UInt32(b0 & 0x07) << 18) | (UInt32(p[i + 1] & 0x3F) << 12) | (UInt32(p[i + 2] & 0x3F) << 6)
                | UInt32(p[i + 3] & 0x3F)
            length = 4
        }
        return (ScalarClass.of(value).rawValue, length)
    }

    /// The UTF-8 length of the scalar whose first byte is `b0`.
    @inline(__always)
    static func scalarLength(_ b0: UInt8) -> Int {
        b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4
    }
}
