// How a checkpoint's weights came to be (`quill.training`): steps, tokens, losses, the corpus it was trained
// on, the duration, the evaluation history and the command. The trainer fills it; this module only stores it.

/// The training history stored in `__metadata__["quill.training"]` (JSON, snake_case keys; a NaN or infinite
/// loss is written as "nan" / "inf" / "-inf" so that a diverged run can still be saved and inspected).
public struct TrainingRecord: Codable, Sendable, Equatable {
    /// Optimizer steps taken.
    public var steps: Int
    /// Training tokens consumed (steps · batch · block size).
    public var tokensSeen: Int
    /// The latest training loss, if any evaluation ran.
    public var trainLoss: Float?
    /// The latest validation loss, if any evaluation ran.
    public var valLoss: Float?
    /// The lowest validation loss so far (the weights of a "best" checkpoint).
    public var bestValLoss: Float?
    /// Hex SHA-256 of the corpus file, to recognise the data when resuming.
    public var corpusSHA256: String
    /// Size of the corpus file in bytes.
    public var corpusBytes: Int
    /// Wall-clock training time.
    public var durationSeconds: Double
    /// Every evaluation, oldest first.
    public var history: [EvalRecord]
    /// The command line that produced it.
    public var command: String?
    /// The training configuration as JSON text.
    public var trainConfig: String?

    /// A record; everything defaults to "nothing yet" (a run before its first step).
    public init(steps: Int = 0, tokensSeen: Int = 0, trainLoss: Float? = nil, valLoss: Float? = nil,
                bestValLoss: Float? = nil, corpusSHA256: String = "", corpusBytes: Int = 0,
                durationSeconds: Double = 0, history: [EvalRecord] = [], command: String? = nil,
                trainConfig: String? = nil) {
        self.steps = steps
        self.tokensSeen = tokensSeen
        self.trainLoss = trainLoss
        self.valLoss = valLoss
        self.bestValLoss = bestValLoss
        self.corpusSHA256 = corpusSHA256
        self.corpusBytes = corpusBytes
        self.durationSeconds = durationSeconds
        self.history = history
        self.command = command
        self.trainConfig = trainConfig
    }

    enum CodingKeys: String, CodingKey {
        case steps
        case tokensSeen = "tokens_seen"
        case trainLoss = "train_loss"
        case valLoss = "val_loss"
        case bestValLoss = "best_val_loss"
        case corpusSHA256 = "corpus_sha256"
        case corpusBytes = "corpus_bytes"
        case durationSeconds = "duration_seconds"
        case history, command
        case trainConfig = "train_config"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.decode(Int.self, forKey: .steps)
        tokensSeen = try c.decode(Int.self, forKey: .tokensSeen)
        trainLoss = try c.decodeAllowingNonFiniteIfPresent(forKey: .trainLoss)
        valLoss = try c.decodeAllowingNonFiniteIfPresent(forKey: .valLoss)
        bestValLoss = try c.decodeAllowingNonFiniteIfPresent(forKey: .bestValLoss)
        corpusSHA256 = try c.decode(String.self, forKey: .corpusSHA256)
        corpusBytes = try c.decode(Int.self, forKey: .corpusBytes)
        durationSeconds = try c.decode(Double.self, forKey: .durationSeconds)
        history = try c.decodeIfPresent([EvalRecord].self, forKey: .history) ?? []
        command = try c.decodeIfPresent(String.self, forKey: .command)
        trainConfig = try c.decodeIfPresent(String.self, forKey: .trainConfig)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(steps, forKey: .steps)
        try c.encode(tokensSeen, forKey: .tokensSeen)
        try c.encodeAllowingNonFiniteIfPresent(trainLoss, forKey: .trainLoss)
        try c.encodeAllowingNonFiniteIfPresent(valLoss, forKey: .valLoss)
        try c.encodeAllowingNonFiniteIfPresent(bestValLoss, forKey: .bestValLoss)
        try c.encode(corpusSHA256, forKey: .corpusSHA256)
        try c.encode(corpusBytes, forKey: .corpusBytes)
        try c.encode(durationSeconds, forKey: .durationSeconds)
        try c.encode(history, forKey: .history)
        try c.encodeIfPresent(command, forKey: .command)
        try c.encodeIfPresent(trainConfig, forKey: .trainConfig)
    }
}
