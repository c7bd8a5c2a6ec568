// The file on disk, checked without the module's reader: valid safetensors with Hugging Face GPT-2 names; and
// the reader's refusals of damaged or foreign bytes (truncation, flipped bits, garbage, bad headers).
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTensor
import QuillTokenizers
import Testing

@Suite("Safetensors format")
struct SafeTensorsFormatTests {
    /// A tiny GPT checkpoint on disk, its bytes and its model.
    private func tinyCheckpoint(in dir: ScratchDirectory) throws -> (url: URL, file: [UInt8], model: GPT) {
        let url = dir.file("tiny.safetensors")
        let model = try Fixtures.gpt()
        try Checkpoint.write(model: model, spec: .gpt(Fixtures.tinyConfig), tokenizer: Fixtures.tokenizer().serialized,
                             training: Fixtures.record(), to: url)
        return (url, try bytes(of: url), model)
    }

    @Test("the checkpoint is valid safetensors: aligned JSON header, F32 tensors under GPT-2 names, contiguous data")
    func independentParse() throws {
        let dir = try ScratchDirectory()
        let (_, file, model) = try tinyCheckpoint(in: dir)
        let N = headerLength(file)
        #expect((8 + N) % 8 == 0)
        let headerText = String(decoding: file[8..<(8 + N)], as: UTF8.self)
        #expect(headerText.hasPrefix("{"))
        let header = try JSONSerialization.jsonObject(with: Data(file[8..<(8 + N)])) as! [String: Any]

        let metadata = header["__metadata__"] as! [String: String]
        #expect(Set(metadata.keys) == ["format", "quill.config", "quill.tokenizer", "quill.training", "quill.sha256"])
        #expect(metadata["format"] == "pt")
        #expect(metadata["quill.sha256"]!.count == 64)
        let config = try JSONSerialization.jsonObject(with: Data(metadata["quill.config"]!.utf8)) as! [String: Any]
        #expect(config["model"] as? String == "gpt" && config["n_layer"] as? Int == 2)

        let C = Fixtures.tinyConfig.nEmbd
        var tensors: [(name: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header where name != "__metadata__" {
            let info = value as! [String: Any]
            #expect(info["dtype"] as? String == "F32", "\(name)")
            let offsets = info["data_offsets"] as! [Int]
            tensors.append((name, info["shape"] as! [Int], offsets[0], offsets[1]))
        }
        let shapes = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.shape) })
        #expect(shapes["wte.weight"] == [11, C])
        #expect(shapes["wpe.weight"] == [8, C])
        #expect(shapes["h.0.attn.c_attn.weight"] == [C, 3 * C])
        #expect(shapes["h.0.attn.c_attn.bias"] == [3 * C])
        #expect(shapes["h.1.mlp.c_fc.weight"] == [C, 4 * C])
        #expect(shapes["h.1.mlp.c_proj.weight"] == [4 * C, C])
        #expect(shapes["ln_f.bias"] == [C])
        #expect(tensors.count == model.layout.tensors.count)

