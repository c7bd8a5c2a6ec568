// A public window on the request parser for fuzzing (quill-fuzz) and its regression tests: everything the parser
// makes of a byte stream, as text, with the bytes delivered in the given pieces. The parser must make the same of
// the same bytes however the socket happens to cut them.

public enum ParserProbe {
    /// The events and the error (if any) of parsing `bytes`, fed in pieces whose lengths cycle through `pieces`
    /// (empty: all at once), as one line per event. At most 64 requests are read.
    public static func frame(_ bytes: [UInt8], pieces: [Int] = [], maxHeaderBytes: Int = 1024,
                             maxBodyBytes: Int = 4096) -> [String] {
        var parser = HTTPRequestParser(maxHeaderBytes: maxHeaderBytes, maxBodyBytes: maxBodyBytes)
        var out: [String] = []
        var fed = 0, piece = 0
        func drain() -> Bool {
            while out.count < 64 {
                do {
                    guard let event = try parser.next() else { return true }
                    out.append(String(describing: event))
                } catch {
                    out.append("error: \(error)")
                    return false
                }
            }
            return false
        }
        while fed < bytes.count {
            let n = pieces.isEmpty ? bytes.count : max(1, pieces[piece % pieces.count])
            piece += 1
            let end = min(bytes.count, fed + n)
            parser.append(bytes[fed..<end])
            fed = end
            if !drain() { break }
        }
        if out.last?.hasPrefix("error") != true { out.append("buffered \(parser.bufferedByteCount), inside \(parser.isInsideRequest)") }
        return out
    }
}
