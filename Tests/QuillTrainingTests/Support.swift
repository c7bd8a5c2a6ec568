// Shared fixtures: the data folder (see TestData), a scratch folder per test, a slice of Tiny Shakespeare, tiny configs.
import Foundation
import QuillTraining
import Testing

// The same lookup as Tests/QuillTokenizersTests/Fixtures.swift (each test target has its own copy).
/// The tests' data folder: $QUILL_DATA when set (`make test` and CI set it), else data/ at the package root
/// (written by `make data`). It holds tinyshakespeare.txt and gpt2/vocab.json + gpt2/merges.txt;
/// tests that need a file it lacks are skipped (`.needsShakespeare`, `.needsGPT2`).
enum TestData {
    static let directory: URL = {
        if let path = ProcessInfo.processInfo.environment["QUILL_DATA"], !path.isEmpty {
            return URL(fileURLWithPath: path).standardizedFileURL
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent("data").standardizedFileURL
    }()
    static let shakespeareFile = directory.appendingPathComponent("tinyshakespeare.txt")
    static let gpt2Directory = directory.appendingPathComponent("gpt2")
    static let hasShakespeare = holds(["tinyshakespeare.txt"], directory)
    static let hasGPT2 = holds(["gpt2/vocab.json", "gpt2/merges.txt"], directory)

    private static func holds(_ files: [String], _ folder: URL) -> Bool {
        files.allSatisfy { FileManager.default.isReadableFile(atPath: folder.appendingPathComponent($0).path) }
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only when tinyshakespeare.txt is in the data folder.
    static var needsShakespeare: Self {
        .enabled(if: TestData.hasShakespeare, "needs tinyshakespeare.txt: set QUILL_DATA or run make data")
    }
    /// Runs the test only when GPT-2's gpt2/vocab.json and gpt2/merges.txt are in the data folder.
    static var needsGPT2: Self {
        .enabled(if: TestData.hasGPT2, "needs GPT-2's gpt2/vocab.json and gpt2/merges.txt: set QUILL_DATA or run make data")
    }
}

/// A fresh empty folder under the system temporary directory.
func scratchFolder(_ name: String = #function) -> URL {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("quill-tests-\(safe)-\(UUID().uuidString.prefix(8))")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The first `n` characters of tinyshakespeare.txt, written to dir/name; throws when the file cannot be read.
func shakespeareSlice(_ n: Int, in dir: URL, name: String = "tiny.txt") throws -> String {
    let text = try String(contentsOf: TestData.shakespeareFile, encoding: .utf8)
    let path = dir.appendingPathComponent(name).path
    try String(text.prefix(n)).write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A tiny GPT run: seconds, not minutes, in a release build.
func tinyConfig(steps: Int = 12, dropout: Float = 0.1) -> TrainConfig {
    var c = TrainConfig()
    c.nLayer = 2; c.nHead = 2; c.nEmbd = 16; c.blockSize = 16
    c.batchSize = 4; c.maxSteps = steps; c.evalInterval = 4; c.evalIters = 3; c.logInterval = 2
    c.dropout = dropout; c.warmupSteps = 2; c.learningRate = 3e-3; c.minLR = 3e-4; c.sampleTokens = 8
    return c
}
