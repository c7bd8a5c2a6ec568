// Stop strings over streamed text: generation ends before the first occurrence of any stop string, even one
// split across tokens, and text that might be the start of a stop string is held back until it is decided, so
// nothing past a stop string is ever emitted.

public struct StopStringMatcher: Sendable {
    public let stops: [String]
    private var held = ""
    public private(set) var stopped = false

    /// Empty stop strings are ignored.
    public init(stops: [String]) {
        self.stops = stops.filter { !$0.isEmpty }
    }

    /// Takes the next piece of decoded text; returns the text that is safe to emit now. After a stop string is
    /// found, returns the text before it and reports `stopped`; later calls return "".
    public mutating func feed(_ text: String) -> String {
        guard !stopped else { return "" }
        held += text
        guard !stops.isEmpty else { defer { held = "" }; return held }
        // The earliest complete occurrence of any stop string ends the text.
        var cut: String.Index? = nil
        for s in stops {
            if let r = held.range(of: s), cut.map({ r.lowerBound < $0 }) ?? true { cut = r.lowerBound }
        }
        if let cut {
            stopped = true
            let out = String(held[..<cut])
            held = ""
            return out
        }
        // Hold back the longest tail that is a proper prefix of some stop string.
        var keep = 0
        for s in stops {
            let maxLen = min(s.count - 1, held.count)
            if maxLen <= keep { continue }
            for n in stride(from: maxLen, to: keep, by: -1) where held.hasSuffix(String(s.prefix(n))) {
                keep = n
                break
            }
        }
        let emitEnd = held.index(held.endIndex, offsetBy: -keep)
        let out = String(held[..<emitEnd])
        held = String(held[emitEnd...])
        return out
    }

    /// At the end of generation (no stop string found): the text still held back.
    public mutating func finish() -> String {
        defer { held = "" }
        return stopped ? "" : held
    }
}
