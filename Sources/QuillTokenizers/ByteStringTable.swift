// A hash map from short byte strings to two UInt32 payloads: the word cache of the encoder, the word counter of
// the trainer and the bytes → id index of a vocabulary all sit on it. Lookups allocate nothing.
import Foundation

/// An insert-only map from byte strings to caller-defined payloads (`value`, `extra`). A small index (8 bytes a
/// slot: part of the hash and the entry's number, open addressing with linear probing) points into the entries,
/// kept in insertion order, so the frequent words of a text (seen first) share a few cache lines. Keys of up to
/// 16 bytes live inside their entry as two 8-byte words; longer keys are copied into an arena.
/// Not thread-safe: each encode call or fit owns its own. Noncopyable, so the buffers have exactly one owner and
/// need no exclusivity checks at run time.
struct ByteStringTable: ~Copyable {
    // MARK: - Storage

    struct Entry {
        /// The key's first and last 8 bytes (for shorter keys, see `words(_:_:)`): for keys of up to 16 bytes
        /// these determine the key, for longer ones they filter before the arena comparison.
        var a: UInt64
        var b: UInt64
        /// The key's length in bytes (keys are never empty).
        var length: UInt32
        /// Where a key longer than 16 bytes starts in the arena.
        var keyOffset: UInt32
        /// The caller's payloads.
        var value: UInt32
        var extra: UInt32
    }

    /// Per slot: the hash's high half << 32 | (entry number + 1); 0 where free.
    private var slots: UnsafeMutablePointer<UInt64>
    private var mask: Int
    private var entries: UnsafeMutablePointer<Entry>
    private var entryCapacity: Int
    private(set) var count = 0
    private var arena: UnsafeMutablePointer<UInt8>
    private var arenaCount = 0
    private var arenaCapacity: Int

    // MARK: - Life cycle

