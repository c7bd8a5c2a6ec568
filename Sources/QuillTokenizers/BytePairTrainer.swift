// Fitting a byte-level BPE vocabulary to a corpus: the classic algorithm (count pre-tokenized words, merge the
// most frequent adjacent pair, repeat) with incremental pair counts and a lazily corrected max-heap.
// BytePairTokenizer.fit(corpus:vocabularySize:endOfText:) is the public entry point.

/// One fit: words with their frequencies, the current split of each word, and the count of every adjacent pair.
struct BytePairTrainer: ~Copyable {
    // MARK: - State

    /// Distinct words: their current symbols (token ids) and how often each occurs in the corpus.
    private var symbols: [[UInt32]] = []
    private var frequency: [Int] = []
    /// Every token's bytes (id = index); ids 0…255 are the single bytes, id = byte value.
    private(set) var tokenBytes: [[UInt8]] = (0..<256).map { [UInt8($0)] }
    /// Token bytes → id.
    private var tokenIndex = ByteStringTable(expected: 1024)
    /// Merges made so far, in order.
    private(set) var merges: [(UInt32, UInt32)] = []

    /// Pair (left << 32 | right) → its slot in the arrays below.
    private var slotOfPair: [UInt64: Int] = [:]
    private var pairKey: [UInt64] = []
    private var pairCount: [Int] = []
    /// Words where the pair has occurred (may repeat, may be stale: merging there is then a no-op).
    private var pairWords: [[Int32]] = []
    /// Pairs whose count went up during the current merge: they get a fresh heap entry.
    private var raised: [Int] = []
    private var heap = PairHeap()

    // MARK: - Fitting

    /// Counts the words of `corpus` and their pairs.
    init(corpus: String) {
        for b in 0..<256 {
            var byte = UInt8(b)
            _ = tokenIndex.findOrInsert(&byte, 1, value: UInt32(b))
        }
        var words = ByteStringTable(expected: 1 << 14)
        var corpus = corpus
        corpus.withUTF8 { buffer in
            guard let p = buffer.baseAddress else { return }
            var start = 0
            while start < buffer.count {
                let end = GPT2PreTokenizer.wordEnd(p, start, buffer.count)
                let (word, inserted) = words.findOrInsert(p + start, end - start, value: UInt32(symbols.count))
                if inserted {
                    frequency.append(1)
                    symbols.append((start..<end).map { UInt32(p[$0]) })
                } else {
                    frequency[Int(word)] += 1
                }
                start = end
            }
        }
        for (word, parts) in symbols.enumerated() where parts.count > 1 {
            for k in 0..<(parts.count - 1) { add(pair(parts[k], parts[k + 1]), frequency[word], word) }
        }
        for slot in pairCount.indices where pairCount[slot] > 0 { heap.push(count: pairCount[slot], pair: pairKey[slot]) }
        raised.removeAll()
    }

    /// Number of ordinary tokens so far.
    var tokenCount: Int { tokenBytes.count }

    /// Merges the most frequent pair (the smallest (left, right) among equals); false when no pair is left.
    mutating func mergeBestPair() -> Bool {
        while let (count, key) = heap.pop() {
            guard let slot = slotOfPair[key] else { continue }
            let current = pairCount[slot]
            if current != count {   // stale entry: put it back with its current count
                if current > 0 { heap.push(count: current, pair: key) }
                continue
            }
            merge(slot)
            return true
        }
        return false
    }

    // MARK: - One merge

    private mutating func merge(_ slot: Int) {
        let key = pairKey[slot]
        let left = UInt32(truncatingIfNeeded: key >> 32)
        let right = UInt32(truncatingIfNeeded: key)
        let bytes = tokenBytes[Int(left)] + tokenBytes[Int(right)]
        // A merge can make bytes that another path already made: reuse that token, as Hugging Face does.
        let (merged, inserted) = bytes.withUnsafeBufferPointer {
            tokenIndex.findOrInsert($0.baseAddress!, $0.count, value: UInt32(tokenBytes.count))
        }
        if inserted { tokenBytes.append(bytes) }
        merges.append((left, right))

        var words = pairWords[slot]
        pairWords[slot] = []
        words.sort()
        var previous: Int32 = -1
        for word in words where word != previous {
            previous = word
            mergeInWord(Int(word), left, right, merged)
        }
        for raisedSlot in raised where pairCount[raisedSlot] > 0 {
            heap.push(count: pairCount[raisedSlot], pair: pairKey[raisedSlot])
        }
        raised.removeAll(keepingCapacity: true)
    }

    /// Replaces each (left, right) in the word, left to right, and moves the counts of the pairs around it.
    private mutating func mergeInWord(_ word: Int, _ left: UInt32, _ right: UInt32, _ merged: UInt32) {
        var parts = symbols[word]
        symbols[word] = []
        let weight = frequency[word]
        let n = parts.count
        var out = 0
        var i = 0
        while i < n {
            if i + 1 < n && parts[i] == left && parts[i + 1] == right {
                if out > 0 {
                    add(pair(parts[out - 1], left), -weight, word)
                    add(pair(parts[out - 1], merged), weight, word)
                }
                if i + 2 < n {
                    add(pair(right, parts[i + 2]), -weight, word)
                    add(pair(merged, parts[i + 2]), weight, word)
                }
                add(pair(left, right), -weight, word)
                parts[out] = merged
                out += 1
                i += 2
            } else {
                parts[out] = parts[i]
                out += 1
                i += 1
            }
        }
        parts.removeLast(n - out)
        symbols[word] = parts
    }

    // MARK: - Pair counts

    @inline(__always)
    private func pair(_ left: UInt32, _ right: UInt32) -> UInt64 {
        UInt64(left) << 32 | UInt64(right)
    }

    /// Adds `delta` occurrences of `key` (in `word` when positive).
    private mutating func add(_ key: UInt64, _ delta: Int, _ word: Int) {
        let slot: Int
        if let existing = slotOfPair[key] {
            slot = existing
        } else {
            slot = pairKey.count
            slotOfPair[key] = slot
            pairKey.append(key)
            pairCount.append(0)
            pairWords.append([])
        }
        pairCount[slot] += delta
        if delta > 0 {
            pairWords[slot].append(Int32(word))
            raised.append(slot)
        }
    }
}

// MARK: - Heap

/// A binary max-heap of (count, pair): the highest count first, then the smallest pair.
struct PairHeap {
    private var counts: [Int] = []
    private var pairs: [UInt64] = []

    @inline(__always)
    private func before(_ i: Int, _ j: Int) -> Bool {
        counts[i] != counts[j] ? counts[i] > counts[j] : pairs[i] < pairs[j]
    }

    private mutating func swap(_ i: Int, _ j: Int) {
        counts.swapAt(i, j)
        pairs.swapAt(i, j)
    }

    mutating func push(count: Int, pair: UInt64) {
        counts.append(count)
        pairs.append(pair)
        var child = counts.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if !before(child, parent) { break }
            swap(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (Int, UInt64)? {
        guard !counts.isEmpty else { return nil }
        let top = (counts[0], pairs[0])
        let lastCount = counts.removeLast()
        let lastPair = pairs.removeLast()
        if !counts.isEmpty {
            counts[0] = lastCount
            pairs[0] = lastPair
            var parent = 0
            while true {
                let left = 2 * parent + 1
                if left >= counts.count { break }
                let right = left + 1
                let child = right < counts.count && before(right, left) ? right : left
                if !before(child, parent) { break }
                swap(child, parent)
                parent = child
            }
        }
        return top
    }
}
