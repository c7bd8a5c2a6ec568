// The training loop: batches → forward → backward → clip → AdamW, with evaluation, the best checkpoint by
// validation loss, a resumable state, metrics.jsonl and loss.svg beside the checkpoint. It reports progress as
// events and leaves printing to the executable.
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTensor
import QuillTokenizers

/// What the loop reports as it goes.
public enum TrainingEvent: Sendable {
    case started(parameters: Int, trainTokens: Int, valTokens: Int, vocabSize: Int, fromStep: Int)
    case step(step: Int, maxSteps: Int, loss: Float, learningRate: Float, tokensPerSecond: Double, elapsed: Double, eta: Double)
    case evaluated(EvalRecord, isBest: Bool, sample: String?)
    case stopped(step: Int, reason: String)
}

/// Files of one run, all derived from the checkpoint path NAME.safetensors.
public struct RunFiles: Sendable {
    /// The best checkpoint by validation loss.
    public let best: URL
    /// The latest weights (resume reads these with the state).
    public let last: URL
    /// Optimizer moments, step and generator states.
    public let state: URL
    public let metrics: URL
    public let plot: URL

    public init(checkpoint path: String) {
        best = URL(fileURLWithPath: path)
        var stem = best.lastPathComponent
        if stem.hasSuffix(".safetensors") { stem = String(stem.dropLast(".safetensors".count)) }
        let dir = best.deletingLastPathComponent()
        last = dir.appendingPathComponent(stem + ".last.safetensors")
        state = dir.appendingPathComponent(stem + ".state.safetensors")
        metrics = dir.appendingPathComponent(stem + ".metrics.jsonl")
        plot = dir.appendingPathComponent(stem + ".loss.svg")
        pendingLast = dir.appendingPathComponent("." + stem + ".last.safetensors.pending")
        pendingState = dir.appendingPathComponent("." + stem + ".state.safetensors.pending")
        self.stem = stem
        self.directory = dir
    }

    /// The next NAME.last and NAME.state, complete on disk before either replaces the old pair (`Trainer.saveState`).
    public let pendingLast: URL
    public let pendingState: URL
    let stem: String
    let directory: URL

