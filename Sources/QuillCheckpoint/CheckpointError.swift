// Everything that can go wrong reading or writing a checkpoint, each message naming the file, what is wrong
// and what to do. Library code throws these; only executables decide to print and exit.
import QuillModel

/// A checkpoint, training-state or safetensors file that cannot be read, verified or written.
public enum CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file cannot be opened or read (`reason` is strerror, or "is a directory").
    case cannotRead(path: String, reason: String)
    /// The file cannot be written; an existing file at `path` is untouched.
    case cannotWrite(path: String, reason: String)
    /// The bytes are not safetensors at all (empty, absurd header length, header not a JSON object).
    case notSafeTensors(path: String, reason: String)
    /// The file ends before the header says it should (an interrupted copy or write).
    case truncated(path: String, reason: String)
    /// The file is longer than header + tensor data.
    case trailingBytes(path: String, expected: Int, actual: Int)
    /// The JSON header is malformed: bad fields, offsets that overlap, leave gaps or disagree with a shape.
    case invalidHeader(path: String, reason: String)
    /// A tensor is stored in a dtype other than F32.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// The data section's SHA-256 differs from the one recorded in `quill.sha256`.
    case checksumMismatch(path: String, expected: String, actual: String)
    /// The identifying metadata key (`quill.config`, or `quill.state` for a training state) is absent.
    case notQuillCheckpoint(path: String, key: String)
    /// A required metadata key is absent.
    case missingMetadata(path: String, key: String)
    /// A metadata value does not decode or is inconsistent.
    case invalidMetadata(path: String, key: String, reason: String)
    /// The model needs a tensor the file does not hold.
    case missingTensor(path: String, name: String, shape: [Int])
    /// The file holds a tensor the model does not have.
    case unexpectedTensor(path: String, name: String)
    /// A tensor's shape differs from the model's.
    case shapeMismatch(path: String, name: String, found: [Int], expected: [Int])
    /// The model, spec, tokenizer or optimizer handed to a writer (or a reader's caller) do not fit together.
    case modelMismatch(path: String, reason: String)
    /// The spec does not describe a model that can be built.
    case invalidModel(path: String, error: ModelError)
    /// A tensor holds NaN or an infinity: corrupt weights, or a run that diverged.
    case nonFiniteWeights(path: String, tensor: String, index: Int, value: Float)
    /// A model Quill cannot compute as it is (another activation, an untied head, a pickle-only folder, ...).
    case unsupported(path: String, reason: String)

    /// "PATH: what is wrong" plus, where there is one, what to do about it.
    public var description: String {
        switch self {
        case let .cannotRead(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .cannotWrite(path, reason):
            return "\(path): cannot write: \(reason)"
        case let .notSafeTensors(path, reason):
            return "\(path): not a safetensors file (\(reason))"
        case let .truncated(path, reason):
            return "\(path): truncated: \(reason) (interrupted write or copy? copy or write the file again)"
        case let .trailingBytes(path, expected, actual):
            return "\(path): \(actual - expected) unexpected bytes after the tensor data: the header accounts for "
                + "\(expected) bytes, the file has \(actual) (not a file Quill wrote, or two files concatenated?)"
        case let .invalidHeader(path, reason):
            return "\(path): invalid safetensors header: \(reason)"
        case let .unsupportedDType(path, tensor, dtype):
            return "\(path): tensor \(tensor) is \(dtype); Quill reads F32 only "
                + "(convert it first, e.g. in PyTorch with tensor.float() before save_file)"
        case let .checksumMismatch(path, expected, actual):
            return "\(path): SHA-256 of the tensor data does not match quill.sha256 (file corrupted?): "
                + "recorded \(expected), computed \(actual); use another copy of the file"
        case let .notQuillCheckpoint(path, key):
            let what = key == "quill.state" ? "training state (NAME.state.safetensors)" : "checkpoint"
            return "\(path): no \(key): not a Quill \(what); write it with quill-train"
        case let .missingMetadata(path, key):
            return "\(path): no \(key) in __metadata__: the file is incomplete; write it again with quill-train"
        case let .invalidMetadata(path, key, reason):
            return "\(path): invalid \(key): \(reason)"
        case let .missingTensor(path, name, shape):
            return "\(path): tensor \(name) \(shape) is missing: the file does not hold the model its metadata describes"
        case let .unexpectedTensor(path, name):
            return "\(path): unexpected tensor \(name): not part of the model its metadata describes"
        case let .shapeMismatch(path, name, found, expected):
            return "\(path): tensor \(name) has shape \(found) but the model expects \(expected)"
        case let .modelMismatch(path, reason):
            return "\(path): \(reason)"
        case let .invalidModel(path, error):
            return "\(path): the model cannot be built: \(error)"
        case let .nonFiniteWeights(path, tensor, index, value):
            return "\(path): tensor \(tensor) holds \(value) at index \(index): the weights are corrupt or the run "
                + "diverged; use an earlier checkpoint"
        case let .unsupported(path, reason):
            return "\(path): \(reason)"
        }
    }
}
