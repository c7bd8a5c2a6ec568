// What resuming a run needs beyond the weights: AdamW's moments and step, the named RNG states, and the trainer's
// own JSON, in NAME.state.safetensors. Same container, atomic write and verification as checkpoints.
import Foundation
import QuillModel

/// The optimizer and RNG state of a run, stored beside its checkpoint as NAME.state.safetensors: tensors
/// "adam.m" and "adam.v" (1-D, one value per parameter) and `__metadata__`
/// {"format": "pt", "quill.state": {"step": N, "rng": {name: "decimal UInt64"}, "extra": "…"}, "quill.sha256"}.
/// RNG states are decimal strings because JSON numbers lose precision beyond 2^53.
public struct TrainingState: Sendable {
    /// AdamW's step count (its bias corrections depend on it).
    public var optimizerStep: Int
    /// First moments, in the model's layout order.
    public var adamM: [Float]
    /// Second moments, in the model's layout order.
    public var adamV: [Float]
    /// Named generator states (data sampler, dropout pass counter, …).
    public var rngs: [String: UInt64]
    /// Opaque JSON owned by the trainer (e.g. its TrainingRecord so far).
    public var extra: String

    /// A state from its parts (moments in the model's layout order).
    public init(optimizerStep: Int, adamM: [Float], adamV: [Float], rngs: [String: UInt64], extra: String) {
        self.optimizerStep = optimizerStep
        self.adamM = adamM
        self.adamV = adamV
        self.rngs = rngs
        self.extra = extra
    }

    static let momentNames = (m: "adam.m", v: "adam.v")

    // MARK: - Writing

    /// Writes the optimizer's moments (streamed from its buffers, not copied) and step with `rngs` and `extra`,
    /// atomically as `Checkpoint.write` does.
    /// - Throws: `CheckpointError.cannotWrite` (strerror).
    public static func write(optimizer: AdamW, rngs: [String: UInt64], extra: String,
                             to url: URL) throws(CheckpointError) {
        let m = optimizer.m, v = optimizer.v
        try write(step: optimizer.step, count: optimizer.layout.count, rngs: rngs, extra: extra, to: url,
                  failAfterBytes: nil) { sink in
            sink(UnsafeRawBufferPointer(m))
            sink(UnsafeRawBufferPointer(v))
        }
    }

    /// Writes this state (same format and guarantees as `write(optimizer:rngs:extra:to:)`).
    public func write(to url: URL) throws(CheckpointError) {
        guard adamM.count == adamV.count else {
            throw .modelMismatch(path: url.path, reason: "cannot write: adam.m has \(adamM.count) values, adam.v "
                                 + "\(adamV.count); both must have one per parameter")
        }
        let m = adamM, v = adamV
        try TrainingState.write(step: optimizerStep, count: m.count, rngs: rngs, extra: extra, to: url,
                                failAfterBytes: nil) { sink in
            m.withUnsafeBytes(sink)
            v.withUnsafeBytes(sink)
        }
    }

    static func write(step: Int, count: Int, rngs: [String: UInt64], extra: String, to url: URL,
                      failAfterBytes: Int?,
                      data: ((UnsafeRawBufferPointer) -> Void) -> Void) throws(CheckpointError) {
        let state = StateJSON(step: step, rng: rngs.mapValues { String($0) }, extra: extra)
        let text: String
        switch CheckpointJSON.encode(state) {
        case let .success(t): text = t
        case let .failure(f): throw .cannotWrite(path: url.path, reason: "cannot encode quill.state: \(f.reason)")
        }
        let metadata = [MetadataKey.format: MetadataKey.formatValue, MetadataKey.state: text]
        try SafeTensorsFile.write([(momentNames.m, [count]), (momentNames.v, [count])], metadata: metadata,
                                  to: url, failAfterBytes: failAfterBytes, data: data)
    }

    // MARK: - Reading

    /// Reads and verifies a state file (structure, SHA-256, `quill.state`), whose moments must have
    /// `expectedCount` values each (the model's parameter count).
    /// - Throws: `CheckpointError` naming the file and the first problem found; `.shapeMismatch` when the state
    ///   belongs to a model of another size.
    public static func read(from url: URL, expectedCount: Int) throws(CheckpointError) -> TrainingState {
        let (file, stateText) = try SafeTensorsFile.readQuill(url, key: MetadataKey.state)
        let path = file.path
        let state = try Checkpoint.decodeMetadata(StateJSON.self, stateText, key: MetadataKey.state, path: path)
        guard state.step >= 0 else {
            throw .invalidMetadata(path: path, key: MetadataKey.state, reason: "step must be >= 0, got \(state.step)")
        }
        var rngs: [String: UInt64] = [:]
        for (name, text) in state.rng {
            guard let value = UInt64(text) else {
                throw .invalidMetadata(path: path, key: MetadataKey.state,
                                       reason: "rng \"\(name)\" is \"\(text)\", expected a decimal UInt64")
            }
            rngs[name] = value
        }

        var layout = ParameterLayout()
        layout.append(momentNames.m, [expectedCount])
        layout.append(momentNames.v, [expectedCount])
        let moments = try Checkpoint.gather(file, into: layout)
        return TrainingState(optimizerStep: state.step, adamM: Array(moments[0..<expectedCount]),
                             adamV: Array(moments[expectedCount...]), rngs: rngs, extra: state.extra)
    }

    // MARK: - Restoring

    /// Copies the moments and the step into `optimizer`, whose next update then continues this run exactly.
    /// Precondition: the optimizer's layout has adamM.count parameters.
    public func restore(into optimizer: AdamW) {
        precondition(optimizer.layout.count == adamM.count && adamM.count == adamV.count,
                     "TrainingState.restore: \(adamM.count) moments for an optimizer of \(optimizer.layout.count)")
        let m = optimizer.m, v = optimizer.v
        adamM.withUnsafeBufferPointer { if let base = $0.baseAddress { m.baseAddress!.update(from: base, count: $0.count) } }
        adamV.withUnsafeBufferPointer { if let base = $0.baseAddress { v.baseAddress!.update(from: base, count: $0.count) } }
        optimizer.step = optimizerStep
    }
}

/// `quill.state`: {"extra": "…", "rng": {"sampler": "18446744073709551615"}, "step": 120}.
private struct StateJSON: Codable {
    var step: Int
    var rng: [String: String]
    var extra: String
}
