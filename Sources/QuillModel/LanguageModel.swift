// The training interface every model offers (GPT and the bigram baseline): parameters and gradients in one
// flat block each, a forward pass that returns the mean loss, and a backward pass that accumulates gradients.
import QuillTensor

public protocol LanguageModel: AnyObject {
    var layout: ParameterLayout { get }
    /// All parameters, laid out by `layout`.
    var parameters: FloatBuffer { get }
    /// Gradients, same layout; backward() accumulates into them, zeroGradients() clears them.
    var gradients: FloatBuffer { get }
    var vocabSize: Int { get }
    /// The longest sequence a forward pass accepts.
    var contextLength: Int { get }
    /// Dropout is active only while training.
    var isTraining: Bool { get set }

    /// Runs the model on `inputs` (B·T ids, row-major). With targets (B·T ids, -1 = ignore) returns the mean
    /// cross-entropy over the targeted positions (nats); without, returns nil and keeps the logits.
    @discardableResult
    func forward(inputs: [Int32], targets: [Int32]?, batchSize B: Int, sequenceLength T: Int) throws(ModelError) -> Float?

    /// Accumulates d(mean loss)/d(parameters) of the last forward pass into `gradients`.
    func backward() throws(ModelError)

    /// accumulate false: `gradients` become the last pass's gradients, whatever they held (as zeroGradients()
    /// then backward(), without the pass that clears them first: PyTorch's zero_grad(set_to_none=True)).
    func backward(accumulate: Bool) throws(ModelError)

    /// Logits (V floats) of sample b at position t from the last forward pass without targets.
    func logits(sample b: Int, position t: Int) -> [Float]
}

extension LanguageModel {
    public func zeroGradients() { zero(gradients) }

    public func backward(accumulate: Bool) throws(ModelError) {
        if !accumulate { zeroGradients() }
        try backward()
    }

    /// Number of parameters.
    public var parameterCount: Int { layout.count }
}

/// Checks a batch's shape and ids before any model reads it.
func validateBatch(inputs: [Int32], targets: [Int32]?, B: Int, T: Int, vocabSize V: Int, contextLength: Int)
    throws(ModelError) {
    guard B >= 1 else { throw .invalidBatch("batch size must be >= 1, got \(B)") }
    guard T >= 1 && T <= contextLength else {
        throw .invalidBatch("sequence length must be in 1...\(contextLength), got \(T)")
    }
    guard inputs.count == B * T else {
        throw .invalidBatch("expected \(B)·\(T) = \(B * T) input ids, got \(inputs.count)")
    }
    for (i, id) in inputs.enumerated() where id < 0 || Int(id) >= V {
        throw .tokenOutOfRange(id: id, index: i, vocabSize: V)
    }
    if let targets {
        guard targets.count == B * T else {
            throw .invalidBatch("expected \(B * T) target ids, got \(targets.count)")
        }
        for (i, id) in targets.enumerated() where id != ignoreIndex && (id < 0 || Int(id) >= V) {
            throw .targetOutOfRange(id: id, index: i, vocabSize: V)
        }
    }
}
