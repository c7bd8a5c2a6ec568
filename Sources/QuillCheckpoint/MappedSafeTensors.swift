// A safetensors file mapped into memory (mmap, private and copy-on-write): its header checked as SafeTensorsFile
// checks it, its F32 tensors used in place, other float dtypes (F16, BF16) converted on request. Serving reads the
// weights from here instead of a copy; pages of tensors the caller has repacked can be handed back (`release`).
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class MappedSafeTensors: @unchecked Sendable {
    /// One tensor of the file; `offset` is in bytes from the start of the mapping.
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var dtype: String
        public var shape: [Int]
        public var offset: Int
        public var count: Int
    }

    public let path: String
    public let metadata: [String: String]
    /// Tensors in data order.
    public let tensors: [Tensor]
    private let byName: [String: Int]
    private let base: UnsafeMutableRawPointer?
    private let length: Int
    private let dataStart: Int
    private let dataBytes: Int

    /// Maps `url` and checks its header (bounds, offsets contiguous, exact size). Any dtype of the format is
    /// accepted here; `floats(_:)` says which it can turn into F32.
    public init(_ url: URL) throws(CheckpointError) {
        let file = try ReadableFile(url)
        let header = try SafeTensorsFile.readHeader(file, dtypes: SafeTensorsFile.dtypeSizes)
        path = file.path
        metadata = header.metadata
        dataStart = header.dataStart
        dataBytes = header.dataBytes
        length = file.size
        tensors = header.tensors.map {
            Tensor(name: $0.name, dtype: $0.dtype, shape: $0.shape, offset: header.dataStart + $0.begin, count: $0.count)
        }
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        byName = index
        let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, file.fd, 0)
        guard let p, p != MAP_FAILED else { throw .cannotRead(path: path, reason: "mmap: \(systemError(errno))") }
        base = p
    }

    deinit { if let base { munmap(base, length) } }

    public subscript(name: String) -> Tensor? { byName[name].map { tensors[$0] } }

    /// The tensor's values as F32 in place when it is stored as F32 and 4-byte aligned (no copy); nil otherwise.
    public func mappedFloats(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
        guard let t = self[name], t.dtype == "F32", t.offset % 4 == 0, let base else { return nil }
        return UnsafeMutableBufferPointer(start: (base + t.offset).assumingMemoryBound(to: Float.self), count: t.count)
    }

    /// The tensor's values converted to F32 (from F32, F16 or BF16); nil for another dtype.
    public func floats(_ name: String) -> [Float]? {
        guard let t = self[name], let base else { return nil }
        let raw = UnsafeRawPointer(base + t.offset)
        switch t.dtype {
        case "F32":
            return [Float](unsafeUninitializedCapacity: t.count) { out, n in
                UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: raw, byteCount: t.count * 4)
                n = t.count
            }
        case "F16":
            return (0..<t.count).map { Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
        case "BF16":
            return (0..<t.count).map {
                Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) << 16)
            }
        default:
            return nil
        }
    }

    /// The raw bytes of a tensor (any dtype).
    public func bytes(_ name: String) -> UnsafeRawBufferPointer? {
        guard let t = self[name], let base else { return nil }
        let width = SafeTensorsFile.dtypeSizes[t.dtype] ?? 1
        return UnsafeRawBufferPointer(start: base + t.offset, count: t.count * width)
    }

    /// The data section's hex SHA-256 (what Quill records as `quill.sha256`).
    public func dataSHA256() -> String {
        guard let base else { return sha256Hex(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return sha256Hex(UnsafeRawBufferPointer(start: base + dataStart, count: dataBytes))
    }

    /// Hands the whole pages inside a tensor back to the kernel (MADV_DONTNEED): they leave resident memory and
    /// are read from the file again if touched. For tensors the caller has copied elsewhere and will not write.
    public func release(_ name: String) {
        guard let t = self[name], let base else { return }
        let width = SafeTensorsFile.dtypeSizes[t.dtype] ?? 1
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (t.offset + page - 1) / page * page, last = (t.offset + t.count * width) / page * page
        guard last > first else { return }
        _ = madvise(base + first, last - first, MADV_DONTNEED)
    }
}
