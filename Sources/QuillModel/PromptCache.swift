// The prompt cache (llama.cpp's cache_prompt, vLLM's prefix caching): the KV caches of finished sequences, kept
// with their tokens within a byte bound, so that a new prompt that begins with the same tokens copies their keys
// and values instead of computing them again. Least recently used entries go first; an entry whose tokens
// another entry extends is dropped, since the longer one serves every prompt the shorter one would.

public final class PromptCache: @unchecked Sendable {  // used on one queue (the model actor's)
    public struct Entry {
        public let tokens: [Int32]
        public let cache: KVCache
        var lastUse: UInt64
    }

    /// Most bytes of KV cache held (each entry counts its whole cache: KVCache.bytes, which is about what it keeps
    /// resident: a large cache lies in 2 MB pages, and every head's keys and values start in a page of their own).
    public let capacityBytes: Int
    /// Most entries held, whatever their size: a small model's caches stay few, so the memory they hold stops
    /// growing soon after start (and each lookup scans them all).
    public let maxEntries: Int
    public let entryBytes: Int
    public private(set) var entries: [Entry] = []
    private var clock: UInt64 = 0

    public init(capacityBytes: Int, maxEntries: Int = 32, config: GPTConfig) {
        self.capacityBytes = max(0, capacityBytes)
        self.maxEntries = max(0, maxEntries)
        self.entryBytes = KVCache.bytes(config: config)
    }

    public var bytes: Int { entries.count * entryBytes }
    public var isEnabled: Bool { capacityBytes >= entryBytes && maxEntries > 0 }

    /// How many leading tokens `a` and `b` share.
    public static func commonPrefix<A: Collection<Int32>, B: Collection<Int32>>(_ a: A, _ b: B) -> Int {
        var n = 0
        for (x, y) in zip(a, b) {
            guard x == y else { break }
            n += 1
        }
        return n
    }

    /// The entry that shares the longest prefix with `tokens`, and that length (nil when none shares a token).
    /// The entry counts as used.
    public func longestPrefix(of tokens: [Int32]) -> (cache: KVCache, count: Int)? {
        var best: (index: Int, count: Int)? = nil
        for (i, e) in entries.enumerated() {
            let n = Self.commonPrefix(e.tokens, tokens)
            if n > 0, n > (best?.count ?? 0) { best = (i, n) }
        }
        guard let best else { return nil }
        clock &+= 1
        entries[best.index].lastUse = clock
        return (entries[best.index].cache, best.count)
    }

    /// Takes `cache`'s entry out (its new owner will overwrite it).
    public func remove(_ cache: KVCache) {
        entries.removeAll { $0.cache === cache }
    }

    /// Keeps `cache`, which holds `tokens`' keys and values; evicts the least recently used entries past the bound.
    public func insert(tokens: [Int32], cache: KVCache) {
        guard isEnabled, !tokens.isEmpty, tokens.count == cache.count, cache.documentStart == 0 else { return }
        // An entry this one extends (or equals) serves nothing this one does not.
        entries.removeAll { $0.tokens.count <= tokens.count && Self.commonPrefix($0.tokens, tokens) == $0.tokens.count }
        clock &+= 1
        entries.append(Entry(tokens: tokens, cache: cache, lastUse: clock))
        while bytes > capacityBytes || entries.count > maxEntries, let oldest = entries.indices.min(by: { entries[$0].lastUse < entries[$1].lastUse }) {
            entries.remove(at: oldest)
        }
    }

    public func removeAll() { entries.removeAll() }
}
