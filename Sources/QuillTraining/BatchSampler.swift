// Random training windows: B windows of T + 1 tokens from a token stream; inputs are the first T, targets the
// last T (nanoGPT get_batch). The generator state is saved with the optimizer, so a resumed run draws the same
// batches an uninterrupted one would.
import QuillTensor

public struct BatchSampler: Sendable {
    public var rng: SplitMix64

    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    /// B random windows of `tokens`, as (inputs, targets), each B·T ids row-major.
    public mutating func batch(from tokens: TokenStream, B: Int, T: Int) -> (x: [Int32], y: [Int32]) {
        let span = UInt64(tokens.windowCount(T + 1))
        precondition(span > 0, "no window of T + 1 tokens")
        var x = [Int32](repeating: 0, count: B * T), y = x
        var window = [Int32](repeating: 0, count: T + 1)
        for b in 0..<B {
            let start = Int(rng.next() % span)
            window.withUnsafeMutableBufferPointer { tokens.copyWindow(start, n: T + 1, into: $0.baseAddress!) }
            for t in 0..<T {
                x[b * T + t] = window[t]
                y[b * T + t] = window[t + 1]
            }
        }
        return (x, y)
    }

    /// The same over an array (one part).
    public mutating func batch(from tokens: [Int32], B: Int, T: Int) -> (x: [Int32], y: [Int32]) {
        batch(from: TokenStream(tokens), B: B, T: T)
    }
}
