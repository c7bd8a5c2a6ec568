// The safetensors container itself, shared by checkpoints, training states and the public SafeTensors API:
// writing a header plus a data section streamed from the caller's buffers (never copied), and reading with every
// structural check (header bounds, F32 only, offsets contiguous and covering the data, exact size, SHA-256).
//
// Layout: u64 little-endian N | N bytes of JSON header, space-padded so the data starts 8-byte aligned | data.
// Header: {"__metadata__": {string: string}, "NAME": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ..}
// with offsets relative to the data section. This file knows nothing of models; callers interpret the tensors.
import Foundation
import QuillJSON

#if _endian(big)
#error("QuillCheckpoint writes tensors in host byte order, and safetensors is little-endian: add byte swapping")
#endif

enum SafeTensorsFile {
    /// Headers beyond this are refused before anything is allocated (a GPT-2 tokenizer makes ~2 MB).
    static let maxHeaderBytes = 100_000_000
    /// The metadata key holding the hex SHA-256 of the data section.
    static let checksumKey = "quill.sha256"

    /// A tensor of the file, located in the data section read as floats.
    struct Entry: Equatable {
        var name: String
        var shape: [Int]
        /// First element's index in `Contents.data`.
        var offset: Int
        var count: Int
    }

    /// A verified file: tensors in data-section order, metadata, and the whole data section as floats.
    struct Contents {
        var path: String
        var entries: [Entry]
        var metadata: [String: String]
        var data: [Float]

        func values(of entry: Entry) -> [Float] {
            Array(data[entry.offset..<(entry.offset + entry.count)])
        }
    }

    // MARK: - Writing

    /// Writes the tensors (F32, in the given order) with `metadata` plus `quill.sha256`, atomically.
    /// `data` must hand its sink exactly the tensors' bytes, in order; it is called twice (hash, then write),
    /// so the caller's buffers are streamed to disk without a copy.
    static func write(_ tensors: [(name: String, shape: [Int])], metadata: [String: String], to url: URL,
                      failAfterBytes: Int? = nil,
                      data: ((UnsafeRawBufferPointer) -> Void) -> Void) throws(CheckpointError) {
        let path = url.path
        var seen = Set<String>()
        var total = 0
        for t in tensors {
            guard !t.name.isEmpty, t.name != "__metadata__" else {
                throw .cannotWrite(path: path, reason: "invalid tensor name \"\(t.name)\"")
            }
            guard seen.insert(t.name).inserted else {
                throw .cannotWrite(path: path, reason: "tensor \(t.name) is listed twice")
            }
            guard let count = elementCount(t.shape) else {
                throw .cannotWrite(path: path, reason: "tensor \(t.name) has an invalid shape \(t.shape)")
            }
            total += count * 4
        }

        let hasher = SHA256Hasher()
        var hashed = 0
        data { bytes in
            hasher.update(bytes)
            hashed += bytes.count
        }
        precondition(hashed == total, "safetensors writer: \(hashed) data bytes supplied, the tensors need \(total)")
        var metadata = metadata
        metadata[checksumKey] = hasher.finalizeHex()

        let header = headerBytes(tensors, metadata: metadata)
        guard header.count <= maxHeaderBytes else {
            throw .cannotWrite(path: path, reason: "the header would be \(header.count) bytes, more than readers "
                               + "accept (\(maxHeaderBytes)); the metadata is too large")
        }
        let writer = try AtomicFileWriter(destination: url)
        writer.failAfterBytes = failAfterBytes
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { writer.write($0) }
        header.withUnsafeBytes { writer.write($0) }
        data { writer.write($0) }
        try writer.commit()
    }

    /// The JSON header: `__metadata__` first with sorted keys, then the tensors in the given order, padded with
    /// spaces to a multiple of 8 bytes (so the data section starts 8-byte aligned, as Hugging Face's writer does).
    static func headerBytes(_ tensors: [(name: String, shape: [Int])], metadata: [String: String]) -> [UInt8] {
        var json = "{\"__metadata__\":{"
        json += metadata.sorted { $0.key < $1.key }
            .map { jsonString($0.key) + ":" + jsonString($0.value) }
            .joined(separator: ",")
        json += "}"
        var offset = 0
        for t in tensors {
            let end = offset + t.shape.reduce(1, *) * 4
            json += "," + jsonString(t.name) + ":{\"dtype\":\"F32\",\"shape\":["
                + t.shape.map(String.init).joined(separator: ",")
                + "],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        json += "}"
        var bytes = Array(json.utf8)
        bytes.append(contentsOf: repeatElement(0x20, count: (8 - bytes.count % 8) % 8))
        return bytes
    }

