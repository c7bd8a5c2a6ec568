// A trained model on disk: the weights under Hugging Face GPT-2 names (F32 safetensors) with Quill's metadata
// (model spec, tokenizer, training record, SHA-256). Writes atomically and verifies everything on read; the
// safetensors container itself is SafeTensorsFile's, the weights' meaning the model's.
import Foundation
import QuillModel
import QuillTensor
import QuillTokenizers

/// A checkpoint read into memory: what the model is, how to tokenize for it, how it was trained, its weights.
public struct Checkpoint: Sendable {
    /// The model (`quill.config`).
    public var spec: ModelSpec
    /// The tokenizer it was trained with (`quill.tokenizer`); `makeTokenizer()` rebuilds it.
    public var tokenizer: SerializedTokenizer
    /// How the weights came to be (`quill.training`).
    public var training: TrainingRecord
    /// The tensors of `spec` (names, shapes, offsets into `parameters`).
    public var layout: ParameterLayout
    /// All weights, in layout order.
    public var parameters: [Float]
    /// The file it was read from, or "(in memory)"; errors about this checkpoint name it.
    public var path: String

    /// A checkpoint of `spec` holding `parameters` (in `spec.layout` order; the count is checked by write/makeModel).
    public init(spec: ModelSpec, tokenizer: SerializedTokenizer, training: TrainingRecord, parameters: [Float],
                path: String = "(in memory)") {
        self.spec = spec
        self.tokenizer = tokenizer
        self.training = training
        self.layout = spec.layout
        self.parameters = parameters
        self.path = path
    }

    // MARK: - Writing

    /// Writes model.parameters under model.layout's tensor names (F32, layout order), with `__metadata__`
    /// {"format": "pt", "quill.config", "quill.tokenizer", "quill.training", "quill.sha256"}. The parameter block
    /// is streamed to disk without a copy. Atomic: written to ".NAME.tmp-<pid>" in the same directory, fsync'd,
    /// renamed over `url`, the directory fsync'd; on any failure the temporary file is removed and an existing file
    /// at `url` is untouched.
    /// - Throws: `CheckpointError.cannotWrite` (strerror), `.modelMismatch` when the model's layout is not the
    ///   spec's or the tokenizer has more tokens than the model, `.invalidModel` for an invalid spec.
    public static func write(model: any LanguageModel, spec: ModelSpec, tokenizer: SerializedTokenizer,
                             training: TrainingRecord, to url: URL) throws(CheckpointError) {
        try write(model: model, spec: spec, tokenizer: tokenizer, training: training, to: url, failAfterBytes: nil)
    }

    /// `write(model:spec:tokenizer:training:to:)` with a simulated full disk after `failAfterBytes` bytes (tests).
    static func write(model: any LanguageModel, spec: ModelSpec, tokenizer: SerializedTokenizer,
                      training: TrainingRecord, to url: URL, failAfterBytes: Int?) throws(CheckpointError) {
        guard model.layout == spec.layout else {
            throw .modelMismatch(path: url.path, reason: "cannot write: the model's parameters (\(model.layout.count) "
                + "in \(model.layout.tensors.count) tensors) are not those of its spec (\(spec.layout.count) in "
                + "\(spec.layout.tensors.count) tensors); pass the spec the model was built from")
        }
        let parameters = model.parameters
        precondition(parameters.count == model.layout.count, "model.parameters does not match model.layout")
        try write(spec: spec, tokenizer: tokenizer, training: training, to: url, failAfterBytes: failAfterBytes) { sink in
            sink(UnsafeRawBufferPointer(parameters))
        }
    }

    /// Writes this checkpoint (same format and guarantees as `write(model:spec:tokenizer:training:to:)`).
    public func write(to url: URL) throws(CheckpointError) {
        guard layout == spec.layout, parameters.count == layout.count else {
            throw .modelMismatch(path: url.path, reason: "cannot write: \(parameters.count) parameters in "
                + "\(layout.tensors.count) tensors, but the spec needs \(spec.layout.count) in "
                + "\(spec.layout.tensors.count) tensors")
        }
        let parameters = self.parameters
        try Checkpoint.write(spec: spec, tokenizer: tokenizer, training: training, to: url,
                             failAfterBytes: nil) { sink in
            parameters.withUnsafeBytes(sink)
        }
    }

