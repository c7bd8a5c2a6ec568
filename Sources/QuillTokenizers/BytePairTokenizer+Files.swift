// GPT-2's vocabulary files: Hugging Face's vocab.json + merges.txt, OpenAI's encoder.json + vocab.bpe (the same two
// formats under other names), or Hugging Face's one-file tokenizer.json; and writing vocab.json + merges.txt back
// (for an exported model).
import Foundation

extension BytePairTokenizer {
    // MARK: - Loading files

    /// The tokenizer in `directory`: `vocab.json` + `merges.txt` (Hugging Face) or, failing those,
    /// `encoder.json` + `vocab.bpe` (OpenAI's GPT-2 release).
    /// - Throws: `TokenizerError.unreadableFile` when neither pair is there, or the errors of
    ///   `init(vocabularyFile:mergesFile:)`.
    public init(directory: URL) throws {
        let manager = FileManager.default
        for (vocabulary, merges) in [("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")] {
            let vocabularyFile = directory.appendingPathComponent(vocabulary)
            let mergesFile = directory.appendingPathComponent(merges)
            if manager.fileExists(atPath: vocabularyFile.path) && manager.fileExists(atPath: mergesFile.path) {
                try self.init(vocabularyFile: vocabularyFile, mergesFile: mergesFile)
                return
            }
        }
        throw TokenizerError.unreadableFile(
            path: directory.path,
            reason: "expected vocab.json and merges.txt (Hugging Face) or encoder.json and vocab.bpe (OpenAI) there")
    }

    /// The tokenizer of a vocabulary file (JSON object piece → id) and a merges file (`#version` line, then one
    /// merge per line). The entry `<|endoftext|>`, when present, becomes the end-of-text special token.
    public init(vocabularyFile: URL, mergesFile: URL) throws {
        let vocabulary = try Self.read(vocabularyFile)
        let merges = try Self.read(mergesFile)
        do {
            try self.init(vocabularyJSON: vocabulary, merges: String(decoding: merges, as: UTF8.self))
        } catch TokenizerError.invalidVocabulary(let reason) {
            throw TokenizerError.invalidVocabulary("\(vocabularyFile.path): \(reason)")
        }
    }

    /// The tokenizer of a vocabulary file's contents and a merges file's text.
    public init(vocabularyJSON: Data, merges: String) throws {
        let idOfPiece: [String: Int]
        do {
            idOfPiece = try JSONDecoder().decode([String: Int].self, from: vocabularyJSON)
        } catch {
            throw TokenizerError.invalidVocabulary("expected a JSON object of piece → id (\(error))")
        }
        try self.init(idOfPiece: idOfPiece, merges: merges)
    }

    /// The tokenizer of Hugging Face's tokenizer.json for a byte-level BPE model (GPT-2's): `model.vocab`,
    /// `model.merges` (as "a b" strings or ["a", "b"] pairs) and `added_tokens`.
    /// - Throws: `TokenizerError.invalidJSON` when it is not a byte-level BPE tokenizer.json, or the builder's errors.
    public init(huggingFaceJSON data: Data) throws {
        struct File: Decodable {
            struct Model: Decodable {
                var type: String?
                var vocab: [String: Int]
                var merges: [Merge]
            }
            struct Added: Decodable {
                var id: Int
                var content: String
            }
            struct Step: Decodable { var type: String? }
            var model: Model
            var added_tokens: [Added]?
            var pre_tokenizer: Step?
        }
        enum Merge: Decodable {
            case text(String), pair([String])
            init(from decoder: any Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let s = try? c.decode(String.self) { self = .text(s) } else { self = .pair(try c.decode([String].self)) }
            }
            var line: String {
                switch self {
                case .text(let s): return s
                case .pair(let p): return p.joined(separator: " ")
                }
            }
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw TokenizerError.invalidJSON("tokenizer.json: expected a BPE model with vocab and merges (\(error))")
        }
        guard file.model.type == nil || file.model.type == "BPE" else {
            throw TokenizerError.invalidJSON("tokenizer.json: model type \(file.model.type!) is not BPE")
        }
        if let pre = file.pre_tokenizer?.type, pre != "ByteLevel" {
            throw TokenizerError.invalidJSON("tokenizer.json: pre_tokenizer \(pre) is not GPT-2's ByteLevel")
        }
        var idOfPiece = file.model.vocab
        for added in file.added_tokens ?? [] {
            if let id = idOfPiece[added.content], id != added.id {
                throw TokenizerError.invalidVocabulary("tokenizer.json: added token \(added.content.debugDescription) "
                    + "has id \(added.id) but the vocabulary gives it \(id)")
            }
            idOfPiece[added.content] = added.id
        }
        try self.init(idOfPiece: idOfPiece, merges: file.model.merges.map(\.line).joined(separator: "\n"))
    }

    /// vocab.json's contents: every piece with its id, keys sorted.
    public func vocabularyJSON() -> Data {
        var ids: [String: Int] = [:]
        for (id, piece) in tables.pieces.enumerated() { ids[piece] = id }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(ids)) ?? Data("{}".utf8)
    }

    /// merges.txt's text: the version line, then one merge per line in rank order.
    public func mergesText() -> String {
        "#version: 0.2\n" + serialized.merges!.map { $0 + "\n" }.joined()
    }

    /// The tokenizer of a piece → id map and a merges text (one "a b" per line, an optional `#version` line first).
    init(idOfPiece: [String: Int], merges: String) throws {
        var vocabulary = [String?](repeating: nil, count: idOfPiece.count)
        for (piece, id) in idOfPiece {
            guard id >= 0 && id < vocabulary.count else {
                throw TokenizerError.invalidVocabulary(
                    "id \(id) of \(piece.debugDescription) is outside 0..<\(vocabulary.count); "
                        + "ids must be 0, 1, 2, … without gaps")
            }
            guard vocabulary[id] == nil else {
                throw TokenizerError.invalidVocabulary("id \(id) is given to two pieces")
            }
            vocabulary[id] = piece
        }
        var specialTokens: [String: Int] = [:]
        if let id = idOfPiece[SpecialTokens.endOfText] { specialTokens[SpecialTokens.endOfText] = id }

        var mergeLines: [(line: Int, text: Substring)] = []
        mergeLines.reserveCapacity(idOfPiece.count)
        for (index, rawLine) in merges.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.isEmpty || (index == 0 && line.hasPrefix("#version")) { continue }
            mergeLines.append((index + 1, line))
        }
        try self.init(vocabulary: vocabulary.map { $0! }, mergeLines: mergeLines, specialTokens: specialTokens)
    }

    private static func read(_ file: URL) throws -> Data {
        do {
            return try Data(contentsOf: file)
        } catch {
            throw TokenizerError.unreadableFile(path: file.path, reason: error.localizedDescription)
        }
    }
}
