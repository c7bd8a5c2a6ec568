// Independence check against Hugging Face's own safetensors library (Rust core, through Python/numpy): it loads
// Quill's checkpoint with the same names, shapes, bits and metadata, and Quill reads the file it writes.
// Skipped when the benchmark virtualenv's python is not installed.
import Foundation
import QuillCheckpoint
import QuillModel
import Testing

private let python = "/root/.cache/quill-bench-venv/bin/python"

@Suite("Hugging Face safetensors interop")
struct PythonInteropTests {
    private static let script = """
        import json, sys
        import numpy as np
        from safetensors import safe_open
        from safetensors.numpy import load_file, save_file
        ours, theirs = sys.argv[1], sys.argv[2]
        tensors = load_file(ours)
        with safe_open(ours, framework="np") as f:
            metadata = f.metadata()
        out = {"metadata": metadata,
               "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype),
                               "hex": v.astype("<f4").tobytes().hex()} for k, v in tensors.items()}}
        save_file({"zeta": np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
                   "alpha": np.array([-1.5, np.inf], dtype=np.float32)}, theirs, metadata={"origin": "python"})
        print(json.dumps(out))
        """

    @Test("safetensors (Python) loads a Quill checkpoint bit for bit, and Quill reads what it writes",
          .enabled(if: FileManager.default.isExecutableFile(atPath: python)))
    func interop() async throws {
        let dir = try ScratchDirectory()
        let ours = dir.file("tiny.safetensors"), theirs = dir.file("python.safetensors")
        let model = try Fixtures.gpt()
        try Checkpoint.write(model: model, spec: .gpt(Fixtures.tinyConfig), tokenizer: Fixtures.tokenizer().serialized,
                             training: Fixtures.record(), to: ours)

        let (status, output, errors) = try await runPython(python, Self.script, [ours.path, theirs.path])
        guard status == 0 else {
            // The python exists but lacks the packages: nothing to compare against.
            if errors.contains("ModuleNotFoundError") { return }
            Issue.record("python failed: \(errors)")
            return
        }

        let result = try JSONSerialization.jsonObject(with: output) as! [String: Any]
        let metadata = result["metadata"] as! [String: String]
        #expect(metadata == (try SafeTensors.read(from: ours)).metadata)
        let tensors = result["tensors"] as! [String: [String: Any]]
        #expect(Set(tensors.keys) == Set(model.layout.tensors.map(\.name)))
        for t in model.layout.tensors {
            let loaded = tensors[t.name]!
            #expect(loaded["shape"] as? [Int] == t.shape, "\(t.name)")
            #expect(loaded["dtype"] as? String == "float32")
            let expected = floatBytes(Array(model.parameters[t.offset..<(t.offset + t.count)]))
            #expect(loaded["hex"] as? String == expected.map { String(format: "%02x", $0) }.joined(), "\(t.name)")
        }

        let (back, theirMetadata) = try SafeTensors.read(from: theirs)
        #expect(theirMetadata == ["origin": "python"])
        let byName = Dictionary(uniqueKeysWithValues: back.map { ($0.name, $0) })
        #expect(byName["zeta"]?.shape == [2, 3])
        #expect(byName["zeta"]?.values == (0..<6).map { Float($0) / 7 })
        #expect(byName["alpha"]?.values == [-1.5, .infinity])
    }
}
