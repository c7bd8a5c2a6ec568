// The training loop end to end on a tiny model: it learns, it writes its files, a resumed run equals an
// uninterrupted one, and bad output paths fail before anything is written.
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTraining
import Testing

@Suite("Trainer", .needsShakespeare)
struct TrainerTests {
    @Test("a tiny run lowers the loss and writes the checkpoint, state, metrics and plot")
    func run() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(20_000, in: dir)
        var cfg = tinyConfig(steps: 40, dropout: 0)
        cfg.evalInterval = 20
        let t = try Trainer(config: cfg, dataPath: data, format: .text, checkpoint: dir.appendingPathComponent("m.safetensors").path)
        var events = 0
        let record = try t.run(onEvent: { _ in events += 1 })
        #expect(record.steps == 40 && record.history.map(\.step) == [0, 20, 40])
        #expect(record.history.last!.valLoss < record.history.first!.valLoss - 0.3)
        for f in [t.files.best, t.files.last, t.files.state, t.files.metrics, t.files.plot] {
            #expect(FileManager.default.fileExists(atPath: f.path), "\(f.lastPathComponent) missing")
        }
        let svg = try String(contentsOf: t.files.plot, encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("polyline"))
        // Rewritten at every evaluation: each curve has all three points, not just step 0's.
        let curves = svg.components(separatedBy: "points=\"").dropFirst().map { $0.prefix { $0 != "\"" } }
        #expect(curves.count == 2 && curves.allSatisfy { $0.split(separator: " ").count == 3 })
        let best = try Checkpoint.read(from: t.files.best)
        #expect(best.training.bestValLoss == record.bestValLoss)
        #expect(best.training.corpusBytes == 20_000)
        #expect(events > 3)
    }

    @Test("an interrupted then resumed run gives the same losses and weights as an uninterrupted one")
    func resumeIsExact() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(20_000, in: dir)
        let cfg = tinyConfig(steps: 12, dropout: 0.1)
        let whole = try Trainer(config: cfg, dataPath: data, format: .text, checkpoint: dir.appendingPathComponent("a.safetensors").path)
        let a = try whole.run()

        let first = try Trainer(config: cfg, dataPath: data, format: .text, checkpoint: dir.appendingPathComponent("b.safetensors").path)
        var steps = 0
        _ = try first.run(shouldStop: { steps += 1; return steps == 6 })
        #expect(first.step == 6)
        let second = try Trainer(resuming: dir.appendingPathComponent("b.safetensors").path)
        #expect(second.step == 6)
        let b = try second.run()
        // Wall-clock seconds differ; everything else is identical.
        func key(_ e: EvalRecord) -> String { "\(e.step) \(e.tokens) \(e.trainLoss) \(e.valLoss) \(e.learningRate)" }
        #expect(a.history.map(key) == b.history.map(key))
        #expect(b.history.map(\.step) == [0, 4, 8, 12])
        #expect(a.trainLoss == b.trainLoss)
        for i in 0..<whole.model.parameterCount { #expect(whole.model.parameters[i] == second.model.parameters[i]) }
    }

    @Test("chat_template is recorded in the checkpoint's config, and a fine-tune keeps its base's")
    func chatTemplateRecorded() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(5_000, in: dir)
        var cfg = tinyConfig(steps: 2, dropout: 0)
        cfg.chatTemplate = "chatml"
        let base = dir.appendingPathComponent("base.safetensors")
        _ = try Trainer(config: cfg, dataPath: data, format: .text, checkpoint: base.path).run()
        guard case .gpt(let g) = try Checkpoint.read(from: base).spec else { Issue.record("not a GPT"); return }
        #expect(g.chatTemplate == .chatml)
        var tune = tinyConfig(steps: 2, dropout: 0)
        tune.initFrom = base.path
        let tuned = dir.appendingPathComponent("tuned.safetensors")
        _ = try Trainer(config: tune, dataPath: data, format: .text, checkpoint: tuned.path).run()
        guard case .gpt(let t) = try Checkpoint.read(from: tuned).spec else { Issue.record("not a GPT"); return }
        #expect(t.chatTemplate == .chatml)
        #expect(throws: TrainingError.self) { try TrainConfig.load(file: nil, overrides: [("chat_template", "jinja")]) }
    }

    @Test("an output folder that does not exist is an error before anything is written")
    func badOutput() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(5_000, in: dir)
        do {
            _ = try Trainer(config: tinyConfig(), dataPath: data, format: .text, checkpoint: dir.path + "/no/such/m.safetensors")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("does not exist"))
        }
    }

    @Test("a finished run resumes with a larger max_steps; model-shaping keys cannot change")
    func resumeFurther() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(8_000, in: dir)
        let path = dir.appendingPathComponent("f.safetensors").path
        try Trainer(config: tinyConfig(steps: 4), dataPath: data, format: .text, checkpoint: path).run()
        let more = try Trainer(resuming: path, overrides: [("max_steps", "8")])
        let r = try more.run()
        #expect(r.steps == 8 && more.config.maxSteps == 8)
        do {
            _ = try Trainer(resuming: path, overrides: [("n_layer", "3")])
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("cannot change on --resume"))
        }
    }

    @Test("resuming with a different corpus is refused")
    func resumeWrongData() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(8_000, in: dir)
        let t = try Trainer(config: tinyConfig(steps: 4), dataPath: data, format: .text, checkpoint: dir.appendingPathComponent("c.safetensors").path)
        try t.run()
        let other = try shakespeareSlice(9_000, in: dir, name: "other.txt")
        do {
            _ = try Trainer(resuming: dir.appendingPathComponent("c.safetensors").path, dataPath: other)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("SHA-256 differs"))
        }
    }

    @Test("a BPE tokenizer fit on the corpus, or GPT-2's files, travel inside the checkpoint", .needsGPT2, arguments: ["bpe", "gpt2"])
    func tokenizers(kind: String) throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(20_000, in: dir)
        var cfg = tinyConfig(steps: 2, dropout: 0)
        cfg.tokenizer = kind == "bpe" ? TokenizerSpec(kind: "bpe", vocabSize: 300)
            : TokenizerSpec(kind: "gpt2", path: TestData.gpt2Directory.path)
        cfg.evalInterval = 2
        let t = try Trainer(config: cfg, dataPath: data, format: .text, checkpoint: dir.appendingPathComponent("k.safetensors").path)
        try t.run()
        let ckpt = try Checkpoint.read(from: t.files.best)
        #expect(ckpt.spec.vocabSize == (kind == "bpe" ? 300 : 50_257))
        let tok = try ckpt.tokenizer.makeTokenizer()
        #expect(try tok.decode(tok.encode("ROMEO: Is the day so young?")) == "ROMEO: Is the day so young?")
    }

    @Test("the bigram baseline trains behind the same loop")
    func bigram() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(20_000, in: dir)
        var cfg = tinyConfig(steps: 60, dropout: 0)
        cfg.model = "bigram"; cfg.learningRate = 0.05; cfg.minLR = 0.01; cfg.evalInterval = 30
        let t = try Trainer(config: cfg, dataPath: data, format: .text, checkpoint: dir.appendingPathComponent("bg.safetensors").path)
        let r = try t.run()
        #expect(r.history.last!.valLoss < r.history.first!.valLoss - 0.5)
    }
}
