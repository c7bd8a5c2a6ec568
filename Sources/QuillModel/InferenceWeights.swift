// The weights a decode needs, in the form it reads them: embeddings, norms and biases as they are (borrowed from a
// training model, or from a file mapped into memory), and the four matrices of every block repacked once into
// 16-column panels, of floats (PackedMatmul.swift) or of 8-bit blocks (Quantized.swift). The panels are the only copy
// the engine reads: a caller serving from a mapped file drops the file's pages of those matrices once they are packed
// (`afterPacking`), so a served model holds each weight once. In 8 bits the tied LM head gets panels of its own
// too, and wte's pages are dropped as well: only the rows of the tokens being embedded are read again.
import QuillTensor

/// How the engine stores the block matrices (and the LM head): f32 panels, or 8-bit blocks of 32 with an f16 scale.
public enum WeightPrecision: String, Sendable, CaseIterable, Codable {
    case f32, q8
}

/// A block matrix in the engine's panels, in either precision.
enum PanelMatrix {
    case f32(PackedWeights)
    case q8(Q8Weights)

    init(_ weight: FloatBuffer, inChannels IC: Int, outChannels OC: Int, precision: WeightPrecision,
         activations: Q8Weights.Activations) {
        switch precision {
        case .f32: self = .f32(PackedWeights(weight, inChannels: IC, outChannels: OC))
        case .q8: self = .q8(Q8Weights(weight, inChannels: IC, outChannels: OC, activations: activations))
        }
    }

    /// out (N, OC) = inp (N, IC) · W + bias, with the output columns shared among `workers` when it pays.
    @inline(__always)
    func forward(_ out: FloatBuffer, _ inp: FloatBuffer, _ bias: FloatBuffer?, rows N: Int, workers: Int) {
        switch self {
        case .f32(let w): packedMatmulForward(out, inp, w, bias, rows: N, workers: workers)
        case .q8(let w): q8MatmulForward(out, inp, w, bias, rows: N, workers: workers)
        }
    }

    var bytes: Int {
        switch self {
        case .f32(let w): w.bytes
        case .q8(let w): w.bytes
        }
    }
}

public final class InferenceWeights: @unchecked Sendable {
    struct Layer {
        let ln1w: FloatBuffer, ln1b: FloatBuffer?
        let attn: PanelMatrix, attnB: FloatBuffer?
        let proj: PanelMatrix, projB: FloatBuffer?
        let ln2w: FloatBuffer, ln2b: FloatBuffer?
        let fc: PanelMatrix, fcB: FloatBuffer?
        let fcProj: PanelMatrix, fcProjB: FloatBuffer?
    }

    public let config: GPTConfig
    public let precision: WeightPrecision
    /// (V, C): token embeddings, also the tied LM head in f32.
    let wte: FloatBuffer
    /// In q8, the LM head (wteᵀ) in 8-bit panels; nil in f32, where the head reads wte.
    let head: Q8Weights?
    /// (block_size, C): learned positions, or the sinusoidal table computed here.
    let positions: FloatBuffer
    let layers: [Layer]
    let lnfw: FloatBuffer, lnfb: FloatBuffer?
    /// Keeps borrowed memory alive (the GPT or the mapped file the buffers point into).
    private let owner: AnyObject?
    private let ownedPositions: FloatBuffer?

    /// Bytes of the packed panels (the engine's own copy of the block matrices, and in q8 of the head).
    public var packedBytes: Int {
        layers.reduce(0) { $0 + $1.attn.bytes + $1.proj.bytes + $1.fc.bytes + $1.fcProj.bytes } + (head?.bytes ?? 0)
    }

