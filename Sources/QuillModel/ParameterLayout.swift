// Where every parameter tensor lives in the one flat block: name (Hugging Face GPT-2 names), shape, offset.
// Parameters, gradients and both AdamW moments share this layout, so zero-grad, AdamW, the gradient norm and
// checkpoint writing are each one loop (llm.c fill_in_parameter_sizes).

public struct ParameterTensor: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    /// AdamW decays 2-D weights (matrices, embeddings) only, never biases or LayerNorm gains.
    public var decays: Bool { shape.count >= 2 }
}

public struct ParameterLayout: Sendable, Equatable {
    public private(set) var tensors: [ParameterTensor] = []
    public private(set) var count = 0
    private var index: [String: Int] = [:]

    public init() {}

    /// Appends a tensor at the end of the block.
    public mutating func append(_ name: String, _ shape: [Int]) {
        precondition(index[name] == nil, "duplicate parameter \(name)")
        index[name] = tensors.count
        tensors.append(ParameterTensor(name: name, shape: shape, offset: count))
        count += shape.reduce(1, *)
    }

    public subscript(name: String) -> ParameterTensor? {
        index[name].map { tensors[$0] }
    }

    /// The tensor's elements inside a block laid out this way.
    public func slice(_ name: String, of block: UnsafeMutableBufferPointer<Float>) -> UnsafeMutableBufferPointer<Float> {
        guard let t = self[name] else { preconditionFailure("no parameter \(name)") }
        return UnsafeMutableBufferPointer(rebasing: block[t.offset..<(t.offset + t.count)])
    }
}
