// Shared fixtures: a scratch folder per test, a slice of Tiny Shakespeare, tiny configs.
import Foundation
import QuillTraining

/// ../shared/data beside the package, found from this file's path.
let sharedData = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data")

/// A fresh empty folder under the system temporary directory.
func scratchFolder(_ name: String = #function) -> URL {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("quill-tests-\(safe)-\(UUID().uuidString.prefix(8))")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The first `n` characters of tinyshakespeare.txt, written to dir/name.
func shakespeareSlice(_ n: Int, in dir: URL, name: String = "tiny.txt") -> String {
    let text = try! String(contentsOf: sharedData.appendingPathComponent("tinyshakespeare.txt"), encoding: .utf8)
    let path = dir.appendingPathComponent(name).path
    try! String(text.prefix(n)).write(toFile: path, atomically: true, encoding: .utf8)
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