    /// An empty table sized for about `expected` keys.
    init(expected: Int = 256) {
        var capacity = 64
        while capacity < expected * 2 { capacity <<= 1 }
        mask = capacity - 1
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: 0, count: capacity)
        entryCapacity = capacity / 2
        entries = .allocate(capacity: entryCapacity)
        arenaCapacity = 4096
        arena = .allocate(capacity: arenaCapacity)
    }

    deinit {
        slots.deallocate()
        entries.deallocate()
        arena.deallocate()
    }

    // MARK: - Lookup and insertion

    /// When `found`, `position` is the entry that holds `p[0..<length]` (for `payload` and `setValue`); otherwise
    /// it is the free slot where `insert` must put it. `length` must be at least 1.
    @inline(__always)
    func find(_ p: UnsafePointer<UInt8>, _ length: Int) -> (position: Int, found: Bool) {
        let (a, b) = Self.words(p, length)
        let hash = Self.hash(p, length, a, b)
        let tag = hash & 0xFFFF_FFFF_0000_0000
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let s = slots[slot]
            if s == 0 { return (slot, false) }
            if s & 0xFFFF_FFFF_0000_0000 == tag {
                let entry = Int(truncatingIfNeeded: s & 0xFFFF_FFFF) - 1
                let e = entries[entry]
                if e.a == a && e.b == b && Int(e.length) == length
                    && (length <= 16 || memcmp(arena + Int(e.keyOffset), p, length) == 0) {
                    return (entry, true)
                }
            }
            slot = (slot + 1) & mask
        }
    }

    /// Stores `p[0..<length]` with its payloads; `slot` is the free slot that `find` just gave for it.
    /// Slots found before an insert are invalid after it (the table may grow); entries stay valid.
    @inline(__always)
    mutating func insert(_ p: UnsafePointer<UInt8>, _ length: Int, at slot: Int, value: UInt32, extra: UInt32 = 0) {
        let (a, b) = Self.words(p, length)
        var keyOffset: UInt32 = 0
        if length > 16 {
            if arenaCount + length > arenaCapacity { growArena(arenaCount + length) }
            (arena + arenaCount).update(from: p, count: length)
            keyOffset = UInt32(arenaCount)
            arenaCount += length
        }
        if count == entryCapacity { growEntries() }
        (entries + count).initialize(to: Entry(a: a, b: b, length: UInt32(length), keyOffset: keyOffset,
                                               value: value, extra: extra))
        let hash = Self.hash(p, length, a, b)
        count += 1
        slots[slot] = (hash & 0xFFFF_FFFF_0000_0000) | UInt64(count)
        if count * 2 > mask + 1 { grow() }
    }

    /// The payloads of a found entry.
    @inline(__always)
    func payload(_ entry: Int) -> (value: UInt32, extra: UInt32) {
        (entries[entry].value, entries[entry].extra)
    }

    /// Replaces the `value` payload of a found entry.
    @inline(__always)
    mutating func setValue(_ value: UInt32, at entry: Int) {
        entries[entry].value = value
    }

    /// The value stored for `p[0..<length]`, inserting `value` when absent; `inserted` says which happened.
    @inline(__always)
    mutating func findOrInsert(_ p: UnsafePointer<UInt8>, _ length: Int, value: UInt32) -> (value: UInt32, inserted: Bool) {
        let (position, found) = find(p, length)
        if found { return (entries[position].value, false) }
        insert(p, length, at: position, value: value)
        return (value, true)
    }

    // MARK: - Growth

    private mutating func grow() {
        let capacity = (mask + 1) * 2
        slots.deallocate()
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: 0, count: capacity)
        mask = capacity - 1
        for entry in 0..<count {
            let e = entries[entry]
            let hash = e.length <= 16 ? Self.mix(e.a, e.b, Int(e.length))
                                      : Self.longHash(arena + Int(e.keyOffset), Int(e.length))
            var slot = Int(truncatingIfNeeded: hash) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = (hash & 0xFFFF_FFFF_0000_0000) | UInt64(entry + 1)
        }
    }

    private mutating func growEntries() {
        let capacity = entryCapacity * 2
        let grown = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
        grown.moveInitialize(from: entries, count: count)
        entries.deallocate()
        entries = grown
        entryCapacity = capacity
    }

    private mutating func growArena(_ needed: Int) {
        var capacity = arenaCapacity * 2
        while capacity < needed { capacity *= 2 }
        precondition(capacity <= Int(UInt32.max), "ByteStringTable: more than 4 GiB of long keys")
        let newArena = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        newArena.update(from: arena, count: arenaCount)
        arena.deallocate()
        arena = newArena
        arenaCapacity = capacity
    }

    // MARK: - Hashing

    /// Two 8-byte words that, with the length, determine a key of up to 16 bytes: the first and last 8 bytes
    /// (overlapping) for 8…16 bytes, the first and last 4 for 4…7, and bytes 0, n/2 and n-1 for 1…3.
    /// For longer keys they are the first and last 8 bytes. Loads stay inside the key.
    @inline(__always)
    static func words(_ p: UnsafePointer<UInt8>, _ n: Int) -> (UInt64, UInt64) {
        let raw = UnsafeRawPointer(p)
        if n >= 8 {
            return (raw.loadUnaligned(as: UInt64.self), raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self))
        }
        if n >= 4 {
            return (UInt64(raw.loadUnaligned(as: UInt32.self)),
                    UInt64(raw.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)))
        }
        return (UInt64(p[0]) | UInt64(p[n >> 1]) << 8 | UInt64(p[n - 1]) << 16, 0)
    }

    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ n: Int, _ a: UInt64, _ b: UInt64) -> UInt64 {
        n <= 16 ? mix(a, b, n) : longHash(p, n)
    }

    @inline(__always)
    static func mix(_ a: UInt64, _ b: UInt64, _ n: Int) -> UInt64 {
        var h = (a &* 0x9E37_79B9_7F4A_7C15) ^ (b &* 0xC2B2_AE3D_27D4_EB4F) ^ (UInt64(n) &* 0x1656_67B1_9E37_79F9)
        h ^= h >> 32
        h = h &* 0xD6E8_FEB8_6659_FD93
        h ^= h >> 32
        return h
    }

    /// Hash of a key longer than 16 bytes: its 8-byte words folded through `mix`.
    static func longHash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        let raw = UnsafeRawPointer(p)
        var h = UInt64(n)
        var i = 0
        while i + 8 <= n {
            h = mix(h, raw.loadUnaligned(fromByteOffset: i, as: UInt64.self), i)
            i += 8
        }
        return mix(h, raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self), n)
    }
}
