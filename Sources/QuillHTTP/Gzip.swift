// gzip for response bodies (zlib's deflate with a gzip wrapper) and the Accept-Encoding negotiation that decides
// when to use it. Streams are never compressed: each event must reach the client as soon as it is made.
import CZlib

enum Gzip {
    /// The gzip member (RFC 1952) of `bytes`, or nil if zlib fails.
    static func compress(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8]? {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's; memLevel 8 is zlib's default.
        let status = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                                   zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(bytes.count)))
        var output = [UInt8](repeating: 0, count: bound + 32)
        let result: Int32 = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard result == Z_STREAM_END else { return nil }
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }

    /// Whether an `Accept-Encoding` value (RFC 9110 §12.5.3) accepts gzip: `gzip` (or `x-gzip`, or `*` when gzip
    /// is not named) with a q-value above 0. No header means the client did not ask, so nothing is compressed.
    static func isAccepted(by acceptEncoding: String?) -> Bool {
        guard let acceptEncoding else { return false }
        var gzipQ: Double?
        var wildcardQ: Double?
        for element in HTTPRequestParser.listElements(acceptEncoding) {
            let parts = element.split(separator: ";")
            guard let first = parts.first else { continue }
            let coding = first.trimmingWhiteSpace.lowercased()
            var q = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, pair[0].trimmingWhiteSpace.lowercased() == "q" else { continue }
                // A malformed weight is read as 0: the safe side.
                q = Double(pair[1].trimmingWhiteSpace).map { min(max($0, 0), 1) } ?? 0
            }
            switch coding {
            case "gzip", "x-gzip": gzipQ = max(gzipQ ?? 0, q)
            case "*": wildcardQ = q
            default: break
            }
        }
        if let gzipQ { return gzipQ > 0 }
        return (wildcardQ ?? 0) > 0
    }
}
