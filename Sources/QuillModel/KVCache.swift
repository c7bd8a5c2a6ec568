// The keys and values one sequence has computed so far, per layer: what lets a decode step process one new
// token instead of the whole context. Layout per layer: keys transposed (C, stride) = (heads, head size, stride),
// so that one query's scores against every position vectorise over positions; then values (heads, stride, head
// size), so that one head's weighted sum reads its values as one contiguous run. `stride` is the capacity rounded
// up to 8, so that scores can be computed eight positions at a time past the last one without leaving a row.
import QuillTensor

public final class KVCache: @unchecked Sendable {
    /// Positions it can hold: the model's block size.
    public let capacity: Int
    /// Floats between one position row of keys and the next (capacity rounded up to a multiple of 8).
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
        stride = (config.blockSize + 7) & ~7
        C = config.nEmbd
        heads = config.nHead
        layers = config.nLayer
        // Zero-filled, lazily (mmap): unwritten positions hold finite values, and pages are only materialised when
        // a position first touches them. In huge pages where the cache is large enough (allocateZeroedFloats): the
        // transposed keys put each channel on a page of its own otherwise.
        block = allocateZeroedFloats(layers * 2 * stride * C, hugePages: true)
    }

    deinit { freeZeroedFloats(block) }

    /// Bytes one cache of this config holds.
    public static func bytes(config: GPTConfig) -> Int {
        config.nLayer * 2 * ((config.blockSize + 7) & ~7) * config.nEmbd * MemoryLayout<Float>.size
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
            for ch in 0..<C { (kd + ch * stride).update(from: ks + ch * stride, count: n) }
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
