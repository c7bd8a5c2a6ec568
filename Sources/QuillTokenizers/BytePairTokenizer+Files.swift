// Loading GPT-2's vocabulary files: Hugging Face's vocab.json + merges.txt, or OpenAI's encoder.json + vocab.bpe
// (the same two formats under other names). Writing them back is not needed: checkpoints carry the JSON form.
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
