// A split's tokens as the sampler reads them: one array in memory (a text file tokenized at start), or token shards
// mapped from disk (`quill-train prepare`), uint16 or uint32 each, never copied into memory as a whole.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A file of little-endian token ids (2 or 4 bytes each) mapped read-only; pages load as windows touch them.
public final class MappedTokens: @unchecked Sendable {
    public let path: String
    public let count: Int
    /// Bytes per token: 2 (uint16) or 4 (uint32).
    public let width: Int
    private let base: UnsafeRawPointer?
    private let length: Int

    /// Maps `path`, which must hold exactly `count` tokens of `width` bytes.
    public init(path: String, count: Int, width: Int) throws(TrainingError) {
        precondition(width == 2 || width == 4)
        self.path = path
        self.count = count
        self.width = width
        length = count * width
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .data(path: path, reason: "cannot open the shard: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, Int(st.st_size) == length else {
            throw .data(path: path, reason: "the shard should hold \(count) tokens (\(length) bytes); it does not (truncated or replaced?)")
        }
        if length == 0 {
            base = nil
            return
        }
        guard let p = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw .data(path: path, reason: "cannot map the shard: \(String(cString: strerror(errno)))")
        }
        // Windows are drawn at random: read-ahead would only fill memory with pages no window asks for.
        _ = madvise(p, length, MADV_RANDOM)
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), length) }
    }

    /// Copies tokens start..<start+n into out, then gives their pages back (MADV_DONTNEED: they stay in the page
    /// cache, but leave this process's resident set). Without that, every window the sampler draws would stay
    /// mapped, with the kernel's fault-around pages beside it, and a long run over a large corpus would show most of
    /// the shards in its RSS.
    public func copy(from start: Int, count n: Int, into out: UnsafeMutablePointer<Int32>) {
        precondition(start >= 0 && start + n <= count)
        for i in 0..<n { out[i] = self[start + i] }
        let page = 65_536  // the kernel maps up to 64 KiB around a fault (fault_around_bytes): give all of it back
        let lo = (start * width) & ~(page - 1)
        let hi = min(length, ((start + n) * width + page - 1) & ~(page - 1))
        if hi > lo { _ = madvise(UnsafeMutableRawPointer(mutating: base! + lo), hi - lo, MADV_DONTNEED) }
    }

    @inline(__always) public subscript(i: Int) -> Int32 {
        width == 2 ? Int32(base!.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian)
            : Int32(bitPattern: base!.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian)
    }
}

/// The tokens of one split: contiguous parts (the in-memory stream, or one part per shard). A window never spans two
/// parts: shards end at document boundaries.
public struct TokenStream: Sendable {
    enum Part: Sendable {
        case memory([Int32])
        case mapped(MappedTokens)

        var count: Int {
            switch self {
            case let .memory(a): return a.count
            case let .mapped(m): return m.count
            }
        }
    }

    let parts: [Part]
    /// All tokens, over every part.
    public let count: Int

    public init(_ tokens: [Int32]) {
        parts = [.memory(tokens)]
        count = tokens.count
    }

    public init(shards: [MappedTokens]) {
        parts = shards.map { .mapped($0) }
        count = shards.reduce(0) { $0 + $1.count }
    }

    /// The longest part (a window of T + 1 tokens needs a part of at least T + 1).
    public var longestPart: Int { parts.map(\.count).max() ?? 0 }

    /// Token i, counting through the parts in order (for tests and small reads; windows use `copyWindow`).
    public subscript(i: Int) -> Int32 {
        var i = i
        for p in parts {
            if i < p.count {
                switch p {
                case let .memory(a): return a[i]
                case let .mapped(m): return m[i]
                }
            }
            i -= p.count
        }
        preconditionFailure("token index out of range")
    }

    public var first: Int32? { count > 0 ? self[0] : nil }
    public var last: Int32? { count > 0 ? self[count - 1] : nil }

    /// Window starts a part offers for windows of n tokens (0 when it is shorter).
    @inline(__always) static func starts(_ p: Part, n: Int) -> Int { max(0, p.count - n + 1) }

    /// Number of distinct windows of n tokens.
    public func windowCount(_ n: Int) -> Int { parts.reduce(0) { $0 + TokenStream.starts($1, n: n) } }

    /// Copies window `w` (0..<windowCount(n)) of n tokens into out.
    @inline(__always)
    func copyWindow(_ w: Int, n: Int, into out: UnsafeMutablePointer<Int32>) {
        var w = w
        for p in parts {
            let s = TokenStream.starts(p, n: n)
            if w < s {
                switch p {
                case let .memory(a): a.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + w, count: n) }
                case let .mapped(m): m.copy(from: w, count: n, into: out)
                }
                return
            }
            w -= s
        }
        preconditionFailure("window index out of range")
    }
}