    /// A JSON string literal (QuillJSON's escaper, shared with the service).
    static func jsonString(_ s: String) -> String { JSONValue.quoted(s) }

    // MARK: - Reading

    /// Reads a Quill file (checkpoint or training state): verified as `read`, and it must carry the metadata
    /// `key` (else it is not Quill's) and a `quill.sha256` (so the data was checked). Returns the contents and
    /// the text under `key`.
    static func readQuill(_ url: URL, key: String) throws(CheckpointError) -> (Contents, String) {
        let file = try read(url)
        guard let text = file.metadata[key] else { throw .notQuillCheckpoint(path: file.path, key: key) }
        guard file.metadata[MetadataKey.sha256] != nil else {
            throw .missingMetadata(path: file.path, key: MetadataKey.sha256)
        }
        return (file, text)
    }

    /// Reads and verifies the whole file; the SHA-256 is checked when the metadata records one.
    static func read(_ url: URL) throws(CheckpointError) -> Contents {
        let file = try ReadableFile(url)
        let path = file.path
        let header = try readHeader(file, dtypes: ["F32": 4])
        let dataBytes = header.dataBytes
        let entries = header.tensors.map { t in
            Entry(name: t.name, shape: t.shape, offset: t.begin / 4, count: t.count)
        }

        // 5. The data, straight into floats, and its checksum.
        let floats = dataBytes / 4
        var failure: CheckpointError?
        let data = [Float](unsafeUninitializedCapacity: floats) { buffer, initialized in
            do throws(CheckpointError) {
                let got = try file.readFully(into: UnsafeMutableRawBufferPointer(buffer))
                initialized = got == dataBytes ? floats : 0
                if got != dataBytes { failure = .truncated(path: path, reason: "the file shrank while it was read") }
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        if let recorded = header.metadata[checksumKey] {
            let actual = data.withUnsafeBytes { sha256Hex($0) }
            guard actual == recorded.lowercased() else {
                throw .checksumMismatch(path: path, expected: recorded, actual: actual)
            }
        }
        return Contents(path: path, entries: entries, metadata: header.metadata, data: data)
    }

    /// A tensor as the header places it: `begin` and `end` are byte offsets into the data section.
    struct HeaderTensor {
        var name: String
        var dtype: String
        var shape: [Int]
        var begin: Int
        var end: Int
        var count: Int
    }

    /// A verified header: where the data section starts in the file, how long it is, the tensors in data order.
    struct Header {
        var dataStart: Int
        var dataBytes: Int
        var tensors: [HeaderTensor]
        var metadata: [String: String]
    }

    /// Element sizes of every dtype the safetensors format defines.
    static let dtypeSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
        "U16": 2, "U32": 4, "U64": 8,
    ]

    /// Reads and checks the header (steps 1 to 4): its length against sanity and the file size, the JSON, each
    /// tensor in one of `dtypes` (name → element bytes) with offsets contiguous from 0 that span exactly its shape,
    /// and a file of exactly header + data. The file is left positioned at the start of the data.
    static func readHeader(_ file: ReadableFile, dtypes: [String: Int]) throws(CheckpointError) -> Header {
        let path = file.path, size = file.size
        guard size > 0 else { throw .notSafeTensors(path: path, reason: "the file is empty") }
        guard size >= 8 else {
            throw .truncated(path: path, reason: "only \(size) bytes, fewer than the 8-byte header length")
        }

        // 1. The header length, checked against sanity and the file size before anything is allocated.
        let lengthBytes = try file.readBytes(8)
        let headerLength = lengthBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        let hex = "0x" + String(headerLength, radix: 16)
        guard headerLength > 0 else { throw .notSafeTensors(path: path, reason: "the header length is 0") }
        guard headerLength <= UInt64(maxHeaderBytes) else {
            throw .notSafeTensors(path: path, reason: "header length \(hex) is larger than \(maxHeaderBytes) bytes")
        }
        let N = Int(headerLength)
        guard N <= size - 8 else {
            // A plausible length followed by nothing or by the start of a JSON object is a cut file; anything
            // else is foreign.
            let first = size > 8 ? try file.readBytes(1) : []
            if first.isEmpty || first == [UInt8(ascii: "{")] {
                throw .truncated(path: path, reason: "header length says \(N) bytes of JSON, the file has "
                                 + "\(size - 8) after the length")
            }
            throw .notSafeTensors(path: path, reason: "header length \(hex) is larger than the file (\(size) bytes)")
        }

        // 2. The JSON header.
        let headerData = try file.readBytes(N)
        guard headerData.count == N else {
            throw .truncated(path: path, reason: "the file shrank while it was read")
        }
        guard headerData.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x09 && $0 != 0x0D }) == UInt8(ascii: "{") else {
            throw .notSafeTensors(path: path, reason: "the \(N)-byte header is not a JSON object")
        }
        let header: HeaderJSON
        do {
            header = try JSONDecoder().decode(HeaderJSON.self, from: Data(headerData))
        } catch let error as DecodingError {
            throw .invalidHeader(path: path, reason: CheckpointJSON.describe(error))
        } catch {
            throw .invalidHeader(path: path, reason: "\(error)")
        }

