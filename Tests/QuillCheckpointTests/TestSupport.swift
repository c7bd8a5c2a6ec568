// Shared fixtures for the checkpoint tests: scratch directories, a tiny GPT and bigram with a char tokenizer,
// a training record that exercises every field, and byte-level file helpers.
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTensor
import QuillTokenizers
import Testing

/// A fresh directory under the system temporary directory, removed with everything in it on deinit.
final class ScratchDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("quill-ckpt-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    /// Names in the directory that look like the atomic writer's temporary files.
    func temporaries() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0.contains(".tmp-") }
    }
}

enum Fixtures {
    /// 10 letters and a newline: 11 tokens, the vocabulary of `tinyConfig`.
    static let corpus = "abcdefghij\n"
    static let tinyConfig = GPTConfig(vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8)

    static func tokenizer() -> CharTokenizer { CharTokenizer(corpus: corpus) }

    /// A tiny GPT whose every parameter is a distinct random value (not GPT-2's zeros and ones), so that a
    /// misplaced tensor cannot go unnoticed; a few awkward floats included.
    static func gpt(seed: UInt64 = 7) throws -> GPT {
        let model = try GPT(config: tinyConfig, seed: seed, workers: 1)
        var rng = SplitMix64(seed: seed ^ 0xABCD)
        for i in 0..<model.parameterCount { model.parameters[i] = rng.nextGaussian() * 0.5 }
        model.parameters[1] = -0.0
        model.parameters[2] = .leastNonzeroMagnitude
        model.parameters[3] = -.greatestFiniteMagnitude / 4
        return model
    }

    static func record() -> TrainingRecord {
        TrainingRecord(
            steps: 120, tokensSeen: 120 * 4 * 8, trainLoss: 1.2345678, valLoss: 1.5, bestValLoss: 1.4999999,
            corpusSHA256: String(repeating: "ab", count: 32), corpusBytes: 1_115_394, durationSeconds: 12.75,
            history: [
                EvalRecord(step: 0, tokens: 0, seconds: 0, trainLoss: 2.3978953, valLoss: 2.3978953, learningRate: 1e-4),
                EvalRecord(step: 120, tokens: 3840, seconds: 12.5, trainLoss: 1.2345678, valLoss: 1.5,
                           learningRate: 3e-4),
            ],
            command: "quill-train train --preset tiny --data \"my corpus.txt\"",
            trainConfig: "{\"lr\": 0.0003,\n \"name\": \"tiny/é\\\\\"}")
    }

    /// Random ids (B·T inputs, B·T next-token targets) over a vocabulary of V.
    static func batch(B: Int, T: Int, V: Int, seed: UInt64) -> (x: [Int32], y: [Int32]) {
        var rng = SplitMix64(seed: seed)
        let ids = (0..<(B * T + 1)).map { _ in Int32(rng.next() % UInt64(V)) }
        return (Array(ids[0..<(B * T)]), Array(ids[1...]))
    }
}

func bytes(of url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }

func write(_ bytes: [UInt8], to url: URL) throws { try Data(bytes).write(to: url) }

/// The header length and the data section's start of a safetensors file, parsed independently of the module.
func headerLength(_ file: [UInt8]) -> Int {
    var n = 0
    for i in (0..<8).reversed() { n = n << 8 | Int(file[i]) }
    return n
}

/// A safetensors file built by hand: `header` JSON as given (no padding added), then `data`.
func handMade(header: String, data: [UInt8]) -> [UInt8] {
    let h = Array(header.utf8)
    var out: [UInt8] = []
    var n = UInt64(h.count).littleEndian
    withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
    return out + h + data
}

func floatBytes(_ values: [Float]) -> [UInt8] {
    values.withUnsafeBytes { Array($0) }
}

/// The CheckpointError a call throws, or nil (any other error is recorded as a test issue). The closure is
/// untyped because closures inside #expect do not infer typed throws.
func caught(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> CheckpointError? {
    do {
        try body()
    } catch let error as CheckpointError {
        return error
    } catch {
        Issue.record("expected a CheckpointError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Runs `python -c script args…` on a Dispatch thread and awaits it: the child takes a second or more (numpy's
/// import), and blocking one of the cooperative pool's few threads (one per core) for that long would stall the
/// async tests running meanwhile (the HTTP servers' timeouts).
func runPython(_ python: String, _ script: String, _ args: [String]) async throws
    -> (status: Int32, output: Data, errors: String) {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try runPythonBlocking(python, script, args) })
        }
    }
}

/// Runs `python -c script args…` and waits; stderr is drained on another thread while stdout is read here, so
/// neither pipe can fill up and stall the child.
private func runPythonBlocking(_ python: String, _ script: String, _ args: [String]) throws
    -> (status: Int32, output: Data, errors: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = ["-c", script] + args
    let stdout = Pipe(), stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    nonisolated(unsafe) var errors = Data()
    let drained = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        errors = stderr.fileHandleForReading.readDataToEndOfFile()
        drained.signal()
    }
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    process.waitUntilExit()
    return (process.terminationStatus, output, String(decoding: errors, as: UTF8.self))
}
