// Low-level safetensors access for other tools (converters, inspectors): named F32 tensors plus string
// metadata, with the same atomic write and verification as checkpoints. Models and Quill's keys are Checkpoint's.
import Foundation

/// Reading and writing any safetensors file of F32 tensors.
public enum SafeTensors {
    /// One named tensor: its shape and its values in row-major order.
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]

        /// A tensor; `values.count` must be the product of `shape` (checked when written).
        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// Writes `tensors` (F32, in this order) with `metadata` plus `quill.sha256` (hex SHA-256 of the data section,
    /// replacing any given). Atomic: written to ".NAME.tmp-<pid>" beside `url`, fsync'd, renamed over `url`, the
    /// directory fsync'd; on failure the temporary file is removed and an existing file at `url` is untouched.
    /// - Throws: `CheckpointError.cannotWrite` (with strerror), also for a tensor whose values do not fill its
    ///   shape, a duplicate name, or an empty one.
    public static func write(_ tensors: [Tensor], metadata: [String: String], to url: URL) throws(CheckpointError) {
        try write(tensors, metadata: metadata, to: url, failAfterBytes: nil)
    }

    /// `write(_:metadata:to:)` with a simulated full disk after `failAfterBytes` bytes (tests).
    static func write(_ tensors: [Tensor], metadata: [String: String], to url: URL,
                      failAfterBytes: Int?) throws(CheckpointError) {
        for t in tensors {
            let count = SafeTensorsFile.elementCount(t.shape)
            guard count == t.values.count else {
                throw .cannotWrite(path: url.path, reason: "tensor \(t.name) has \(t.values.count) values but its "
                                   + "shape \(t.shape) needs \(count.map(String.init) ?? "an impossible number of")")
            }
        }
        try SafeTensorsFile.write(tensors.map { ($0.name, $0.shape) }, metadata: metadata, to: url,
                                  failAfterBytes: failAfterBytes) { sink in
            for t in tensors { t.values.withUnsafeBytes(sink) }
        }
    }

    /// Reads and verifies a file: header length sane and within the file, JSON header (any key order, space
    /// padding), F32 only, offsets contiguous and covering the data exactly, file size exact, and the SHA-256
    /// when `quill.sha256` is present. Tensors come back in data-section order.
    /// - Throws: `CheckpointError` naming the file and the first problem found.
    public static func read(from url: URL) throws(CheckpointError) -> (tensors: [Tensor], metadata: [String: String]) {
        let contents = try SafeTensorsFile.read(url)
        let tensors = contents.entries.map {
            Tensor(name: $0.name, shape: $0.shape, values: contents.values(of: $0))
        }
        return (tensors, contents.metadata)
    }
}
