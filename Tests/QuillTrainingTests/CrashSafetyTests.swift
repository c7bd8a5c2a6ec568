// Crash-safe runs: NAME.last and NAME.state are one pair from one step, a save cut short is finished or undone at
// the next start, an existing run is never overwritten by accident, and a run killed with SIGKILL at random
// moments resumes without its best checkpoint ever getting worse.
import Foundation
import QuillCheckpoint
import QuillModel
@testable import QuillTraining
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Crash-safe runs", .needsShakespeare)
struct CrashSafetyTests {
    func stepOf(_ url: URL) throws -> Int { try Checkpoint.read(from: url).training.steps }

    @Test("a fresh run over an existing one is refused without force; force starts over")
    func noAccidentalOverwrite() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(20_000, in: dir)
        let path = dir.appendingPathComponent("m.safetensors").path
        try Trainer(config: tinyConfig(steps: 4), dataPath: data, format: .text, checkpoint: path).run()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            _ = try Trainer(config: tinyConfig(steps: 4), dataPath: data, format: .text, checkpoint: path)
            Issue.record("an existing run was overwritten")
        } catch {
            #expect("\(error)".contains("--resume") && "\(error)".contains("--force"))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        let again = try Trainer(config: tinyConfig(steps: 2), dataPath: data, format: .text, checkpoint: path, force: true)
        try again.run()
        #expect(try stepOf(URL(fileURLWithPath: path)) <= 2)
    }

    @Test("a kill between the state's and the weights' renames is finished at the next start; one before it is undone")
    func recovery() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(20_000, in: dir)
        let path = dir.appendingPathComponent("m.safetensors").path
        let files = RunFiles(checkpoint: path)
        try Trainer(config: tinyConfig(steps: 4), dataPath: data, format: .text, checkpoint: path).run()
        let other = dir.appendingPathComponent("o.safetensors").path
        try Trainer(config: tinyConfig(steps: 8), dataPath: data, format: .text, checkpoint: other).run()
        let o = RunFiles(checkpoint: other)
        let fm = FileManager.default

        // Committed: the state of step 8 is in place, its weights still pending beside the old ones.
        try fm.removeItem(at: files.state)
        try fm.copyItem(at: o.state, to: files.state)
        try fm.copyItem(at: o.last, to: files.pendingLast)
        let stray = dir.appendingPathComponent(".m.last.safetensors.tmp-999")
        try Data("half a file".utf8).write(to: stray)
        let resumed = try Trainer(resuming: path)
        let lastStep = try stepOf(files.last)
        #expect(resumed.step == 8 && lastStep == 8)
        #expect(!fm.fileExists(atPath: files.pendingLast.path) && !fm.fileExists(atPath: stray.path))

        // Not committed: both pending files are dropped and the old pair stays.
        try fm.copyItem(at: o.last, to: files.pendingLast)
        try fm.copyItem(at: o.state, to: files.pendingState)
        try Trainer.recover(files)
        #expect(!fm.fileExists(atPath: files.pendingLast.path) && !fm.fileExists(atPath: files.pendingState.path))
        #expect(try stepOf(files.last) == 8)

        // A pair from two steps (files mixed by hand) is an error that says so.
        let four = dir.appendingPathComponent("f.safetensors").path
        try Trainer(config: tinyConfig(steps: 4), dataPath: data, format: .text, checkpoint: four).run()
        try fm.removeItem(at: files.last)
        try fm.copyItem(at: RunFiles(checkpoint: four).last, to: files.last)
        do {
            _ = try Trainer(resuming: path)
            Issue.record("a mixed pair was accepted")
        } catch {
            let m = "\(error)"
            #expect(m.contains("from step 4") && m.contains("from step 8") && m.contains("not saved together"), "\(m)")
        }
    }

    @Test("resume keeps the best validation loss of the best checkpoint when it is newer than the state")
    func bestIsRestored() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(20_000, in: dir)
        let path = dir.appendingPathComponent("m.safetensors").path
        var c = tinyConfig(steps: 8)
        c.saveInterval = 8  // the state at 0 and 8 only; the best is saved at every better evaluation
        let t = try Trainer(config: c, dataPath: data, format: .text, checkpoint: path)
        try t.run()
        let files = RunFiles(checkpoint: path)
        let best = try Checkpoint.read(from: files.best).training.bestValLoss!
        // Pretend the state is older than the best: a record whose best is worse.
        var state = try TrainingState.read(from: files.state, expectedCount: t.model.parameterCount)
        var info = try JSONDecoder().decode(RunInfo.self, from: Data(state.extra.utf8))
        info.record.bestValLoss = best + 1
        state.extra = String(decoding: try JSONEncoder().encode(info), as: UTF8.self)
        try state.write(to: files.state)
        let resumed = try Trainer(resuming: path)
        #expect(resumed.record.bestValLoss == best)
    }

    @Test("SIGKILL at random moments: every restart resumes, and the best checkpoint's val loss never gets worse")
    func killedAtRandom() throws {
        guard let bin = quillTrainBinary() else { Issue.record("quill-train is not built"); return }
        let dir = scratchFolder()
        let data = try shakespeareSlice(60_000, in: dir)
        let path = dir.appendingPathComponent("k.safetensors").path
        let files = RunFiles(checkpoint: path)
        let args = ["train", "--data", data, "--out", path, "--threads", "1", "--n_layer", "2", "--n_head", "2",
                    "--n_embd", "48", "--block_size", "32", "--batch_size", "8", "--max_steps", "400",
                    "--eval_interval", "5", "--eval_iters", "2", "--sample_tokens", "0", "--dropout", "0",
                    "--learning_rate", "0.003", "--log_interval", "50"]
        var rng = SystemRandomNumberGenerator()
        var bestSoFar = Float.infinity
        var kills = 0
        var finished = false
        for attempt in 0..<32 where !finished {
            let p = Process()
            p.executableURL = bin
            // Nothing to resume until a first pair is saved (a kill before that leaves only temporary files).
            let resumable = FileManager.default.fileExists(atPath: files.state.path)
            p.arguments = resumable ? ["train", "--resume", path, "--threads", "1"] : args
            let err = Pipe()
            p.standardOutput = FileHandle.nullDevice
            p.standardError = err
            try p.run()
            // Kill after 50–450 ms, while it trains, evaluates or writes.
            // After 30 kills' worth of attempts the run is left to finish (a slow machine still ends the test).
            let wait = attempt < 30 ? Double.random(in: 0.05...0.45, using: &rng) : 600
            let deadline = Date().addingTimeInterval(wait)
            while p.isRunning && Date() < deadline { usleep(5_000) }
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                kills += 1
            }
            let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            if p.terminationReason == .exit {
                #expect(p.terminationStatus == 0, "attempt \(attempt): \(message)")
                finished = p.terminationStatus == 0
                if p.terminationStatus != 0 { break }
            }
            if let best = try? Checkpoint.read(from: files.best).training.bestValLoss {
                #expect(best <= bestSoFar, "attempt \(attempt): the best val loss went from \(bestSoFar) to \(best)")
                bestSoFar = min(bestSoFar, best)
            }
        }
        #expect(finished, "the run did not finish in 32 attempts (\(kills) kills)")
        #expect(kills >= 3, "only \(kills) kills")
        #expect(try stepOf(files.last) == 400)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "left behind: \(leftovers)")
    }
}