    /// The shared writer: checks spec and tokenizer, encodes the metadata, streams `data` (the parameter block
    /// in spec.layout order).
    private static func write(spec: ModelSpec, tokenizer: SerializedTokenizer, training: TrainingRecord, to url: URL,
                              failAfterBytes: Int?,
                              data: ((UnsafeRawBufferPointer) -> Void) -> Void) throws(CheckpointError) {
        let path = url.path
        do { try spec.validate() } catch { throw .invalidModel(path: path, error: error) }
        guard tokenizer.vocab.count <= spec.vocabSize else {
            throw .modelMismatch(path: path, reason: "cannot write: the tokenizer has \(tokenizer.vocab.count) "
                                 + "tokens but the model's vocab_size is \(spec.vocabSize)")
        }
        func json<T: Encodable>(_ value: T, _ key: String) throws(CheckpointError) -> String {
            switch CheckpointJSON.encode(value) {
            case let .success(text): return text
            case let .failure(f): throw .cannotWrite(path: path, reason: "cannot encode \(key): \(f.reason)")
            }
        }
        let metadata = [
            MetadataKey.format: MetadataKey.formatValue,
            MetadataKey.config: try json(spec, MetadataKey.config),
            MetadataKey.tokenizer: try json(tokenizer, MetadataKey.tokenizer),
            MetadataKey.training: try json(training, MetadataKey.training),
        ]
        let tensors = spec.layout.tensors.map { ($0.name, $0.shape) }
        try SafeTensorsFile.write(tensors, metadata: metadata, to: url, failAfterBytes: failAfterBytes, data: data)
    }

    // MARK: - Reading

    /// Reads and verifies a checkpoint: the safetensors structure (header bounds, F32 only, offsets contiguous and
    /// within the file, exact size), the SHA-256 against `quill.sha256`, `quill.config` present and valid,
    /// `quill.tokenizer` and `quill.training` decodable, and every tensor of the spec's layout present with the
    /// right shape and no others.
    /// - Throws: `CheckpointError` naming the file and the first problem found.
    public static func read(from url: URL) throws(CheckpointError) -> Checkpoint {
        let (file, configText) = try SafeTensorsFile.readQuill(url, key: MetadataKey.config)
        let (spec, tokenizer, training) = try readMetadata(file.metadata, configText: configText, path: file.path)
        let parameters = try gather(file, into: spec.layout)
        for t in spec.layout.tensors {
            try parameters.withUnsafeBufferPointer { p throws(CheckpointError) in
                try checkFinite(UnsafeBufferPointer(rebasing: p[t.offset..<(t.offset + t.count)]), name: t.name,
                                path: file.path)
            }
        }
        return Checkpoint(spec: spec, tokenizer: tokenizer, training: training, parameters: parameters,
                          path: file.path)
    }

    /// Refuses a tensor that holds NaN or an infinity, naming it (`name` as the file stores it).
    static func checkFinite(_ values: UnsafeBufferPointer<Float>, name: String, path: String) throws(CheckpointError) {
        if let i = firstNonFinite(values) {
            throw .nonFiniteWeights(path: path, tensor: name, index: i, value: values[i])
        }
    }

