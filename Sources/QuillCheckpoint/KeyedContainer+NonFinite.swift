// Floats that may be NaN or infinite (a diverged run's loss) written as the strings "nan", "inf", "-inf", so that
// the records survive any JSONEncoder, not only ones configured with a non-conforming float strategy.
import Foundation

extension KeyedEncodingContainer {
    /// A finite value as a JSON number; NaN and ±infinity as "nan", "inf", "-inf".
    mutating func encodeAllowingNonFinite(_ value: Float, forKey key: Key) throws {
        if value.isFinite {
            try encode(value, forKey: key)
        } else {
            try encode(value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf"), forKey: key)
        }
    }

    mutating func encodeAllowingNonFiniteIfPresent(_ value: Float?, forKey key: Key) throws {
        if let value { try encodeAllowingNonFinite(value, forKey: key) }
    }
}

extension KeyedDecodingContainer {
    /// A number, or one of the strings "nan", "inf", "-inf".
    func decodeAllowingNonFinite(forKey key: Key) throws -> Float {
        if let value = try? decode(Float.self, forKey: key) { return value }
        let text = try decode(String.self, forKey: key)
        switch text.lowercased() {
        case "nan": return .nan
        case "inf", "+inf", "infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        default:
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "expected a number, \"nan\", \"inf\" or \"-inf\", got \"\(text)\"")
        }
    }

    func decodeAllowingNonFiniteIfPresent(forKey key: Key) throws -> Float? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try decodeAllowingNonFinite(forKey: key)
    }
}
