// Fine-tuning (--init-from) from a Hugging Face GPT-2 folder (Tests/Fixtures/tiny-gpt2, saved by transformers) and
// from a Quill checkpoint, the context crop, and gradient accumulation.
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTraining
import Testing

private let tinyGPT2 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/tiny-gpt2").path

/// A short English text, written to dir/name (the tiny GPT-2's byte-level tokenizer encodes anything).
private func englishText(in dir: URL, name: String = "text.txt") -> String {
    let line = "The quick brown fox jumps over the lazy dog, and the dog sleeps in the warm sun all day long.\n"
    let path = dir.appendingPathComponent(name).path
    try! String(repeating: line, count: 40).write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

private func fineTuneConfig(steps: Int) -> TrainConfig {
    var c = TrainConfig()
    c.initFrom = tinyGPT2
    c.blockSize = 32
    c.batchSize = 2
    c.maxSteps = steps
    c.evalInterval = steps
    c.evalIters = 4
    c.logInterval = 5
    c.dropout = 0
    c.warmupSteps = 0
    c.learningRate = 1e-3
    c.minLR = 1e-3
    c.sampleTokens = 0
    return c
}

@Suite("Fine-tuning")
struct FineTuneTests {
    @Test("20 steps from a Hugging Face GPT-2 folder lower its loss on the text and keep its tokenizer and shape")
    func fineTuneFromHuggingFace() throws {
        let dir = scratchFolder()
        let data = englishText(in: dir)
        let t = try Trainer(config: fineTuneConfig(steps: 20), dataPath: data, format: .text,
                            checkpoint: dir.appendingPathComponent("ft.safetensors").path, workers: 1)
        let base = try MappedModel.open(path: tinyGPT2)
        // The starting weights are the folder's (the context cropped from 64 to 32 positions).
        let cropped = try base.checkpoint().cropped(toBlockSize: 32)
        #expect(Array(t.model.parameters) == cropped.parameters)
        let record = try t.run()
        #expect(record.history.map(\.step) == [0, 20])
        #expect(record.history.last!.trainLoss < record.history.first!.trainLoss - 0.5)
        let out = try Checkpoint.read(from: t.files.best)
        #expect(out.tokenizer == base.tokenizer)
        guard case .gpt(let g) = out.spec, case .gpt(let b) = base.spec else { Issue.record("not GPTs"); return }
        #expect(g.nLayer == b.nLayer && g.nEmbd == b.nEmbd && g.nHead == b.nHead && g.vocabSize == b.vocabSize)
        #expect(g.blockSize == 32 && out.layout["wpe.weight"]!.shape == [32, b.nEmbd])
    }

    @Test("a block_size larger than the model's context is refused, naming both")
    func blockSizeTooLarge() throws {
        let dir = scratchFolder()
        var c = fineTuneConfig(steps: 1)
        c.blockSize = 65
        #expect {
            _ = try Trainer(config: c, dataPath: englishText(in: dir), format: .text,
                            checkpoint: dir.appendingPathComponent("x.safetensors").path)
        } throws: { error in
            "\(error)".contains("block_size 65") && "\(error)".contains("64")
        }
    }

    @Test("grad_accum_steps 2 × batch 2 gives the gradients and loss of batch 4 (same batches, summed gradients)")
    func gradientAccumulationEqualsLargerBatch() throws {
        let dir = scratchFolder()
        let data = englishText(in: dir)
        // One step: the gradients are compared where both runs computed them, at the same starting weights (after
        // AdamW, rounding-level differences in tiny gradients are amplified to the size of the learning rate).
        var big = fineTuneConfig(steps: 1)
        big.batchSize = 4
        var accumulated = fineTuneConfig(steps: 1)
        accumulated.batchSize = 2
        accumulated.gradAccumSteps = 2
        let a = try Trainer(config: big, dataPath: data, format: .text,
                            checkpoint: dir.appendingPathComponent("a.safetensors").path, workers: 1)
        let b = try Trainer(config: accumulated, dataPath: data, format: .text,
                            checkpoint: dir.appendingPathComponent("b.safetensors").path, workers: 1)
        let ra = try a.run(), rb = try b.run()
        #expect(ra.tokensSeen == rb.tokensSeen && ra.tokensSeen == 4 * 32)
        #expect(abs(ra.trainLoss! - rb.trainLoss!) < 1e-5)
        var worst: Float = 0, largest: Float = 0
        for i in 0..<a.model.parameterCount {
            worst = max(worst, abs(a.model.gradients[i] - b.model.gradients[i]))
            largest = max(largest, abs(a.model.gradients[i]))
        }
        #expect(largest > 1e-3)
        #expect(worst <= 1e-5 * largest)
    }

    @Test("a Quill checkpoint is a starting point too")
    func fineTuneFromQuillCheckpoint() throws {
        let dir = scratchFolder()
        let data = englishText(in: dir)
        let first = try Trainer(config: fineTuneConfig(steps: 3), dataPath: data, format: .text,
                                checkpoint: dir.appendingPathComponent("first.safetensors").path, workers: 1)
        try first.run()
        var c = fineTuneConfig(steps: 2)
        c.initFrom = first.files.best.path
        c.blockSize = 16
        let second = try Trainer(config: c, dataPath: data, format: .text,
                                 checkpoint: dir.appendingPathComponent("second.safetensors").path, workers: 1)
        let start = try Checkpoint.read(from: first.files.best).cropped(toBlockSize: 16)
        #expect(Array(second.model.parameters) == start.parameters)
    }
}
