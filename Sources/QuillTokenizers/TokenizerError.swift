// The errors QuillTokenizers throws, each with a message that says what went wrong and how to fix it.
// Library code only throws these; executables decide what to print and whether to exit.
import Foundation

/// Everything that can go wrong while building, loading or using a tokenizer.
public enum TokenizerError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// A character-level tokenizer met characters outside its vocabulary. `characters` lists the first of them
    /// (at most 10, distinct, escaped as Swift string literals); `count` is how many distinct ones there were.
    case unknownCharacters(characters: [String], count: Int)
    /// A token id outside `0..<vocabularySize`.
    case invalidTokenID(Int, vocabularySize: Int)
    /// A file could not be read.
    case unreadableFile(path: String, reason: String)
    /// A vocabulary (vocab.json, encoder.json or the `vocab` of a JSON form) is not what a tokenizer needs.
    case invalidVocabulary(String)
    /// A merges file (merges.txt, vocab.bpe) or the `merges` of a JSON form has a bad entry.
    case invalidMerge(line: Int, text: String, reason: String)
    /// The JSON form of a tokenizer could not be read.
    case invalidJSON(String)
    /// An argument is outside what the operation supports.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .unknownCharacters(let characters, let count):
            let listed = characters.map { "\"\($0)\"" }.joined(separator: ", ")
            let more = count > characters.count ? " and \(count - characters.count) more" : ""
            return "the text has \(count) character\(count == 1 ? "" : "s") that the character-level vocabulary "
                + "does not contain: \(listed)\(more); remove them, or fit the tokenizer on a corpus that has them"
        case .invalidTokenID(let id, let size):
            return "token id \(id) is outside the vocabulary: ids must be in 0..<\(size)"
        case .unreadableFile(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .invalidVocabulary(let reason):
            return "invalid vocabulary: \(reason)"
        case .invalidMerge(let line, let text, let reason):
            let shown = text.count > 60 ? String(text.prefix(60)) + "…" : text
            return "invalid merge on line \(line) (\"\(shown)\"): \(reason); "
                + "each line after the `#version` header must be two vocabulary pieces separated by one space"
        case .invalidJSON(let reason):
            return "invalid tokenizer JSON: \(reason)"
        case .invalidArgument(let reason):
            return reason
        }
    }

    public var errorDescription: String? { description }
}
