// Flat float buffers as the kernels see them: UnsafeMutableBufferPointer<Float> slices carved out of one
// allocation. The owner allocates once and frees once; kernels never allocate.

public typealias FloatBuffer = UnsafeMutableBufferPointer<Float>
public typealias TokenBuffer = UnsafeMutableBufferPointer<Int32>

extension UnsafeMutableBufferPointer {
    /// Elements [offset, offset + count) as a buffer of their own (no copy).
    @inline(__always)
    public func slice(_ offset: Int, _ count: Int) -> UnsafeMutableBufferPointer<Element> {
        precondition(offset >= 0 && count >= 0 && offset + count <= self.count, "slice out of range")
        return UnsafeMutableBufferPointer(start: baseAddress! + offset, count: count)
    }

    /// The start pointer; a zero-length buffer still yields a valid (unused) pointer.
    @inline(__always)
    public var ptr: UnsafeMutablePointer<Element> { baseAddress! }
}

/// Allocates a zero-filled float buffer of `count` elements (at least 1, so baseAddress is never nil).
public func allocateFloats(_ count: Int) -> FloatBuffer {
    let b = FloatBuffer.allocate(capacity: max(count, 1))
    b.initialize(repeating: 0)
    return FloatBuffer(start: b.baseAddress, count: count)
}

/// Frees a buffer from allocateFloats.
public func freeFloats(_ b: FloatBuffer) {
    UnsafeMutableRawPointer(b.baseAddress!).deallocate()
}

/// Hands out named slices of one allocation, each on a 64-byte boundary. `carveFloats` runs a layout twice, once to
/// count and once to slice, so every buffer is named where its size is written:
///
///     let (acts, block) = carveFloats { a in Acts(x: a.take(N * C), mean: a.take(N)) }
public struct FloatCarver {
    private let block: FloatBuffer?
    /// Floats handed out so far, each slice rounded up to 16.
    public private(set) var total = 0

    fileprivate init(block: FloatBuffer?) { self.block = block }

    /// The next `count` floats (an empty placeholder in the counting pass).
    public mutating func take(_ count: Int) -> FloatBuffer {
        precondition(count >= 0, "FloatCarver.take: negative count")
        defer { total += (count + 15) & ~15 }
        guard let block else { return FloatBuffer(start: nil, count: 0) }
        return block.slice(total, count)
    }
}

/// A zero-filled buffer of `count` floats at the start of a block of at least 2 MB that is offered to transparent
/// huge pages (allocateZeroedFloats(hugePages:)); free the block with freeZeroedFloats. For the training step's
/// parameters, gradients, moments and activations, which every step walks whole: on 4 KB pages at config N (0.8 MB
/// a tensor block) the TLB misses of AdamW's first touch were a third of its time.
public func allocateHugeFloats(_ count: Int) -> (buffer: FloatBuffer, block: FloatBuffer) {
    let block = allocateZeroedFloats(max(count, hugePageBytes / MemoryLayout<Float>.size), hugePages: true)
    return (block.slice(0, count), block)
}

/// Runs `layout` to size one zero-filled allocation (free it with freeFloats; with hugePages, from
/// allocateHugeFloats, free it with freeZeroedFloats), then again to carve it; returns what
/// the second run built and the block. `layout` must ask for the same sizes in the same order both times.
public func carveFloats<T>(hugePages: Bool = false, _ layout: (inout FloatCarver) -> T) -> (T, block: FloatBuffer) {
    var counting = FloatCarver(block: nil)
    _ = layout(&counting)
    let block = hugePages ? allocateHugeFloats(counting.total).block : allocateFloats(counting.total)
    var carving = FloatCarver(block: block)
    let result = layout(&carving)
    precondition(carving.total == counting.total, "carveFloats: the layout asked for other sizes the second time")
    return (result, block)
}

/// Sets every element to zero.
@inline(__always)
public func zero(_ b: FloatBuffer) {
    guard b.count > 0 else { return }
    b.ptr.update(repeating: 0, count: b.count)
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A zero-filled float buffer of anonymous pages mapped from the kernel (mmap): memory that is never touched costs
/// nothing, none is written twice (a 124M model's 75 MB KV cache per generation), and freeing it gives every page
/// back to the kernel at once. (calloc did this too until glibc's mmap threshold, raised by each free of a mapped
/// chunk, sent such buffers into its heap arenas, where a server's RSS crept up with every request.) Free it with
/// `freeZeroedFloats`.
///
/// With `hugePages`, a buffer of at least `hugePageBytes` starts on a 2 MB boundary and is offered to the kernel's
/// transparent huge pages (madvise MADV_HUGEPAGE; where THP is off it stays in 4 KB pages). A KV cache wants this:
/// one decode step's attention reads every head's keys and values in every layer, runs that start a head's share of
/// the cache apart (256 KB at GPT-2's size), and with 8 sequences their 4 KB pages far outnumber the TLB's entries.
/// Huge pages also mean that the whole buffer is materialised (zeroed) in 2 MB pieces as it is first touched.
public func allocateZeroedFloats(_ count: Int, hugePages: Bool = false) -> FloatBuffer {
    let bytes = max(count, 1) * MemoryLayout<Float>.size
    #if os(Linux)
    if hugePages && bytes >= hugePageBytes {
        let span = bytes + hugePageBytes
        let raw = mapAnonymous(span, floats: count)
        // Keep the 2 MB-aligned part; hand back the pages before and after it.
        let address = Int(bitPattern: raw)
        let start = (address + hugePageBytes - 1) & ~(hugePageBytes - 1)
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let end = (start + bytes + pageSize - 1) & ~(pageSize - 1)
        if start > address { munmap(raw, start - address) }
        if address + span > end { munmap(UnsafeMutableRawPointer(bitPattern: end), address + span - end) }
        let aligned = UnsafeMutableRawPointer(bitPattern: start)!
        _ = madvise(aligned, end - start, 14)   // MADV_HUGEPAGE (Glibc does not export the constant to Swift)
        return FloatBuffer(start: aligned.assumingMemoryBound(to: Float.self), count: count)
    }
    #endif
    return FloatBuffer(start: mapAnonymous(bytes, floats: count).assumingMemoryBound(to: Float.self), count: count)
}

/// `bytes` of fresh zero pages (mmap, private and anonymous), for a buffer of `floats` floats.
private func mapAnonymous(_ bytes: Int, floats: Int) -> UnsafeMutableRawPointer {
    guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
        fatalError("mmap of \(floats) floats failed")
    }
    return raw
}

/// The size and alignment of a transparent huge page on x86-64 and most arm64 Linux kernels.
public let hugePageBytes = 2 << 20

/// Frees a buffer from allocateZeroedFloats.
public func freeZeroedFloats(_ b: FloatBuffer) {
    munmap(UnsafeMutableRawPointer(b.baseAddress!), max(b.count, 1) * MemoryLayout<Float>.size)
}
