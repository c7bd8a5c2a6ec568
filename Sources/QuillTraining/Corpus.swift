// Training text: read a file (plain or .gz), check it is UTF-8, cut it into documents by format, tokenize it,
// and split the token stream into training and validation parts.
import CZlib
import Foundation
import QuillTokenizers

/// How a data file is read: one stream of text (as the notebooks), one document per non-empty line, or one
/// JSON object with a "text" field per line. Documents are each followed by end-of-text, so the model learns to stop.
public enum DataFormat: String, Sendable, CaseIterable {
    case text, lines, jsonl
}

public struct Corpus: Sendable {
    public let path: String
    /// The file's bytes after decompression.
    public let bytes: [UInt8]
    public let text: String
    public let format: DataFormat
    /// The documents (one for `text`).
    public let documents: [String]

    /// Reads and checks a data file: missing, empty, unreadable gzip or invalid UTF-8 are errors naming it.
    public init(path: String, format: DataFormat) throws(TrainingError) {
        self.path = path
        self.format = format
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw .data(path: path, reason: "no such file")
        }
        guard !isDir.boolValue else { throw .data(path: path, reason: "is a directory, expected a text file") }
        let raw: [UInt8]
        if path.hasSuffix(".gz") {
            raw = try Corpus.readGzip(path)
        } else {
            guard let d = FileManager.default.contents(atPath: path) else {
                throw .data(path: path, reason: "cannot read the file (permissions?)")
            }
            raw = [UInt8](d)
        }
        guard !raw.isEmpty else { throw .data(path: path, reason: "the file is empty") }
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw .data(path: path, reason: "not valid UTF-8 (first bad byte at offset \(firstInvalidUTF8(raw)))")
        }
        self.bytes = raw
        self.text = text
        switch format {
        case .text:
            documents = [text]
        case .lines:
            documents = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        case .jsonl:
            var docs: [String] = []
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let l = line.trimmingCharacters(in: .whitespacesAndNewlines)
                if l.isEmpty { continue }
                guard let t = jsonlText(l) else {
                    throw .data(path: path, reason: "line \(n + 1): expected a JSON object with a string field \"text\"")
                }
                docs.append(t)
            }
            documents = docs
        }
        guard !documents.isEmpty else { throw .data(path: path, reason: "no documents found (format \(format.rawValue))") }
    }

    private static func readGzip(_ path: String) throws(TrainingError) -> [UInt8] {
        guard let f = gzopen(path, "rb") else { throw .data(path: path, reason: "cannot open the gzip file") }
        defer { gzclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(f, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { throw .data(path: path, reason: "corrupt gzip data") }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<Int(n)])
        }
        return out
    }

    // MARK: - Tokenizer and token stream

    /// Builds the tokenizer a config asks for (fitting char or BPE vocabularies on this corpus).
    /// Formats other than text need an end-of-text token, which every tokenizer built here has.
    public func makeTokenizer(_ spec: TokenizerSpec) throws(TrainingError) -> any Tokenizer {
        do {
            switch spec.kind {
            case "char":
                return CharTokenizer(corpus: documents.joined(), endOfText: format != .text)
            case "bpe":
                return try BytePairTokenizer.fit(corpus: text, vocabularySize: spec.vocabSize ?? 1024, endOfText: true)
            default:
                return try BytePairTokenizer(directory: URL(fileURLWithPath: spec.path ?? "."))
            }
        } catch {
            throw .tokenizer("\(error)")
        }
    }

    /// The corpus as token ids: documents joined (text) or each followed by end-of-text (lines, jsonl).
    public func tokens(with tokenizer: any Tokenizer) throws(TrainingError) -> [Int32] {
        let eot = tokenizer.specialTokens[SpecialTokens.endOfText]
        if format != .text && eot == nil {
            throw .tokenizer("format \(format.rawValue) needs an end-of-text token, and this tokenizer has none")
        }
        var out: [Int32] = []
        out.reserveCapacity(bytes.count)
        do {
            for d in documents {
                for id in try tokenizer.encode(d) { out.append(Int32(id)) }
                if format != .text, let eot { out.append(Int32(eot)) }
            }
        } catch {
            throw .data(path: path, reason: "\(error)")
        }
        return out
    }
}

/// Train and validation token streams: in memory, the first (1 - valFraction) of the tokens, then the rest; from
/// shards, the manifest's train and val shards (split by whole documents when they were prepared).
public struct TokenSplit: Sendable {
    public let train: TokenStream
    public let val: TokenStream

    public init(tokens: [Int32], valFraction: Double, blockSize: Int, path: String) throws(TrainingError) {
        let n = Int(Double(tokens.count) * (1 - valFraction))
        try self.init(train: TokenStream(Array(tokens[..<n])), val: TokenStream(Array(tokens[n...])),
                      blockSize: blockSize, path: path)
    }

    public init(train: TokenStream, val: TokenStream, blockSize: Int, path: String) throws(TrainingError) {
        self.train = train
        self.val = val
        guard train.longestPart >= blockSize + 1 && val.longestPart >= blockSize + 1 else {
            throw .data(path: path, reason: "too short: \(train.count + val.count) tokens give \(train.count) for training and \(val.count) for validation, each needs block_size + 1 = \(blockSize + 1) in one piece; use a longer file or a smaller block_size")
        }
    }
}

/// The offset of the first byte that is not part of valid UTF-8 (for error messages).
func firstInvalidUTF8(_ bytes: [UInt8]) -> Int {
    var valid = 0
    var it = bytes.makeIterator()
    var decoder = UTF8()
    loop: while true {
        switch decoder.decode(&it) {
        case .scalarValue(let s): valid += UTF8.width(s)
        case .emptyInput, .error: break loop
        }
    }
    return valid
}

/// One line of a jsonl corpus: an object whose string field "text" is the document (other fields are ignored).
private struct JSONLDocument: Decodable { let text: String }

/// The document of one jsonl line, or nil when the line is not an object with a string "text".
func jsonlText(_ line: String) -> String? {
    try? JSONDecoder().decode(JSONLDocument.self, from: Data(line.utf8)).text
}
