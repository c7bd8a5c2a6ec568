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
public func allocateZeroedFloats(_ count: Int) -> FloatBuffer {
    let bytes = max(count, 1) * MemoryLayout<Float>.size
    guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
        fatalError("mmap of \(count) floats failed")
    }
    return FloatBuffer(start: raw.assumingMemoryBound(to: Float.self), count: count)
}

/// Frees a buffer from allocateZeroedFloats.
public func freeZeroedFloats(_ b: FloatBuffer) {
    munmap(UnsafeMutableRawPointer(b.baseAddress!), max(b.count, 1) * MemoryLayout<Float>.size)
}