    /// Builds the decode weights from tensors looked up by their layout name (`GPT.layout(for:)`: "wte.weight",
    /// "h.0.attn.c_attn.weight", …), each with exactly the layout's element count. `owner` is kept alive for as long
    /// as these weights, since the borrowed buffers point into it. After each block matrix is packed,
    /// `afterPacking(name)` is called: the original is no longer read by the engine.
    /// - Throws: `.invalidConfig` when the config is invalid or a tensor is missing or has the wrong size.
    /// With `precision` q8 the block matrices and the head are quantized (Quantized.swift), and `afterPacking` is
    /// called for "wte.weight" too once the head is built. `activations` is how q8 products (decode and prefill) treat
    /// their inputs (Quantized.swift): quantized to 8 bits where the build has the integer kernels, by default.
    public init(config: GPTConfig, owner: AnyObject?, precision: WeightPrecision = .f32,
                activations: Q8Weights.Activations = .preferred,
                tensor: (String) -> FloatBuffer?, afterPacking: ((String) -> Void)? = nil) throws(ModelError) {
        try config.validate()
        let layout = GPT.layout(for: config)
        func get(_ name: String) throws(ModelError) -> FloatBuffer {
            guard let expected = layout[name] else {
                throw .invalidConfig(field: name, message: "\(name) is not a tensor of this model")
            }
            guard let b = tensor(name) else {
                throw .invalidConfig(field: name, message: "tensor \(name) is missing")
            }
            guard b.count == expected.count else {
                throw .invalidConfig(field: name, message: "tensor \(name) has \(b.count) values, expected \(expected.count)")
            }
            return b
        }
        func opt(_ name: String) throws(ModelError) -> FloatBuffer? { config.bias ? try get(name) : nil }
        func pack(_ name: String, _ IC: Int, _ OC: Int) throws(ModelError) -> PanelMatrix {
            let p = PanelMatrix(try get(name), inChannels: IC, outChannels: OC, precision: precision,
                                activations: activations)
            afterPacking?(name)
            return p
        }
        let C = config.nEmbd
        self.config = config
        self.precision = precision
        self.owner = owner
        wte = try get("wte.weight")
        if precision == .q8 {
            head = Q8Weights(transposing: wte, rows: config.vocabSize, cols: C, activations: activations)
            afterPacking?("wte.weight")
        } else {
            head = nil
        }
        if config.positional == .learned {
            positions = try get("wpe.weight")
            ownedPositions = nil
        } else {
            let p = allocateFloats(config.blockSize * C)
            sinusoidalPositions(p, T: config.blockSize, C: C)
            positions = p
            ownedPositions = p
        }
        var layers: [Layer] = []
        for i in 0..<config.nLayer {
            let p = "h.\(i)."
            layers.append(Layer(
                ln1w: try get(p + "ln_1.weight"), ln1b: try opt(p + "ln_1.bias"),
                attn: try pack(p + "attn.c_attn.weight", C, 3 * C), attnB: try opt(p + "attn.c_attn.bias"),
                proj: try pack(p + "attn.c_proj.weight", C, C), projB: try opt(p + "attn.c_proj.bias"),
                ln2w: try get(p + "ln_2.weight"), ln2b: try opt(p + "ln_2.bias"),
                fc: try pack(p + "mlp.c_fc.weight", C, 4 * C), fcB: try opt(p + "mlp.c_fc.bias"),
                fcProj: try pack(p + "mlp.c_proj.weight", 4 * C, C), fcProjB: try opt(p + "mlp.c_proj.bias")))
        }
        self.layers = layers
        lnfw = try get("ln_f.weight")
        lnfb = try opt("ln_f.bias")
    }

    /// The decode weights of a training model, borrowing its parameter block (re-create after training changes it).
    public convenience init(model: GPT, precision: WeightPrecision = .f32,
                            activations: Q8Weights.Activations = .preferred) {
        let layout = model.layout, block = model.parameters
        do {
            try self.init(config: model.config, owner: model, precision: precision, activations: activations) { name in
                layout[name] == nil ? nil : layout.slice(name, of: block)
            }
        } catch {
            preconditionFailure("a GPT's own layout always builds its decode weights: \(error)")
        }
    }

    deinit { if let ownedPositions { freeFloats(ownedPositions) } }
}
