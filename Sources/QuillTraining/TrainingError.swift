// Errors of the training module. Each message is one line that names the file, key or value at fault and says
// what was expected; quill-train prints it and exits non-zero.

public enum TrainingError: Error, CustomStringConvertible, Sendable, Equatable {
    case config(String)
    case data(path: String, reason: String)
    case output(path: String, reason: String)
    case tokenizer(String)
    case model(String)

    public var description: String {
        switch self {
        case let .config(m): return "config: \(m)"
        case let .data(path, reason): return "\(path): \(reason)"
        case let .output(path, reason): return "\(path): \(reason)"
        case let .tokenizer(m): return "tokenizer: \(m)"
        case let .model(m): return "model: \(m)"
        }
    }
}
