// The `__metadata__` keys Quill writes, in one place so the writers and readers cannot drift apart.

enum MetadataKey {
    /// "pt": tells Hugging Face tools the tensors follow PyTorch conventions.
    static let format = "format"
    static let formatValue = "pt"
    /// ModelSpec JSON.
    static let config = "quill.config"
    /// SerializedTokenizer JSON.
    static let tokenizer = "quill.tokenizer"
    /// TrainingRecord JSON.
    static let training = "quill.training"
    /// A training state's step, RNGs and the trainer's opaque JSON.
    static let state = "quill.state"
    /// Hex SHA-256 of the data section (added by SafeTensorsFile.write).
    static let sha256 = SafeTensorsFile.checksumKey
}
