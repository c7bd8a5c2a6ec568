// quill-train train: a run from a preset (any key overridable as --key value), or --resume of a stopped run.
import ArgumentParser
import Dispatch
import Foundation
import QuillModel
import QuillTensor
import QuillSettings
import QuillTraining

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model; any config key can be overridden: --max-steps 2000 --dropout 0.1 …",
        discussion: TrainConfig.table.helpText)

    @Option(help: "Training preset (JSON), e.g. Config/train/shakespeare-char.json.") var config: String?
    @Option(help: "Training text (plain UTF-8, or .gz), or a shard folder from quill-train prepare.") var data: String?
    @Option(help: "Checkpoint to write (default: checkpoints/<preset name>.safetensors).") var out: String?
    @Option(help: "Data format: text (one stream), lines (a document per line), jsonl ({\"text\": …} per line).")
    var format: String = "text"
    @Option(help: "Continue the run whose checkpoint this is (reads NAME.last and NAME.state beside it).") var resume: String?
    @Option(help: "Worker threads (default: all cores, or QUILL_THREADS).") var threads: Int?
    @Flag(help: "Start over even if a run is already at --out (its checkpoint, .last and .state are replaced).")
    var force = false
    @Flag(name: .customLong("settings-table"), help: "Print the settings as the README's Markdown table, and exit.")
    var settingsTable = false
    @Argument(parsing: .allUnrecognized, help: "Config overrides: --key value (any setting below; --init-from DIR fine-tunes).")
    var overrides: [String] = []

    func run() throws {
        if settingsTable {
            print(TrainConfig.table.markdownTable)
            return
        }
        let pairs: [(key: String, value: String)]
        do { pairs = try TrainConfig.table.parseFlags(overrides) } catch { exitWithError(error.description) }
        let workers = threads ?? Parallel.defaultWorkers
        let command = CommandLine.arguments.joined(separator: " ")
        // Started by mpirun as one of several ranks: data-parallel over them (Open MPI, loaded now).
        let world: MPICommunicator?
        do { world = try MPICommunicator.fromEnvironment() } catch { fail(error.description) }
        // An error on one rank must end them all, or the others wait in their next all-reduce forever.
        let fail: (String) -> Never = { message in
            if let world {
                FileHandle.standardError.write(Data("quill-train: error: rank \(world.rank): \(message)\n".utf8))
                world.abort(code: 1)
            }
            exitWithError(message)
        }
        let trainer: Trainer
        do {
            if let resume {
                guard config == nil else { fail("--resume continues a run as it was configured: drop --config") }
                guard !force else { fail("--resume continues a run and --force starts over: choose one") }
                trainer = try Trainer(resuming: resume, dataPath: data, overrides: pairs, command: command, workers: workers,
                                      communicator: world)
            } else {
                guard let data else { fail("--data FILE is required (the text to train on)") }
                guard let fmt = DataFormat(rawValue: format) else { fail("--format must be text, lines or jsonl, got \(format)") }
                let cfg = try TrainConfig.load(file: config, overrides: pairs)
                let name = config.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent } ?? "model"
                let outPath = out ?? "checkpoints/\(name).safetensors"
                // The default folder is created once the data checks pass; an explicit --out folder must exist.
                trainer = try Trainer(config: cfg, dataPath: data, format: fmt, checkpoint: outPath, command: command,
                                      workers: workers, createFolder: out == nil, force: force, communicator: world)
            }
        } catch {
            fail(error.description)
        }
        let stop = StopFlag()
        let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop.set() }
            s.resume()
            return s
        }
        defer { sources.forEach { $0.cancel() } }
        let lead = (world?.rank ?? 0) == 0
        let progress = Progress(interactive: isatty(STDERR_FILENO) == 1)
        if let world, lead {
            printLine("data-parallel over \(world.size) ranks: \(trainer.config.batchSize / world.size) of the \(trainer.config.batchSize) sequences of each batch on each")
        }
        do {
            let record = try trainer.run(shouldStop: { stop.isSet }, onEvent: { if lead { progress.report($0) } })
            progress.finish()
            world?.finalize()
            guard lead else { return }
            printLine("done: \(record.steps) steps, \(record.tokensSeen) tokens in \(duration(record.durationSeconds)); " +
                      "best val loss \(record.bestValLoss.map { String(format: "%.4f", $0) } ?? "-") → \(trainer.files.best.path)")
            if stop.isSet { printLine("resume with: quill-train train --resume \(trainer.files.best.path)") }
        } catch {
            progress.finish()
            fail(error.description)
        }
    }
}

/// Set from a signal handler's queue, read by the training loop after each step.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

func duration(_ s: Double) -> String {
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%dh%02dm%02ds", t / 3600, t / 60 % 60, t % 60)
        : t >= 60 ? String(format: "%dm%02ds", t / 60, t % 60) : "\(t)s"
}

/// A live progress line on a terminal; plain log lines otherwise.
final class Progress {
    let interactive: Bool
    var lineOpen = false

    init(interactive: Bool) { self.interactive = interactive }

    func report(_ e: TrainingEvent) {
        switch e {
        case let .started(p, train, val, vocab, from):
            emit("model: \(p) parameters, vocabulary \(vocab); data: \(train) train / \(val) val tokens" +
                 (from > 0 ? "; resuming at step \(from)" : ""))
        case let .step(step, maxSteps, loss, lr, tps, elapsed, eta):
            let line = String(format: "step %d/%d | loss %.4f | lr %.2e | %.0f tok/s | %@ elapsed | ETA %@",
                              step, maxSteps, loss, lr, tps, duration(elapsed), duration(eta))
            if interactive {
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
                lineOpen = true
            } else {
                printLine(line)
            }
        case let .evaluated(r, best, sample):
            emit(String(format: "eval step %d: train %.4f, val %.4f%@ (%@)", r.step, r.trainLoss, r.valLoss,
                        best ? ", best so far: saved" : "", duration(r.seconds)))
            if let sample, !sample.isEmpty { emit("sample: " + sample.replacingOccurrences(of: "\n", with: "\n        ")) }
        case let .stopped(step, reason):
            emit("stopped at step \(step): \(reason); state saved")
        }
    }

    private func emit(_ s: String) {
        finish()
        printLine(s)
    }

    func finish() {
        if lineOpen { FileHandle.standardError.write(Data("\n".utf8)); lineOpen = false }
    }
}
