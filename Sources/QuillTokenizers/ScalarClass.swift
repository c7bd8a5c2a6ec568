// The four classes GPT-2's pre-tokenization pattern sees: letters (\p{L}), numbers (\p{N}), white space (\s) and
// the rest. ASCII and the Basic Multilingual Plane come from tables built once; other planes ask the stdlib.

/// The class of a Unicode scalar as GPT-2's pattern sees it.
enum ScalarClass: UInt8 {
    /// General category L (Lu, Ll, Lt, Lm, Lo): `\p{L}`.
    case letter = 0
    /// General category N (Nd, Nl, No): `\p{N}`.
    case number = 1
    /// The White_Space property: `\s` in the regex engines that tiktoken and Hugging Face use.
    case whitespace = 2
    /// Everything else (punctuation, symbols, marks, controls): `[^\s\p{L}\p{N}]`.
    case other = 3

    // MARK: - Lookup

    /// Classes of the scalars below U+10000, one byte each (64 KiB, built on first use).
    /// nonisolated(unsafe): written once by the lazy initialiser, read-only afterwards.
    nonisolated(unsafe) static let basicPlane: UnsafePointer<UInt8> = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 0x10000)
        for v in 0..<0x10000 {
            // Surrogates have no scalar; they never occur in valid UTF-8, so their class does not matter.
            table[v] = Unicode.Scalar(UInt32(v)).map { computed($0).rawValue } ?? ScalarClass.other.rawValue
        }
        return UnsafePointer(table)
    }()

    /// Classes of the ASCII scalars (128 entries), the hot path of pre-tokenization.
    /// nonisolated(unsafe): written once by the lazy initialiser, read-only afterwards.
    nonisolated(unsafe) static let ascii: UnsafePointer<UInt8> = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 128)
        for v in 0..<128 { table[v] = computed(Unicode.Scalar(UInt8(v))).rawValue }
        return UnsafePointer(table)
    }()

    /// The class of scalar value `value` (a valid scalar).
    @inline(__always)
    static func of(_ value: UInt32) -> ScalarClass {
        if value < 0x10000 { return ScalarClass(rawValue: basicPlane[Int(value)])! }
        return computed(Unicode.Scalar(value)!)
    }

    /// The class from the stdlib's Unicode properties.
    static func computed(_ scalar: Unicode.Scalar) -> ScalarClass {
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }
}
