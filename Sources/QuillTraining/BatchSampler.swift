// Random training windows: B windows of T + 1 tokens from a token stream; inputs are the first T, targets the
// last T (nanoGPT get_batch). The generator state is saved with the optimizer, so a resumed run draws the same
// batches an uninterrupted one would.
import QuillTensor

public struct BatchSampler: Sendable {
    public var rng: SplitMix64

    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    /// B random windows of `tokens`, as (inputs, targets), each B·T ids row-major.
    public mutating func batch(from tokens: [Int32], B: Int, T: Int) -> (x: [Int32], y: [Int32]) {
        precondition(tokens.count >= T + 1)
        var x = [Int32](repeating: 0, count: B * T), y = x
        let span = UInt64(tokens.count - T)
        for b in 0..<B {
            let start = Int(rng.next() % span)
            for t in 0..<T {
                x[b * T + t] = tokens[start + t]
                y[b * T + t] = tokens[start + t + 1]
            }
        }
        return (x, y)
    }
}
