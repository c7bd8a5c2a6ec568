// `quill-bench tokenize`: encode a file with a BPE vocabulary and print one JSON line of figures, for
// scripts/compare_tiktoken.py to set beside tiktoken. The tokenizers themselves live in QuillTokenizers.
import ArgumentParser
import Foundation
import QuillTokenizers

struct TokenizeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode a text file with byte-level BPE; prints bytes, tokens, seconds and MB/s as one JSON line.",
        discussion: """
            The time is the best of --repeat encodes of the whole file, each with a fresh word cache, on one \
            thread (the like-for-like of tiktoken's encode_ordinary). MB/s counts 10^6 bytes of UTF-8.
            """)

    @Option(help: "Directory with vocab.json + merges.txt (Hugging Face) or encoder.json + vocab.bpe (OpenAI).")
    var vocab = dataFolder + "/gpt2"

    @Option(help: "UTF-8 text file to encode.")
    var data = dataFolder + "/tinyshakespeare.txt"

    @Option(help: "Fit a vocabulary of this many tokens on --data (timed) instead of loading --vocab.")
    var fit: Int?

    @Option(name: .customLong("repeat"), help: "Timed encodes of the file; the fastest is reported.")
    var repeats = 5

    @Option(help: """
        Encode the file in pieces of about this many bytes (cut after a newline), one call each with a cold \
        word cache, as a server sees prompts; 0 encodes it whole.
        """)
    var chunk = 0

    @Flag(help: "Time encodeWithOffsets (ids and spans) instead of encode (ids only).")
    var offsets = false

    @Option(help: "Write the token ids to this file, one per line (for comparing with another tokenizer).")
    var idsOut: String?

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeat must be at least 1, got \(repeats)") }
        guard chunk >= 0 else { throw ValidationError("--chunk must be 0 (whole file) or a byte count, got \(chunk)") }
        if let fit, fit < 257 {
            throw ValidationError("--fit must be at least 257 (256 bytes and <|endoftext|>), got \(fit)")
        }
    }

    func run() throws {
        let text: String
        do {
            text = try String(contentsOfFile: data, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read --data \(data) as UTF-8 text: \(error.localizedDescription)")
        }
        let clock = ContinuousClock()
        var figures: [String: Any] = ["bench": "tokenize", "data": data, "repeat": repeats, "offsets": offsets,
                                      "chunk": chunk]

        let tokenizer: BytePairTokenizer
        let loadStart = clock.now
        if let fit {
            tokenizer = try BytePairTokenizer.fit(corpus: text, vocabularySize: fit)
            figures["fit_seconds"] = seconds(clock.now - loadStart)
            figures["vocab"] = "fit:\(fit)"
        } else {
            tokenizer = try BytePairTokenizer(directory: URL(fileURLWithPath: vocab))
            figures["load_seconds"] = seconds(clock.now - loadStart)
            figures["vocab"] = vocab
        }
        figures["vocab_size"] = tokenizer.vocabularySize

        let pieces = chunk > 0 ? Self.split(text, every: chunk) : [text]
        var best = Double.infinity
        var ids: [Int] = []
        for _ in 0..<repeats {
            ids.removeAll(keepingCapacity: true)
            let start = clock.now
            for piece in pieces {
                ids += offsets ? tokenizer.encodeWithOffsets(piece).ids : tokenizer.encode(piece)
            }
            best = min(best, seconds(clock.now - start))
        }
        if chunk > 0 { figures["calls"] = pieces.count }
        let bytes = text.utf8.count
        figures["bytes"] = bytes
        figures["tokens"] = ids.count
        figures["seconds"] = best
        figures["mb_per_s"] = Double(bytes) / best / 1e6

        if let idsOut {
            let lines = ids.map(String.init).joined(separator: "\n") + "\n"
            do {
                try lines.write(toFile: idsOut, atomically: true, encoding: .utf8)
            } catch {
                throw ValidationError("cannot write --ids-out \(idsOut): \(error.localizedDescription)")
            }
        }
        printJSON(figures)
    }

    /// `text` cut into pieces of at least `size` bytes, each ending after a newline (the last one excepted).
    private static func split(_ text: String, every size: Int) -> [String] {
        let bytes = Array(text.utf8)
        var pieces: [String] = []
        var start = 0
        while start < bytes.count {
            var end = min(start + size, bytes.count)
            while end < bytes.count && bytes[end - 1] != UInt8(ascii: "\n") { end += 1 }
            pieces.append(String(decoding: bytes[start..<end], as: UTF8.self))
            start = end
        }
        return pieces
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
}

/// $QUILL_DATA, else data/ (what `make data` fetches).
let dataFolder = ProcessInfo.processInfo.environment["QUILL_DATA"].flatMap { $0.isEmpty ? nil : $0 } ?? "data"