    /// Whether a run is already here (any of its checkpoint, latest weights or state).
    public var exist: Bool {
        [best, last, state].contains { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// Temporary files a killed write left behind: AtomicFileWriter's ".NAME.tmp-PID" of this run's files, the plot's.
    var temporaries: [URL] {
        let names = [best, last, state, metrics, plot, pendingLast, pendingState].map(\.lastPathComponent)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return entries.filter { e in
            names.contains { e.hasPrefix("." + $0 + ".tmp-") } || e == plot.lastPathComponent + ".tmp"
        }.map { directory.appendingPathComponent($0) }
    }
}

/// Where a run's tokens come from: a text file tokenized at start, or a shard folder made by `quill-train prepare`.
struct RunData {
    let tokenizer: any Tokenizer
    let split: TokenSplit
    /// The corpus's identity: the file's SHA-256, or the manifest's (which lists every shard's).
    let sha256: String
    let bytes: Int
    /// text, lines or jsonl: how the documents were cut (for shards, as prepare read its sources).
    let format: DataFormat
    let shards: Bool

    /// Loads `path` (a file in `format`, or a shard folder). The tokenizer: `given` (a fine-tune's, which a shard
    /// folder must have been made with), else the shards', else one built from `spec` on the corpus.
    static func load(path: String, format: DataFormat, spec: TokenizerSpec, given: (any Tokenizer)?, valFraction: Double,
                     blockSize: Int) throws(TrainingError) -> RunData {
        if ShardSet.isShardFolder(path) {
            let set = try ShardSet(directory: path)
            let tokenizer = try set.makeTokenizer()
            if let given, given.serialized != tokenizer.serialized {
                throw .data(path: path, reason: "these shards were made with another tokenizer than the model's; prepare them with --tokenizer-from the model")
            }
            return RunData(tokenizer: given ?? tokenizer, split: try set.split(blockSize: blockSize), sha256: set.manifestSHA256,
                           bytes: set.manifest.sources.reduce(0) { $0 + $1.bytes }, format: set.format, shards: true)
        }
        let corpus = try Corpus(path: path, format: format)
        let tokenizer: any Tokenizer
        if let given { tokenizer = given } else { tokenizer = try corpus.makeTokenizer(spec) }
        let tokens = try corpus.tokens(with: tokenizer)
        return RunData(tokenizer: tokenizer,
                       split: try TokenSplit(tokens: tokens, valFraction: valFraction, blockSize: blockSize, path: path),
                       sha256: sha256Hex(corpus.bytes), bytes: corpus.bytes.count, format: format, shards: false)
    }
}

/// What a resumable state carries besides tensors (TrainingState.extra, JSON).
struct RunInfo: Codable {
    var config: TrainConfig
    var dataPath: String
    var format: String
    var record: TrainingRecord
    var step: Int
}

public final class Trainer {
    public let config: TrainConfig
    public let files: RunFiles
    public let tokenizer: any Tokenizer
    public let model: any LanguageModel
    public let optimizer: AdamW
    public private(set) var record: TrainingRecord
    public private(set) var step = 0
    let split: TokenSplit
    let spec: ModelSpec
    let dataPath: String
    /// The data's format as RunInfo stores it: text, lines, jsonl, or "shards".
    let dataKind: String
    var sampler: BatchSampler
    /// The ranks of a data-parallel run (nil: this process alone).
    public let communicator: (any Communicator)?
    var rank: Int { communicator?.rank ?? 0 }

    /// A fresh run. Checks data, config and output before anything is written. An existing run at `checkpoint` is
    /// an error unless `force` (which removes its files first): continue it with `init(resuming:)` instead.
    /// createFolder: make the checkpoint's folder if it is missing (once the data has passed its checks).
    /// dataPath: a text file in `format`, or a shard folder (`quill-train prepare`; format is then the folder's).
    public init(config: TrainConfig, dataPath: String, format: DataFormat, checkpoint: String,
                command: String? = nil, workers: Int = Parallel.defaultWorkers, createFolder: Bool = false,
                force: Bool = false, communicator: (any Communicator)? = nil) throws(TrainingError) {
        try config.validate()
        if let communicator, config.batchSize % communicator.size != 0 {
            throw .config("batch_size \(config.batchSize) must be a multiple of the \(communicator.size) ranks (each takes an equal share)")
        }
        let lead = (communicator?.rank ?? 0) == 0
        var config = config
        let files = RunFiles(checkpoint: checkpoint)
        // A fine-tune starts from another model's weights and keeps its tokenizer and shape.
        var base: Checkpoint? = nil
        var baseTokenizer: (any Tokenizer)? = nil
        if !config.initFrom.isEmpty {
            let b = try Trainer.initialModel(config.initFrom, blockSize: config.blockSize)
            guard case .gpt(let g) = b.spec else { throw .config("init_from \(config.initFrom) does not hold a GPT") }
            config.nLayer = g.nLayer
            config.nHead = g.nHead
            config.nEmbd = g.nEmbd
            config.bias = g.bias
            config.positional = g.positional
            if config.chatTemplate.isEmpty, let t = g.chatTemplate { config.chatTemplate = t.rawValue }
            do { baseTokenizer = try b.tokenizer.makeTokenizer() } catch { throw .tokenizer("\(error)") }
            base = b
        }
        let data = try RunData.load(path: dataPath, format: format, spec: config.tokenizer, given: baseTokenizer,
                                    valFraction: config.valFraction, blockSize: config.blockSize)
        let tokenizer = data.tokenizer
        if createFolder && lead {
            try? FileManager.default.createDirectory(at: files.best.deletingLastPathComponent(), withIntermediateDirectories: true)
        }
        try communicator?.barrier()
        try Trainer.checkWritable(files.best)
        if files.exist && !force {
            throw .output(path: files.best.path, reason: "a run is already here (its checkpoint, .last or .state): continue it with --resume \(files.best.path), or start over with --force")
        }
        try communicator?.barrier()
        if lead {
            try Trainer.recover(files)
            if force {
                for f in [files.best, files.last, files.state, files.metrics, files.plot] { try? FileManager.default.removeItem(at: f) }
            }
        }
        let V = base?.spec.vocabSize ?? tokenizer.vocabularySize
        // Documents apart: lines, jsonl and their shards, with end-of-text opening each document.
        let documentToken = config.documentMask && data.format != .text ? tokenizer.endOfTextID : nil
        let spec: ModelSpec = config.model == "gpt" ? .gpt(config.gptConfig(vocabSize: V, documentToken: documentToken))
            : .bigram(vocabSize: V, blockSize: config.blockSize)
        let model: any LanguageModel
        do { model = try spec.makeModel(seed: config.seed, workers: workers) } catch { throw .model(error.description) }
        if let base {
            guard base.parameters.count == model.parameters.count else {
                throw .model("init_from \(config.initFrom): its weights do not fit the model")
            }
            base.parameters.withUnsafeBufferPointer { model.parameters.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
        }
        self.config = config
        self.files = files
        self.tokenizer = tokenizer
        self.model = model
        self.split = data.split
        self.spec = spec
        self.dataPath = dataPath
        self.dataKind = data.shards ? "shards" : data.format.rawValue
        self.optimizer = AdamW(layout: model.layout, config: AdamWConfig(beta1: config.beta1, beta2: config.beta2,
                                                                         weightDecay: config.weightDecay), workers: workers)
        self.sampler = BatchSampler(seed: config.seed &+ 1)
        self.communicator = communicator
        self.record = TrainingRecord(steps: 0, tokensSeen: 0, corpusSHA256: data.sha256,
                                     corpusBytes: data.bytes, durationSeconds: 0, history: [],
                                     command: command, trainConfig: config.jsonText)
    }

    /// The model of init_from (a Quill checkpoint or a Hugging Face folder) with its context cropped to blockSize.
    static func initialModel(_ path: String, blockSize: Int) throws(TrainingError) -> Checkpoint {
        do {
            let base = try Checkpoint.load(path: path)
            guard blockSize <= base.spec.blockSize else {
                throw TrainingError.config("block_size \(blockSize) exceeds the context of init_from \(path) "
                                           + "(\(base.spec.blockSize)); use block_size <= \(base.spec.blockSize)")
            }
            return try base.cropped(toBlockSize: blockSize)
        } catch let error as TrainingError {
            throw error
        } catch let error as CheckpointError {
            throw .data(path: path, reason: "cannot start from it: \(error.description)")
        } catch {
            throw .data(path: path, reason: "\(error)")
        }
    }

    /// Continues the run whose best checkpoint is `checkpoint` (it reads NAME.last and NAME.state beside it, which
    /// must be from the same step). The data must be the run's own (checked by SHA-256); dataPath overrides its
    /// location. overrides: `TrainConfig.resumableKeys` only (e.g. a larger max_steps to train further). The best
    /// validation loss is the lower of the state's and the best checkpoint's, so a worse model never replaces it.
    public init(resuming checkpoint: String, dataPath: String? = nil, overrides: [(key: String, value: String)] = [],
                command: String? = nil, workers: Int = Parallel.defaultWorkers,
                communicator: (any Communicator)? = nil) throws(TrainingError) {
        let files = RunFiles(checkpoint: checkpoint)
        if (communicator?.rank ?? 0) == 0 { try Trainer.recover(files) }
        try communicator?.barrier()
        let last: Checkpoint, state: TrainingState
        var info: RunInfo
        do {
            last = try Checkpoint.read(from: files.last)
            state = try TrainingState.read(from: files.state, expectedCount: last.layout.count)
        } catch {
            throw .data(path: checkpoint, reason: "cannot resume: \(error.description)")
        }
        do {
            info = try JSONDecoder().decode(RunInfo.self, from: Data(state.extra.utf8))
        } catch {
            throw .data(path: files.state.path, reason: "cannot resume: the run description is unreadable (\(error))")
        }
        guard last.training.steps == info.step else {
            throw .data(path: files.state.path, reason: "cannot resume: \(files.last.lastPathComponent) is from step \(last.training.steps) and \(files.state.lastPathComponent) from step \(info.step); they were not saved together")
        }
        info.config = try info.config.resumed(with: overrides)
        if let communicator, info.config.batchSize % communicator.size != 0 {
            throw .config("batch_size \(info.config.batchSize) must be a multiple of the \(communicator.size) ranks (each takes an equal share)")
        }
        let path = dataPath ?? info.dataPath
        let format: DataFormat
        if info.format == "shards" {
            format = .text  // the folder's own format applies
        } else if let f = DataFormat(rawValue: info.format) {
            format = f
        } else {
            throw .data(path: files.state.path, reason: "unknown data format \(info.format)")
        }
        let given: any Tokenizer
        do { given = try last.tokenizer.makeTokenizer() } catch { throw .tokenizer("\(error)") }
        let data = try RunData.load(path: path, format: format, spec: info.config.tokenizer, given: given,
                                    valFraction: info.config.valFraction, blockSize: info.config.blockSize)
        guard data.sha256 == info.record.corpusSHA256 else {
            throw .data(path: path, reason: "is not the corpus this run was trained on (SHA-256 differs); pass the original \(info.format == "shards" ? "shard folder" : "file") with --data")
        }
        let model: any LanguageModel
        do { model = try last.makeModel(workers: workers) } catch { throw .model(error.description) }
        self.config = info.config
        self.files = files
        self.tokenizer = given
        self.model = model
        self.split = data.split
        self.spec = last.spec
        self.dataPath = path
        self.dataKind = info.format
        self.optimizer = AdamW(layout: model.layout, config: AdamWConfig(beta1: info.config.beta1, beta2: info.config.beta2,
                                                                         weightDecay: info.config.weightDecay), workers: workers)
        state.restore(into: optimizer)
        self.sampler = BatchSampler(seed: 0)
        self.communicator = communicator
        sampler.rng.state = state.rngs["sampler"] ?? 0
        if let gpt = model as? GPT {
            gpt.trainingPasses = state.rngs["dropout_passes"] ?? 0
            if let seed = state.rngs["dropout_seed"] { gpt.dropoutSeed = seed }
        }
        self.record = info.record
        // The best checkpoint may be newer than the state (written at an evaluation after the last save).
        if let best = try? Checkpoint.read(from: files.best), let v = best.training.bestValLoss {
            record.bestValLoss = min(record.bestValLoss ?? v, v)
        }
        if let command { record.command = (record.command.map { $0 + " ; " } ?? "") + command }
        self.step = info.step
    }

    /// Puts a run's files in order after a crash: a pending NAME.last whose state was committed (the kill came
    /// between the two renames of saveState) is moved into place; any other pending or temporary file is removed.
    static func recover(_ files: RunFiles) throws(TrainingError) {
        let fm = FileManager.default
        for t in files.temporaries { try? fm.removeItem(at: t) }
        if fm.fileExists(atPath: files.pendingState.path) {
            // The state was never committed: neither pending file is part of a saved pair.
            try? fm.removeItem(at: files.pendingState)
            try? fm.removeItem(at: files.pendingLast)
            return
        }
        guard fm.fileExists(atPath: files.pendingLast.path) else { return }
        var committed = false
        if let pending = try? Checkpoint.read(from: files.pendingLast),
           let state = try? TrainingState.read(from: files.state, expectedCount: pending.layout.count),
           let info = try? JSONDecoder().decode(RunInfo.self, from: Data(state.extra.utf8)) {
            committed = info.step == pending.training.steps
        }
        if committed {
            guard rename(files.pendingLast.path, files.last.path) == 0 else {
                throw .output(path: files.last.path, reason: "cannot finish the interrupted save: rename: \(String(cString: strerror(errno)))")
            }
        } else {
            try? fm.removeItem(at: files.pendingLast)
        }
    }

    // MARK: - The loop

    /// Trains until max_steps, max_minutes, or shouldStop() returns true (checked after every step: SIGINT and
    /// SIGTERM land there). Always leaves a resumable state behind. Returns the run's record.
    @discardableResult
    public func run(shouldStop: () -> Bool = { false }, onEvent: (TrainingEvent) -> Void = { _ in })
        throws(TrainingError) -> TrainingRecord {
        let B = config.batchSize, T = config.blockSize
        let schedule = config.schedule
        // Data-parallel: every rank draws the same global batch and takes its own rows of it.
        let ranks = communicator?.size ?? 1
        let lead = rank == 0
        let Bl = B / ranks
        (model as? GPT)?.sampleOffset = rank * Bl
        onEvent(.started(parameters: model.parameterCount, trainTokens: split.train.count, valTokens: split.val.count,
                         vocabSize: tokenizer.vocabularySize, fromStep: step))
        // A resumable pair exists from the first step on, so that a kill at any moment leaves a run to --resume.
        if lead && !FileManager.default.fileExists(atPath: files.state.path) { try saveState() }
        let startTime = Date()
        let priorSeconds = record.durationSeconds
        var windowStart = Date(), windowTokens = 0
        var lastLoss: Float = .nan
        var stopReason: String? = nil
        // Whether the time budget is spent: the lead rank's clock decides, so that all ranks stop at one step.
        var timeUp = false
        while true {
            let elapsed = priorSeconds + Date().timeIntervalSince(startTime)
            if lead && step % config.evalInterval == 0 && record.history.last?.step != step {
                try evaluate(elapsed: elapsed, trainLoss: lastLoss, onEvent: onEvent)
                windowStart = Date()  // throughput counts training steps only
                windowTokens = 0
            }
            if step >= config.maxSteps { break }
            if ranks == 1 { timeUp = config.maxMinutes > 0 && elapsed >= config.maxMinutes * 60 }
            if timeUp {
                stopReason = "time budget of \(config.maxMinutes) minutes reached"
                break
            }
            let lr = schedule.rate(at: step)
            let accum = config.gradAccumSteps
            do {
                // Gradients of grad_accum_steps micro-batches summed (the first backward sets them, the others add),
                // then averaged.
                var lossSum: Float = 0
                for micro in 0..<accum {
                    var batch = sampler.batch(from: split.train, B: B, T: T)
                    if ranks > 1 {
                        let rows = (rank * Bl * T)..<((rank + 1) * Bl * T)
                        batch = (Array(batch.x[rows]), Array(batch.y[rows]))
                    }
                    lossSum += try model.forward(inputs: batch.x, targets: batch.y, batchSize: Bl, sequenceLength: T) ?? .nan
                    try model.backward(accumulate: micro > 0)
                }
                lastLoss = lossSum / Float(accum)
                if accum > 1 { scale(model.gradients, by: 1 / Float(accum)) }
            } catch {
                throw .model(error.description)
            }
            var interrupted = shouldStop()
            if let communicator {
                // Every rank's gradients, averaged (equal shares of the batch, so the mean of the means), and in the
                // same call's sibling: the mean loss, and whether any rank was interrupted or the budget is spent.
                try communicator.sum(model.gradients.baseAddress!, count: model.parameterCount)
                scale(model.gradients, by: 1 / Float(ranks))
                let el = priorSeconds + Date().timeIntervalSince(startTime)
                var flags = [Double(lastLoss), interrupted ? 1 : 0,
                             lead && config.maxMinutes > 0 && el >= config.maxMinutes * 60 ? 1 : 0]
                try communicator.sum(&flags)
                lastLoss = Float(flags[0] / Double(ranks))
                interrupted = flags[1] > 0
                timeUp = flags[2] > 0
            }
            // Clipping as clip_grad_norm_ would, with its factor applied inside the update (no pass of its own).
            let clip = config.gradClip > 0 ? clipFactor(norm: gradientNorm(model.gradients), maxNorm: config.gradClip) : 1
            optimizer.update(params: model.parameters, grads: model.gradients, lr: lr, gradScale: clip)
            step += 1
            record.steps = step
            record.tokensSeen += B * T * accum
            record.trainLoss = lastLoss
            windowTokens += B * T * accum
            if step % config.logInterval == 0 || step == config.maxSteps {
                let now = Date()
                let rate = Double(windowTokens) / max(1e-9, now.timeIntervalSince(windowStart))
                let el = priorSeconds + now.timeIntervalSince(startTime)
                var eta = Double(config.maxSteps - step) * Double(B * T * accum) / max(rate, 1e-9)
                if config.maxMinutes > 0 { eta = min(eta, max(0, config.maxMinutes * 60 - el)) }
                onEvent(.step(step: step, maxSteps: config.maxSteps, loss: lastLoss, learningRate: lr,
                              tokensPerSecond: rate, elapsed: el, eta: eta))
                if lead {
                    appendMetrics(["step": step, "loss": Double(lastLoss), "lr": Double(lr), "tokens_per_s": rate.rounded()])
                }
                windowStart = now
                windowTokens = 0
            }
            if lead && config.saveInterval > 0 && step % config.saveInterval == 0 && step % config.evalInterval != 0 {
                try saveState()
            }
            if !lastLoss.isFinite { stopReason = "the loss is \(lastLoss) (diverged: lower learning_rate?)"; break }
            if interrupted { stopReason = "interrupted"; break }
        }
        record.durationSeconds = priorSeconds + Date().timeIntervalSince(startTime)
        if lead && (stopReason == nil || stopReason!.hasPrefix("time budget")) {
            // A finished run ends with an evaluation, so the record's last val loss is the final model's.
            if record.history.last?.step != step {
                try evaluate(elapsed: record.durationSeconds, trainLoss: lastLoss, onEvent: onEvent)
            }
        }
        if lead && !savedAtStep(step) { try saveState() }
        // The other ranks wait for the lead's last files before they report the run done.
        try communicator?.barrier()
        if let stopReason { onEvent(.stopped(step: step, reason: stopReason)) }
        return record
    }

    /// Mean loss over eval_iters random batches of each split (dropout off), from a generator seeded by the step,
    /// so evaluation never disturbs the training batches. Saves the best checkpoint and the plot.
    func evaluate(elapsed: Double, trainLoss: Float, onEvent: (TrainingEvent) -> Void) throws(TrainingError) {
        let trainEval = try meanLoss(split.train, stream: 1)
        let valEval = try meanLoss(split.val, stream: 2)
        let lr = config.schedule.rate(at: step)
        let rec = EvalRecord(step: step, tokens: record.tokensSeen, seconds: elapsed, trainLoss: trainEval,
                             valLoss: valEval, learningRate: lr)
        record.history.append(rec)
        record.valLoss = valEval
        record.durationSeconds = elapsed
        let isBest = record.bestValLoss.map { valEval < $0 } ?? true
        if isBest {
            record.bestValLoss = valEval
            try writeCheckpoint(to: files.best)
        }
        appendMetrics(["step": step, "tokens": record.tokensSeen, "seconds": (elapsed * 10).rounded() / 10,
                       "train_loss": Double(trainEval), "val_loss": Double(valEval), "lr": Double(lr)])
        writePlot()
        if config.saveInterval == 0 || step % config.saveInterval == 0 { try saveState() }
        var text: String? = nil
        if config.sampleTokens > 0 { text = sample(tokens: config.sampleTokens, seed: UInt64(step)) }
        onEvent(.evaluated(rec, isBest: isBest, sample: text))
    }

    func meanLoss(_ tokens: TokenStream, stream: UInt64) throws(TrainingError) -> Float {
        var s = BatchSampler(seed: SplitMix64.mix(config.seed ^ (UInt64(step) << 8) ^ stream))
        let wasTraining = model.isTraining
        model.isTraining = false
        defer { model.isTraining = wasTraining }
        var total = 0.0
        for _ in 0..<config.evalIters {
            let b = s.batch(from: tokens, B: config.batchSize, T: config.blockSize)
            do {
                total += Double(try model.forward(inputs: b.x, targets: b.y, batchSize: config.batchSize,
                                                  sequenceLength: config.blockSize) ?? .nan)
            } catch { throw .model(error.description) }
        }
        return Float(total / Double(config.evalIters))
    }

    /// A short continuation of the start token (`Tokenizer.startToken`), or "" on failure.
    public func sample(tokens n: Int, seed: UInt64) -> String {
        let start = Int32(tokenizer.startToken)
        guard let ids = try? model.generate(prompt: [start], maxNewTokens: n,
                                            options: SamplingOptions(temperature: 0.8, topK: 40, seed: seed)) else { return "" }
        return (try? tokenizer.decode(ids.map(Int.init))) ?? ""
    }

    // MARK: - Files

    func writeCheckpoint(to url: URL) throws(TrainingError) {
        do {
            try Checkpoint.write(model: model, spec: spec, tokenizer: tokenizer.serialized, training: record, to: url)
        } catch {
            throw .output(path: url.path, reason: error.description)
        }
    }

    /// The step of the last saveState (nil before any).
    private var lastSavedStep: Int? = nil
    private func savedAtStep(_ n: Int) -> Bool { lastSavedStep == n }

    /// The latest weights and the optimizer state, for --resume, saved as one pair: both are written whole (and
    /// fsync'd) beside their destinations first, then the state is renamed into place (the commit), then the
    /// weights. A kill before the commit leaves the old pair; a kill after it is finished by `recover` at the
    /// next start. So NAME.last and NAME.state are always from one step.
    public func saveState() throws(TrainingError) {
        try writeCheckpoint(to: files.pendingLast)
        var rngs = ["sampler": sampler.rng.state]
        if let gpt = model as? GPT {
            rngs["dropout_passes"] = gpt.trainingPasses
            rngs["dropout_seed"] = gpt.dropoutSeed
        }
        let info = RunInfo(config: config, dataPath: dataPath, format: dataKind, record: record, step: step)
        let extra = String(decoding: (try? JSONEncoder().encode(info)) ?? Data(), as: UTF8.self)
        do {
            try TrainingState.write(optimizer: optimizer, rngs: rngs, extra: extra, to: files.pendingState)
        } catch {
            throw .output(path: files.state.path, reason: error.description)
        }
        guard rename(files.pendingState.path, files.state.path) == 0 else {
            throw .output(path: files.state.path, reason: "rename: \(String(cString: strerror(errno)))")
        }
        guard rename(files.pendingLast.path, files.last.path) == 0 else {
            throw .output(path: files.last.path, reason: "rename: \(String(cString: strerror(errno)))")
        }
        let dir = open(files.directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 { _ = fsync(dir); close(dir) }
        lastSavedStep = step
    }

    private func appendMetrics(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        var line = data
        line.append(0x0A)
        // open(2) with O_APPEND, creating the file the first time: FileManager.createFile writes through a
        // ".dat.nosync…" temporary beside it, which a SIGKILL at that moment left behind (seen in the crash test).
        let fd = open(files.metrics.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        line.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                done += n
            }
        }
    }

    private func writePlot() {
        var train: [(Int, Float)] = [], val: [(Int, Float)] = []
        for e in record.history { train.append((e.step, e.trainLoss)); val.append((e.step, e.valLoss)) }
        let svg = LossPlot.svg(title: "\(files.best.lastPathComponent): loss", series: [
            ("train", "#1f77b4", train), ("val", "#d62728", val),
        ])
        let tmp = files.plot.appendingPathExtension("tmp")
        if (try? svg.write(to: tmp, atomically: false, encoding: .utf8)) != nil {
            // rename(2) replaces the old plot atomically (FileManager.replaceItemAt does not on Linux).
            if rename(tmp.path, files.plot.path) != 0 { try? FileManager.default.removeItem(at: tmp) }
        }
    }

    /// The checkpoint's folder must exist and be writable before any work starts.
    static func checkWritable(_ url: URL) throws(TrainingError) {
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw .output(path: url.path, reason: "the folder \(dir) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: dir) else {
            throw .output(path: url.path, reason: "the folder \(dir) is not writable")
        }
        var isDirOut: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirOut), isDirOut.boolValue {
            throw .output(path: url.path, reason: "is a directory, expected a .safetensors file path")
        }
    }
}

/// Hex SHA-256 of a byte array (through QuillCheckpoint's OpenSSL binding).
func sha256Hex(_ bytes: [UInt8]) -> String {
    bytes.withUnsafeBytes { QuillCheckpoint.sha256Hex($0) }
}
