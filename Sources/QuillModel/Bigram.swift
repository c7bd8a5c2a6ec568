// The bigram baseline of the notebooks: one V x V table, logits[next] = table[current]. Same training
// interface as the GPT, so the trainer, optimizer and checkpoints treat both alike.
import QuillTensor

public final class Bigram: LanguageModel, @unchecked Sendable {
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer
    public let vocabSize: Int
    public let contextLength: Int
    public var isTraining = true

    private var shape: (B: Int, T: Int) = (0, 0)
    private var logitsBuffer: FloatBuffer
    private var losses: FloatBuffer
    private var inputs: TokenBuffer
    private var targets: TokenBuffer
    private var lastPass: (hasTargets: Bool, valid: Int)? = nil

    /// A table initialised N(0, 0.02), so the first loss is close to ln V. contextLength only bounds batches.
    public init(vocabSize: Int, contextLength: Int, seed: UInt64 = 1337) throws(ModelError) {
        guard vocabSize >= 1 else { throw .invalidConfig(field: "vocab_size", message: "vocab_size must be >= 1, got \(vocabSize)") }
        guard contextLength >= 1 else { throw .invalidConfig(field: "block_size", message: "block_size must be >= 1, got \(contextLength)") }
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        var l = ParameterLayout()
        l.append("token_embedding_table.weight", [vocabSize, vocabSize])
        layout = l
        parameters = allocateFloats(l.count)
        gradients = allocateFloats(l.count)
        logitsBuffer = allocateFloats(0)
        losses = allocateFloats(0)
        inputs = TokenBuffer.allocate(capacity: 1)
        targets = TokenBuffer.allocate(capacity: 1)
        var rng = SplitMix64(seed: seed)
        for i in 0..<l.count { parameters[i] = rng.nextGaussian() * 0.02 }
    }

    deinit {
        freeFloats(parameters)
        freeFloats(gradients)
        freeFloats(logitsBuffer)
        freeFloats(losses)
        inputs.deallocate()
        targets.deallocate()
    }

    @discardableResult
    public func forward(inputs ids: [Int32], targets tgt: [Int32]?, batchSize B: Int,
                        sequenceLength T: Int) throws(ModelError) -> Float? {
        try validateBatch(inputs: ids, targets: tgt, B: B, T: T, vocabSize: vocabSize, contextLength: contextLength)
        let N = B * T, V = vocabSize
        if shape.B * shape.T != N {
            freeFloats(logitsBuffer); freeFloats(losses); inputs.deallocate(); targets.deallocate()
            logitsBuffer = allocateFloats(N * V)
            losses = allocateFloats(N)
            inputs = TokenBuffer.allocate(capacity: N)
            targets = TokenBuffer.allocate(capacity: N)
        }
        shape = (B, T)
        _ = inputs.update(fromContentsOf: ids)
        for r in 0..<N {
            (logitsBuffer.ptr + r * V).update(from: parameters.ptr + Int(ids[r]) * V, count: V)
        }
        guard let tgt else { lastPass = (false, 0); return nil }
        _ = targets.update(fromContentsOf: tgt)
        let valid = tgt.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
        let total = softmaxCrossEntropyForward(losses, logitsBuffer, targets, rows: N, V: V)
        lastPass = (true, valid)
        return valid > 0 ? Float(total / Double(valid)) : 0
    }

    public func backward() throws(ModelError) {
        guard let pass = lastPass, pass.hasTargets else { throw .noForwardPass }
        lastPass = nil
        guard pass.valid > 0 else { return }
        let N = shape.B * shape.T, V = vocabSize
        softmaxCrossEntropyBackward(logitsBuffer, targets, dloss: 1 / Float(pass.valid), rows: N, V: V)
        for r in 0..<N {
            accumulate(gradients.slice(Int(inputs[r]) * V, V), logitsBuffer.slice(r * V, V), count: V)
        }
    }

    public func logits(sample b: Int, position t: Int) -> [Float] {
        precondition(lastPass?.hasTargets == false && b < shape.B && t < shape.T)
        let V = vocabSize
        return Array(UnsafeBufferPointer(start: logitsBuffer.ptr + (b * shape.T + t) * V, count: V))
    }
}