        // Offsets: contiguous from 0, each spanning its shape, the last ending at the end of the file.
        tensors.sort { $0.begin < $1.begin }
        var end = 0
        for t in tensors {
            #expect(t.begin == end, "\(t.name)")
            #expect(t.end - t.begin == t.shape.reduce(4, *), "\(t.name)")
            end = t.end
        }
        #expect(8 + N + end == file.count)
        // Stored in layout order, and the data section is the parameter block byte for byte.
        #expect(tensors.map(\.name) == model.layout.tensors.map(\.name))
        #expect(Array(file[(8 + N)...]) == floatBytes(Array(model.parameters)))
        // In the header too: metadata first, then the tensors in layout order.
        let positions = ["__metadata__"] + model.layout.tensors.map(\.name)
        let found = positions.map { headerText.range(of: "\"\($0)\":")!.lowerBound }
        #expect(found == found.sorted())
        #expect(metadata["quill.sha256"] == Array(file[(8 + N)...]).withUnsafeBytes { sha256Hex($0) })
    }

    @Test("the reader accepts any key order, no metadata, and space padding")
    func readerLeniency() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("hand.safetensors")
        let header = #"{"b": {"shape": [2], "data_offsets": [12, 20], "dtype": "F32"}, "#
            + #""a": {"data_offsets": [0, 12], "dtype": "F32", "shape": [3, 1]}, "__metadata__": {"k": "v \"q\""}}     "#
        try write(handMade(header: header, data: floatBytes([1, 2, 3, -4, .leastNonzeroMagnitude * 5])), to: url)
        let (tensors, metadata) = try SafeTensors.read(from: url)
        #expect(metadata == ["k": "v \"q\""])
        #expect(tensors.map(\.name) == ["a", "b"])
        #expect(tensors[0].shape == [3, 1] && tensors[0].values == [1, 2, 3])
        #expect(tensors[1].values == [-4, .leastNonzeroMagnitude * 5])

        try write(handMade(header: #"{"x": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}"#,
                           data: floatBytes([7])), to: url)
        let scalar = try SafeTensors.read(from: url)
        #expect(scalar.metadata.isEmpty && scalar.tensors[0].shape == [] && scalar.tensors[0].values == [7])
    }

    @Test("a truncated file is a clear error naming the file, wherever it was cut")
    func truncation() throws {
        let dir = try ScratchDirectory()
        let (_, file, _) = try tinyCheckpoint(in: dir)
        let N = headerLength(file)
        let cut = dir.file("cut.safetensors")
        for length in [1, 4, 7, 8, 9, 8 + N / 2, 8 + N - 1, 8 + N, 8 + N + 1, (8 + N + file.count) / 2, file.count - 1] {
            try write(Array(file[0..<length]), to: cut)
            let error = caught { _ = try Checkpoint.read(from: cut) }
            guard case .truncated(cut.path, _) = error else {
                Issue.record("cut at \(length) of \(file.count): \(String(describing: error))"); continue
            }
            #expect(error!.description.hasPrefix("\(cut.path): truncated: "))
        }
        try write(Array(file[0..<(8 + N + 40)]), to: cut)
        let dataCut = caught { _ = try SafeTensors.read(from: cut) }
        let dataBytes = file.count - 8 - N
        #expect(dataCut == .truncated(path: cut.path, reason: "header says \(dataBytes) bytes of tensor data, the file has 40"))

        try write([], to: cut)
        #expect(caught { _ = try Checkpoint.read(from: cut) } == .notSafeTensors(path: cut.path, reason: "the file is empty"))
        try write(file + [0], to: cut)
        #expect(caught { _ = try Checkpoint.read(from: cut) } == .trailingBytes(path: cut.path, expected: file.count,
                                                                                  actual: file.count + 1))
    }

    @Test("a flipped byte in the tensor data is a SHA-256 mismatch")
    func flippedByte() throws {
        let dir = try ScratchDirectory()
        let (url, file, _) = try tinyCheckpoint(in: dir)
        let N = headerLength(file)
        for index in [8 + N, file.count / 2 + 4 * 7 + 1, file.count - 1] where index >= 8 + N {
            var damaged = file
            damaged[index] ^= 0x10
            try write(damaged, to: url)
            let error = caught { _ = try Checkpoint.read(from: url) }
            guard case .checksumMismatch(url.path, _, _) = error else {
                Issue.record("flip at \(index): \(String(describing: error))"); continue
            }
            #expect(error!.description.contains("SHA-256 of the tensor data does not match quill.sha256 (file corrupted?)"))
            guard case .checksumMismatch = caught({ _ = try SafeTensors.read(from: url) }) else {
                Issue.record("SafeTensors.read must verify quill.sha256 too"); continue
            }
        }
    }

    @Test("a foreign JSON file, garbage, a directory or a missing file is rejected, naming it")
    func foreignFiles() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("foreign.safetensors")

        try write(Array(#"{"vocab_size": 11, "n_layer": 2}"#.utf8), to: url)
        let json = caught { _ = try Checkpoint.read(from: url) }
        guard case .notSafeTensors(url.path, let reason) = json else { Issue.record("JSON: \(String(describing: json))"); return }
        #expect(reason.contains("header length 0x") && reason.contains("larger than"))

        var rng = SplitMix64(seed: 99)
        try write((0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, to: url)
        guard case .notSafeTensors(url.path, _) = caught({ _ = try Checkpoint.read(from: url) }) else {
            Issue.record("garbage must be notSafeTensors"); return
        }

        // A plausible length, but the header is not JSON.
        try write(handMade(header: "PK\u{3}\u{4} not json at all", data: []), to: url)
        guard case .notSafeTensors(url.path, _) = caught({ _ = try Checkpoint.read(from: url) }) else {
            Issue.record("a non-JSON header must be notSafeTensors"); return
        }
        try write(handMade(header: "{\"a\": [1, 2", data: []), to: url)
        guard case .invalidHeader(url.path, _) = caught({ _ = try Checkpoint.read(from: url) }) else {
            Issue.record("broken JSON must be invalidHeader"); return
        }

        let missing = dir.file("absent.safetensors")
        #expect(caught { _ = try Checkpoint.read(from: missing) }
                == .cannotRead(path: missing.path, reason: "No such file or directory"))
        #expect(caught { _ = try Checkpoint.read(from: dir.url) } == .cannotRead(path: dir.url.path, reason: "is a directory"))
    }

    @Test("other dtypes, gaps, overlaps, offsets that disagree with shapes and absurd header lengths are rejected")
    func badHeaders() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("bad.safetensors")
        func reading(_ header: String, _ data: [UInt8]) throws -> CheckpointError? {
            try write(handMade(header: header, data: data), to: url)
            return caught { _ = try SafeTensors.read(from: url) }
        }

        #expect(try reading(#"{"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}"#, [0, 0, 0, 0])
                == .unsupportedDType(path: url.path, tensor: "w", dtype: "F16"))
        let gap = try reading(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, [UInt8](repeating: 0, count: 8))
        guard case .invalidHeader(url.path, let r1) = gap, r1.contains("belong to no tensor") else {
            Issue.record("gap: \(String(describing: gap))"); return
        }
        let overlap = try reading(#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "#
                                  + #""b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#,
                                  [UInt8](repeating: 0, count: 8))
        guard case .invalidHeader(url.path, let r2) = overlap, r2.contains("overlaps") else {
            Issue.record("overlap: \(String(describing: overlap))"); return
        }
        let span = try reading(#"{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, [UInt8](repeating: 0, count: 8))
        guard case .invalidHeader(url.path, let r3) = span, r3.contains("span 8 bytes") else {
            Issue.record("span: \(String(describing: span))"); return
        }
        let negative = try reading(#"{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}"#, [])
        guard case .invalidHeader(url.path, _) = negative else { Issue.record("negative dim"); return }
        let noOffsets = try reading(#"{"a": {"dtype": "F32", "shape": [1]}}"#, [0, 0, 0, 0])
        guard case .invalidHeader(url.path, let r4) = noOffsets, r4.contains("data_offsets") else {
            Issue.record("missing data_offsets: \(String(describing: noOffsets))"); return
        }

        var huge = [UInt8](repeating: 0, count: 64)
        huge[5] = 1  // 2^40
        try write(huge, to: url)
        #expect(caught { _ = try SafeTensors.read(from: url) }
                == .notSafeTensors(path: url.path, reason: "header length 0x10000000000 is larger than 100000000 bytes"))
    }

    @Test("SafeTensors writes any F32 tensors and refuses values that do not fill their shape")
    func lowLevelWrite() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("any.safetensors")
        let tensors: [SafeTensors.Tensor] = [.init(name: "z", shape: [2, 0], values: []),
                                             .init(name: "a/b \"c\"", shape: [3], values: [1, -2, .infinity]),
                                             .init(name: "s", shape: [], values: [42])]
        try SafeTensors.write(tensors, metadata: ["note": "line\nbreak\t\u{1} é"], to: url)
        let (back, metadata) = try SafeTensors.read(from: url)
        #expect(Set(back.map(\.name)) == ["z", "a/b \"c\"", "s"])
        #expect(back.first { $0.name == "a/b \"c\"" }! == tensors[1])
        #expect(back.first { $0.name == "s" }! == tensors[2])
        #expect(metadata["note"] == "line\nbreak\t\u{1} é" && metadata["quill.sha256"]?.count == 64)

        let error = caught { try SafeTensors.write([.init(name: "w", shape: [2, 2], values: [1])], metadata: [:], to: url) }
        guard case .cannotWrite(url.path, let reason) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(reason.contains("1 values") && reason.contains("needs 4"))
        let duplicate = caught {
            try SafeTensors.write([.init(name: "w", shape: [1], values: [1]), .init(name: "w", shape: [1], values: [2])],
                                  metadata: [:], to: url)
        }
        guard case .cannotWrite = duplicate else { Issue.record("duplicate names must be refused"); return }
    }
}