        // 3. Every tensor of an accepted dtype with a valid shape; offsets contiguous from 0, each spanning exactly
        //    its shape.
        for t in header.tensors where dtypes[t.dtype] == nil {
            throw .unsupportedDType(path: path, tensor: t.name, dtype: t.dtype)
        }
        let sorted = header.tensors.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var tensors: [HeaderTensor] = []
        tensors.reserveCapacity(sorted.count)
        var expectedBegin = 0
        for t in sorted {
            let width = dtypes[t.dtype]!
            guard let count = elementCount(t.shape) else {
                throw .invalidHeader(path: path, reason: "tensor \(t.name) has an invalid shape \(t.shape)")
            }
            guard t.begin >= 0, t.end >= t.begin else {
                throw .invalidHeader(path: path, reason: "tensor \(t.name) has data_offsets [\(t.begin), \(t.end)]")
            }
            guard t.begin == expectedBegin else {
                throw .invalidHeader(path: path, reason: t.begin > expectedBegin
                    ? "bytes \(expectedBegin)..<\(t.begin) of the data belong to no tensor (gap before \(t.name))"
                    : "tensor \(t.name) at \(t.begin) overlaps the tensor before it (ending at \(expectedBegin))")
            }
            guard t.end - t.begin == count * width else {
                throw .invalidHeader(path: path, reason: "tensor \(t.name) has shape \(t.shape) (\(count * width) bytes of "
                                     + "\(t.dtype)) but its data_offsets span \(t.end - t.begin) bytes")
            }
            tensors.append(HeaderTensor(name: t.name, dtype: t.dtype, shape: t.shape, begin: t.begin, end: t.end,
                                        count: count))
            expectedBegin = t.end
        }
        let dataBytes = expectedBegin

        // 4. The file holds exactly header + data.
        let expectedSize = 8 + N + dataBytes
        guard size >= expectedSize else {
            throw .truncated(path: path, reason: "header says \(dataBytes) bytes of tensor data, the file has "
                             + "\(size - 8 - N)")
        }
        guard size == expectedSize else { throw .trailingBytes(path: path, expected: expectedSize, actual: size) }
        return Header(dataStart: 8 + N, dataBytes: dataBytes, tensors: tensors, metadata: header.metadata)
    }

    /// Elements of a tensor of `shape`, or nil for a negative dimension or an overflowing product.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= Int.max / 8 else { return nil }
            count = product
        }
        return count
    }
}

// MARK: - Header JSON

/// The header as parsed: any key order, `__metadata__` optional (string values only, as Hugging Face requires).
private struct HeaderJSON: Decodable {
    struct Tensor {
        var name: String
        var dtype: String
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    var tensors: [Tensor] = []
    var metadata: [String: String] = [:]

    private enum TensorKeys: String, CodingKey {
        case dtype, shape
        case dataOffsets = "data_offsets"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        for key in c.allKeys {
            if key.stringValue == "__metadata__" {
                metadata = try c.decodeIfPresent([String: String].self, forKey: key) ?? [:]
                continue
            }
            let t = try c.nestedContainer(keyedBy: TensorKeys.self, forKey: key)
            let offsets = try t.decode([Int].self, forKey: .dataOffsets)
            guard offsets.count == 2 else {
                throw DecodingError.dataCorruptedError(forKey: .dataOffsets, in: t,
                                                       debugDescription: "expected [begin, end]")
            }
            tensors.append(Tensor(name: key.stringValue, dtype: try t.decode(String.self, forKey: .dtype),
                                  shape: try t.decode([Int].self, forKey: .shape), begin: offsets[0], end: offsets[1]))
        }
    }
}
