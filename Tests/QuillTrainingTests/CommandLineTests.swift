// The quill-train executable's answers to bad input: one line naming the problem on stderr, exit status 1,
// and nothing written or overwritten.
import Foundation
import Testing

/// The quill-train built beside this test bundle.
func quillTrainBinary() -> URL? {
    let candidates = [
        Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("quill-train"),
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("quill-train"),
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("quill-train"),
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}

/// Runs quill-train with arguments; returns (status, stdout, stderr).
func runQuillTrain(_ args: [String]) throws -> (Int32, String, String) {
    guard let bin = quillTrainBinary() else {
        Issue.record("quill-train is not built beside the tests (swift test builds every product)")
        return (-1, "", "")
    }
    let p = Process()
    p.executableURL = bin
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite("quill-train command line")
struct CommandLineTests {
    @Test("bad input exits 1 with one line that names the problem", .needsShakespeare, arguments: [
        (["train", "--config", "Config/train/gpt-nano.json"], "--data FILE is required"),
        (["train", "--data", "DATA", "--n_layers", "2"], "unknown key --n_layers"),
        (["train", "--data", "DATA", "--n_layer", "two"], "n_layer must be of type integer"),
        (["train", "--data", "/nonexistent.txt"], "/nonexistent.txt: no such file"),
        (["train", "--data", "DATA", "--format", "csv"], "--format must be text, lines or jsonl"),
        (["train", "--data", "DATA", "--out", "/nonexistent/dir/m.safetensors"], "does not exist"),
        (["eval", "--checkpoint", "DATA", "--data", "DATA"], "DATA"),
    ])
    func badInput(args: [String], expected: String) throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(3_000, in: dir)
        let resolved = args.map { $0.replacingOccurrences(of: "DATA", with: data) }
        let (status, _, err) = try runQuillTrain(resolved)
        #expect(status == 1)
        let lines = err.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(err)")
        #expect(err.hasPrefix("quill-train: error: ") && err.contains(expected.replacingOccurrences(of: "DATA", with: data)), "stderr: \(err)")
    }

    @Test("a failing run leaves an existing checkpoint untouched")
    func nothingOverwritten() throws {
        let dir = scratchFolder()
        let out = dir.appendingPathComponent("m.safetensors")
        try Data("precious".utf8).write(to: out)
        let binary = dir.appendingPathComponent("bin.txt").path
        _ = FileManager.default.createFile(atPath: binary, contents: Data([0xC3, 0x28, 0x41]))
        let (status, _, err) = try runQuillTrain(["train", "--data", binary, "--out", out.path])
        #expect(status == 1 && err.contains("not valid UTF-8"))
        #expect(try Data(contentsOf: out) == Data("precious".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["bin.txt", "m.safetensors"])
    }

    @Test("train, then sample and eval the checkpoint it wrote", .needsShakespeare)
    func trainSampleEval() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(10_000, in: dir)
        let out = dir.appendingPathComponent("t.safetensors").path
        let (s1, o1, e1) = try runQuillTrain(["train", "--data", data, "--out", out, "--n_layer", "1", "--n_head", "2",
                                             "--n_embd", "16", "--block_size", "16", "--batch_size", "4", "--max_steps", "6",
                                             "--eval_interval", "3", "--eval_iters", "2", "--sample_tokens", "0"])
        #expect(s1 == 0, "\(e1)")
        #expect(o1.contains("done: 6 steps"))
        let (s2, o2, _) = try runQuillTrain(["sample", "--checkpoint", out, "--prompt", "ROMEO:", "--max-tokens", "20", "--greedy"])
        #expect(s2 == 0 && o2.hasPrefix("ROMEO:") && o2.count > 6)
        let (s3, o3, _) = try runQuillTrain(["eval", "--checkpoint", out, "--data", data])
        #expect(s3 == 0 && o3.contains("bits/char") && o3.contains("\"mode\":\"eval\""))
    }
}

/// runQuillTrain on a Dispatch thread, awaited: a child process must not block one of the cooperative pool's few
/// threads while async tests (the HTTP servers' timeouts) run beside it.
func runQuillTrainAsync(_ args: [String]) async throws -> (Int32, String, String) {
    guard quillTrainBinary() != nil else { return try runQuillTrain(args) }  // records the missing binary here
    return try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try runQuillTrain(args) }) }
    }
}

@Suite("quill-train export and Hugging Face folders")
struct ExportCommandLineTests {
    static let tinyGPT2 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tiny-gpt2").path

    @Test("sample reads a Hugging Face folder, and export writes a folder and a GGUF file")
    func exportAndSample() async throws {
        let dir = scratchFolder()
        let (status, out, err) = try await runQuillTrainAsync(["sample", "--checkpoint", Self.tinyGPT2, "--prompt", "The quick",
                                                     "--greedy", "--max-tokens", "5"])
        #expect(status == 0, "\(err)")
        #expect(out.hasPrefix("The quick") && out.count > "The quick\n".count)
        let hf = dir.appendingPathComponent("hf").path, gguf = dir.appendingPathComponent("m.gguf").path
        let (s2, _, e2) = try await runQuillTrainAsync(["export", "--checkpoint", Self.tinyGPT2, "--hf", hf, "--gguf", gguf])
        #expect(s2 == 0, "\(e2)")
        for f in ["config.json", "model.safetensors", "generation_config.json", "vocab.json", "merges.txt",
                  "tokenizer_config.json", "special_tokens_map.json"] {
            #expect(FileManager.default.fileExists(atPath: hf + "/" + f), "\(f) missing")
        }
        let magic = try Data(contentsOf: URL(fileURLWithPath: gguf)).prefix(4)
        #expect(Array(magic) == Array("GGUF".utf8))
        // The exported folder samples the same text.
        let (_, again, _) = try await runQuillTrainAsync(["sample", "--checkpoint", hf, "--prompt", "The quick", "--greedy",
                                               "--max-tokens", "5"])
        #expect(again == out)
    }

    @Test("export without a target, or of a folder that is not GPT-2, exits 1 with one line")
    func exportErrors() async throws {
        let dir = scratchFolder()
        let (s1, _, e1) = try await runQuillTrainAsync(["export", "--checkpoint", Self.tinyGPT2])
        #expect(s1 == 1 && e1.contains("--hf DIR or --gguf FILE") && e1.split(separator: "\n").count == 1)
        let (s2, _, e2) = try await runQuillTrainAsync(["export", "--checkpoint", dir.path, "--gguf", dir.path + "/x.gguf"])
        #expect(s2 == 1 && e2.contains("config.json") && e2.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/x.gguf"))
    }
}
