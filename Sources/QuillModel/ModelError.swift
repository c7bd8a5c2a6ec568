// Errors of the model layer: bad configurations and bad batches. Each message says what was expected.

public enum ModelError: Error, Equatable, CustomStringConvertible, Sendable {
    case invalidConfig(field: String, message: String)
    case invalidBatch(String)
    case tokenOutOfRange(id: Int32, index: Int, vocabSize: Int)
    case targetOutOfRange(id: Int32, index: Int, vocabSize: Int)
    case noForwardPass

    public var description: String {
        switch self {
        case let .invalidConfig(_, message): return "invalid model config: \(message)"
        case let .invalidBatch(message): return "invalid batch: \(message)"
        case let .tokenOutOfRange(id, index, v):
            return "token id \(id) at position \(index) is outside the vocabulary [0, \(v))"
        case let .targetOutOfRange(id, index, v):
            return "target id \(id) at position \(index) is outside the vocabulary [0, \(v)) and is not -1 (ignore)"
        case .noForwardPass: return "backward() needs a forward pass with targets first"
        }
    }
}
