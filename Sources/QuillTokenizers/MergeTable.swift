// The merge rules of a byte-pair vocabulary as an open-addressing hash map: (left id, right id) → (rank, new id).
// Built once per tokenizer and only read afterwards; the encoder asks it once per adjacent pair it considers.

/// An immutable map from a pair of token ids to the merge's rank (its priority: lower merges first) and the id
/// of the token it makes.
final class MergeTable: @unchecked Sendable {
    // @unchecked Sendable: the buffers are written only in init and freed in deinit.

    // MARK: - Storage

    /// Per slot, side by side so that a probe touches one cache line: the key `left << 32 | right` (`emptyKey`
    /// where the slot is free) and the value `rank << 32 | newID`.
    private let slots: UnsafeMutablePointer<(key: UInt64, value: UInt64)>
    private let mask: Int
    private let shift: UInt64
    private static let emptyKey = UInt64.max
    /// The rank that no merge has: a pair with this rank does not merge.
    static let noRank = UInt32.max

    /// The merges in rank order, as (left, right, new id).
    let rules: [(left: UInt32, right: UInt32, merged: UInt32)]

    // MARK: - Building

    /// Builds the table from merges in rank order; a pair listed twice keeps its first (lowest) rank.
    init(rules: [(left: UInt32, right: UInt32, merged: UInt32)]) {
        var bits = 4
        while (1 << bits) < rules.count * 2 + 16 { bits += 1 }
        let capacity = 1 << bits
        mask = capacity - 1
        shift = UInt64(64 - bits)
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: (Self.emptyKey, 0), count: capacity)
        var kept: [(left: UInt32, right: UInt32, merged: UInt32)] = []
        kept.reserveCapacity(rules.count)
        for rule in rules {
            let key = UInt64(rule.left) << 32 | UInt64(rule.right)
            var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
            while slots[slot].key != Self.emptyKey && slots[slot].key != key { slot = (slot + 1) & mask }
            if slots[slot].key == key { continue }
            slots[slot] = (key, UInt64(kept.count) << 32 | UInt64(rule.merged))
            kept.append(rule)
        }
        self.rules = kept
    }

    deinit {
        slots.deallocate()
    }

    // MARK: - Lookup

    /// `rank << 32 | newID` for the pair, or `UInt64.max` (whose rank is `noRank`) when the pair does not merge.
    @inline(__always)
    func lookup(_ left: UInt32, _ right: UInt32) -> UInt64 {
        let key = UInt64(left) << 32 | UInt64(right)
        var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while true {
            let entry = slots[slot]
            if entry.key == key { return entry.value }
            if entry.key == Self.emptyKey { return UInt64.max }
            slot = (slot + 1) & mask
        }
    }

    /// The rank of the pair, or `noRank`.
    @inline(__always)
    func rank(_ left: UInt32, _ right: UInt32) -> UInt32 {
        UInt32(truncatingIfNeeded: lookup(left, right) >> 32)
    }
}
