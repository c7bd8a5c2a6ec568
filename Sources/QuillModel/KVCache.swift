// The keys and values one sequence has computed so far, per layer: what lets a decode step process one new
// token instead of the whole context. Layout per layer: keys (heads, stride / 32, head size, 32), in blocks of 32
// positions (keyOffset in DecodeAttention.swift), so that one query's scores against 32 positions vectorise over
// positions and read one contiguous run; then values (heads, stride, head size), so that one head's weighted sum
// reads its values as one contiguous run. `stride` is the capacity rounded up to 32, a whole number of key blocks.
import QuillTensor

public final class KVCache: @unchecked Sendable {
    /// Positions it can hold: the model's block size.
    public let capacity: Int
    /// Positions per head in the layout: the capacity rounded up to a whole number of key blocks (32).
    let stride: Int
    let C: Int
    let heads: Int
    let layers: Int
    let block: FloatBuffer
    /// Positions filled (0..<count hold the keys and values of the sequence's tokens so far).
    public internal(set) var count = 0
    /// Where the current document starts (a model with `documentToken`: attention and positions begin there).
    public internal(set) var documentStart = 0

    public init(config: GPTConfig) {
        capacity = config.blockSize
        stride = (config.blockSize + 31) & ~31
        C = config.nEmbd
        heads = config.nHead
        layers = config.nLayer
        // Zero-filled, lazily (mmap): unwritten positions hold finite values, and pages are only materialised when
        // a position first touches them. In huge pages where the cache is large enough (allocateZeroedFloats): one
        // position's keys touch every channel's line of its block, hs · 128 bytes apart.
        block = allocateZeroedFloats(layers * 2 * stride * C, hugePages: true)
    }

    deinit { freeZeroedFloats(block) }

    /// Bytes one cache of this config holds.
    public static func bytes(config: GPTConfig) -> Int {
        config.nLayer * 2 * ((config.blockSize + 31) & ~31) * config.nEmbd * MemoryLayout<Float>.size
    }

    /// Whether `other` has this cache's shape (the same model's), so positions can be copied between them.
    public func sameShape(as other: KVCache) -> Bool {
        other.C == C && other.heads == heads && other.layers == layers && other.stride == stride
    }

    /// Takes positions 0..<n of `source` (a cache of the same shape that holds at least n) in place of this
    /// cache's: every layer's keys and values, copied. What a prompt cache hit costs instead of a prefill.
    public func copyPrefix(from source: KVCache, count n: Int) {
        precondition(sameShape(as: source) && n <= source.count && n <= capacity && source.documentStart == 0)
        let hs = C / heads
        for l in 0..<layers {
            let (kd, ks) = (keys(l), source.keys(l))
            let keyFloats = (n + 31) / 32 * 32 * hs   // whole blocks; the lanes past n are overwritten before use
            for h in 0..<heads { (kd + h * stride * hs).update(from: ks + h * stride * hs, count: keyFloats) }
            let (vd, vs) = (values(l), source.values(l))
            for h in 0..<heads { (vd + h * stride * hs).update(from: vs + h * stride * hs, count: n * hs) }
        }
        count = n
        documentStart = 0
    }

    /// Forgets every position (the buffers are reused).
    public func reset() { count = 0; documentStart = 0 }

    @inline(__always) func keys(_ layer: Int) -> UnsafeMutablePointer<Float> { block.ptr + layer * 2 * stride * C }
    @inline(__always) func values(_ layer: Int) -> UnsafeMutablePointer<Float> { keys(layer) + stride * C }
}