    /// A checkpoint from `path`: a Quill checkpoint file (`read(from:)`) or a Hugging Face GPT-2 folder
    /// (`MappedModel`), its weights copied into memory (for training, evaluation and export).
    public static func load(path: String) throws(CheckpointError) -> Checkpoint {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return try MappedModel.open(path: path).checkpoint()
        }
        return try read(from: URL(fileURLWithPath: path))
    }

    /// The model, tokenizer and training record of a Quill file's metadata, each checked.
    static func readMetadata(_ metadata: [String: String], configText: String, path: String) throws(CheckpointError)
        -> (ModelSpec, SerializedTokenizer, TrainingRecord) {
        let spec = try decodeMetadata(ModelSpec.self, configText, key: MetadataKey.config, path: path)
        do { try spec.validate() } catch { throw .invalidModel(path: path, error: error) }
        guard let tokenizerText = metadata[MetadataKey.tokenizer] else {
            throw .missingMetadata(path: path, key: MetadataKey.tokenizer)
        }
        let tokenizer = try decodeMetadata(SerializedTokenizer.self, tokenizerText, key: MetadataKey.tokenizer,
                                           path: path)
        guard tokenizer.vocab.count <= spec.vocabSize else {
            throw .invalidMetadata(path: path, key: MetadataKey.tokenizer, reason: "the tokenizer has "
                + "\(tokenizer.vocab.count) tokens but the model's vocab_size is \(spec.vocabSize)")
        }
        guard let trainingText = metadata[MetadataKey.training] else {
            throw .missingMetadata(path: path, key: MetadataKey.training)
        }
        let training = try decodeMetadata(TrainingRecord.self, trainingText, key: MetadataKey.training, path: path)
        return (spec, tokenizer, training)
    }

    /// Every tensor of `layout` present with its shape, and no others.
    static func checkTensors(_ found: [(name: String, shape: [Int])], layout: ParameterLayout,
                             path: String) throws(CheckpointError) {
        var byName: [String: [Int]] = [:]
        for e in found { byName[e.name] = e.shape }
        for t in layout.tensors {
            guard let shape = byName[t.name] else { throw .missingTensor(path: path, name: t.name, shape: t.shape) }
            guard shape == t.shape else {
                throw .shapeMismatch(path: path, name: t.name, found: shape, expected: t.shape)
            }
        }
        for e in found where layout[e.name] == nil {
            throw .unexpectedTensor(path: path, name: e.name)
        }
    }

    /// The file's tensors arranged in `layout` order, after checking names and shapes. A file written in layout
    /// order (every file Quill writes) is already the parameter block and is returned without a copy.
    static func gather(_ file: SafeTensorsFile.Contents, into layout: ParameterLayout) throws(CheckpointError) -> [Float] {
        try checkTensors(file.entries.map { ($0.name, $0.shape) }, layout: layout, path: file.path)
        var byName: [String: SafeTensorsFile.Entry] = [:]
        for e in file.entries { byName[e.name] = e }
        if file.entries.map(\.name) == layout.tensors.map(\.name) { return file.data }
        var parameters = [Float](repeating: 0, count: layout.count)
        for t in layout.tensors {
            let e = byName[t.name]!
            parameters.replaceSubrange(t.offset..<(t.offset + t.count), with: file.data[e.offset..<(e.offset + e.count)])
        }
        return parameters
    }

    static func decodeMetadata<T: Decodable>(_ type: T.Type, _ text: String, key: String,
                                             path: String) throws(CheckpointError) -> T {
        switch CheckpointJSON.decode(type, from: text) {
        case let .success(value): return value
        case let .failure(f): throw .invalidMetadata(path: path, key: key, reason: f.reason)
        }
    }

    // MARK: - Building the model

    /// A model of `spec` with these parameters copied in (isTraining left true). The seed only matters for what
    /// the weights do not fix: a GPT's dropout masks (`GPT.dropoutSeed` is derived from it).
    /// - Throws: `.invalidModel` when the spec cannot be built, `.modelMismatch` when the parameters do not fit it.
    public func makeModel(seed: UInt64 = 0, workers: Int = Parallel.defaultWorkers) throws(CheckpointError)
        -> any LanguageModel {
        let model: any LanguageModel
        do { model = try spec.makeModel(seed: seed, workers: workers) } catch { throw .invalidModel(path: path, error: error) }
        guard model.layout == layout, parameters.count == layout.count else {
            throw .modelMismatch(path: path, reason: "\(parameters.count) parameters in \(layout.tensors.count) "
                + "tensors do not fit the model of quill.config (\(model.layout.count) in "
                + "\(model.layout.tensors.count) tensors)")
        }
        let destination = model.parameters
        parameters.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress else { return }
            destination.baseAddress!.update(from: base, count: source.count)
        }
        return model
    }
}

// MARK: - Cropping the context

extension Checkpoint {
    /// The same model with a shorter context (nanoGPT's crop_block_size): block_size lowered to `T` and the learned
    /// position table cut to its first T rows. Unchanged when T is the current block size.
    /// - Throws: `.modelMismatch` when T is not in 1...block_size.
    public func cropped(toBlockSize T: Int) throws(CheckpointError) -> Checkpoint {
        guard T >= 1 && T <= spec.blockSize else {
            throw .modelMismatch(path: path, reason: "cannot crop the context of \(spec.blockSize) to \(T)")
        }
        guard T < spec.blockSize else { return self }
        let newSpec: ModelSpec
        switch spec {
        case .gpt(var g):
            g.blockSize = T
            newSpec = .gpt(g)
        case .bigram(let v, _):
            newSpec = .bigram(vocabSize: v, blockSize: T)
        }
        let newLayout = newSpec.layout
        var out = [Float](repeating: 0, count: newLayout.count)
        for t in newLayout.tensors {
            guard let old = layout[t.name] else { continue }
            // Every tensor keeps its values; wpe keeps its first T rows (the new count).
            out.replaceSubrange(t.offset..<(t.offset + t.count), with: parameters[old.offset..<(old.offset + t.count)])
        }
        return Checkpoint(spec: newSpec, tokenizer: tokenizer, training: training, parameters: out, path: path)
    }
}
