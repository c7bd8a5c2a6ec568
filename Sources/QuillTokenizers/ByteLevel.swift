// GPT-2's reversible map between the 256 byte values and 256 printable Unicode scalars (`bytes_to_unicode`).
// Byte-level BPE pieces are written with these scalars, so a space byte shows as "Ġ" and a newline as "Ċ".

/// GPT-2's byte ↔ scalar map: printable Latin-1 bytes map to themselves, the other 68 to U+0100 onwards.
public enum ByteLevel {
    // MARK: - Tables

    /// The scalar that stands for each byte value, indexed by byte.
    public static let scalarForByte: [Unicode.Scalar] = {
        var printable = [Bool](repeating: false, count: 256)
        for b in 0x21...0x7E { printable[b] = true }   // "!" … "~"
        for b in 0xA1...0xAC { printable[b] = true }   // "¡" … "¬"
        for b in 0xAE...0xFF { printable[b] = true }   // "®" … "ÿ"
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if printable[b] {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte for each scalar value below 324 (the largest one used is U+0143), or -1 where none.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (byte, scalar) in scalarForByte.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    /// GPT-2's order of the byte values: the printable ones first, then the rest. GPT-2's ids 0…255 are the
    /// single-byte tokens in this order.
    public static let gpt2ByteOrder: [UInt8] = {
        let printable = (0..<256).filter { scalarForByte[$0].value == UInt32($0) }
        let others = (0..<256).filter { scalarForByte[$0].value != UInt32($0) }
        return (printable + others).map { UInt8($0) }
    }()

    // MARK: - Conversions

    /// The byte-level piece that writes `bytes`.
    public static func piece<Bytes: Sequence<UInt8>>(for bytes: Bytes) -> String {
        var scalars = String.UnicodeScalarView()
        for b in bytes { scalars.append(scalarForByte[Int(b)]) }
        return String(scalars)
    }

    /// The bytes that a byte-level piece writes, or nil when it has a scalar outside the map.
    public static func bytes(for piece: some StringProtocol) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(piece.utf8.count)
        for scalar in piece.unicodeScalars {
            let v = Int(scalar.value)
            guard v < byteForScalar.count, byteForScalar[v] >= 0 else { return nil }
            out.append(UInt8(byteForScalar[v]))
        }
        return out
    }
}
