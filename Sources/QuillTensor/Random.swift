// Seedable random numbers: a SplitMix64 stream for initialisation and sampling, and a counter-based hash for
// dropout masks, so that a mask depends only on (seed, position) and never on how work is split over threads.
import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014): 64 bits of state, passes BigCrush, trivially saved and restored.
public struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// The SplitMix64 finaliser: a bijective avalanche of 64 bits.
    @inline(__always)
    public static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func nextFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Standard normal sample (Box-Muller, computed in Double).
    public mutating func nextGaussian() -> Float {
        let u1 = Double((next() >> 11) + 1) * (1.0 / 9_007_199_254_740_993.0)  // (0, 1]
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2))
    }
}

/// Counter-based dropout masks: element i of stream `key` is kept when hash(key, i) >= p * 2^32.
public struct DropoutMask: Sendable {
    public let key: UInt64
    public let threshold: UInt32
    /// 1 / (1 - p): kept elements are scaled so the expectation is unchanged.
    public let scale: Float

    public init(key: UInt64, p: Float) {
        precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1)")
        self.key = key
        self.threshold = UInt32(min(Double(p) * 4_294_967_296.0, 4_294_967_295.0))
        self.scale = 1 / (1 - p)
    }

    /// A sub-stream, e.g. one per (layer, site, sample): masks of different streams are independent.
    @inline(__always)
    public func stream(_ id: UInt64) -> DropoutMask {
        DropoutMask(key: SplitMix64.mix(key ^ (id &* 0xD1B5_4A32_D192_ED03)), threshold: threshold, scale: scale)
    }

    private init(key: UInt64, threshold: UInt32, scale: Float) {
        self.key = key
        self.threshold = threshold
        self.scale = scale
    }

    /// The factor for element i: 0 (dropped) or scale (kept).
    @inline(__always)
    public func factor(_ i: Int) -> Float {
        let h = UInt32(truncatingIfNeeded: SplitMix64.mix(key &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15) >> 32)
        return h >= threshold ? scale : 0
    }
}
