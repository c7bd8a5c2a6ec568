// One evaluation during training (step, tokens, time, losses, learning rate): the points of the loss plot that
// travel in a checkpoint's `quill.training` history.

/// One evaluation during training. JSON keys: step, tokens, seconds, train_loss, val_loss, learning_rate
/// (a non-finite loss is written as "nan" / "inf" / "-inf").
public struct EvalRecord: Codable, Sendable, Equatable {
    /// Optimizer steps taken when the evaluation ran.
    public var step: Int
    /// Training tokens seen by then.
    public var tokens: Int
    /// Wall-clock seconds since the run started.
    public var seconds: Double
    /// Mean loss (nats per token) on training batches.
    public var trainLoss: Float
    /// Mean loss (nats per token) on validation batches.
    public var valLoss: Float
    /// The learning rate of that step.
    public var learningRate: Float

    /// One evaluation's numbers.
    public init(step: Int, tokens: Int, seconds: Double, trainLoss: Float, valLoss: Float, learningRate: Float) {
        self.step = step
        self.tokens = tokens
        self.seconds = seconds
        self.trainLoss = trainLoss
        self.valLoss = valLoss
        self.learningRate = learningRate
    }

    enum CodingKeys: String, CodingKey {
        case step, tokens, seconds
        case trainLoss = "train_loss", valLoss = "val_loss", learningRate = "learning_rate"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decode(Int.self, forKey: .step)
        tokens = try c.decode(Int.self, forKey: .tokens)
        seconds = try c.decode(Double.self, forKey: .seconds)
        trainLoss = try c.decodeAllowingNonFinite(forKey: .trainLoss)
        valLoss = try c.decodeAllowingNonFinite(forKey: .valLoss)
        learningRate = try c.decodeAllowingNonFinite(forKey: .learningRate)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(step, forKey: .step)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(seconds, forKey: .seconds)
        try c.encodeAllowingNonFinite(trainLoss, forKey: .trainLoss)
        try c.encodeAllowingNonFinite(valLoss, forKey: .valLoss)
        try c.encodeAllowingNonFinite(learningRate, forKey: .learningRate)
    }
}
