// The GPT (GPT-2's architecture) for training: parameters in one flat block, explicit forward and backward
// over per-worker activation buffers (llm.c gpt2_forward/gpt2_backward).
//
// Threads: a batch is split by samples over the workers (one per core); each worker runs the whole forward and
// backward of its samples single-threaded (OpenBLAS on the calling thread), into its own gradient block; the
// blocks are summed at the end. One fork-join per pass, no BLAS threads inside our loops, and a result that
// does not depend on which worker ran a sample, except for the order of one final sum.
import QuillTensor

public final class GPT: LanguageModel, @unchecked Sendable {
    public let config: GPTConfig
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer
    public var isTraining = true
    /// Seed of the dropout masks; each forward pass draws masks from (seed, pass number).
    public var dropoutSeed: UInt64
    /// Forward passes run so far in training mode (the dropout stream position; saved with the optimizer state).
    public var trainingPasses: UInt64 = 0
    /// Index of this batch's first sample in a larger global batch (a data-parallel rank's share): dropout masks
    /// are drawn per global sample, so that the ranks together draw the masks one process would.
    public var sampleOffset = 0

    public var vocabSize: Int { config.vocabSize }
    public var contextLength: Int { config.blockSize }

    let weights: Weights
    /// The fixed sinusoidal table (T, C) when positions are not learned.
    private let positions: FloatBuffer?
    private let workerLimit: Int
    var workers: [Worker] = []
    private var spare: [(B: Int, T: Int, workers: [Worker])] = []
    private var shape: (B: Int, T: Int) = (0, 0)
    private var tokenCapacity = 1
    private var inputs: TokenBuffer
    private var targets: TokenBuffer
    /// Per token, where its document starts in its row and its position there (config.documentToken only).
    private var segmentStarts: TokenBuffer
    private var segmentPositions: TokenBuffer
    private var lastPass: (hasTargets: Bool, validTargets: Int, mask: DropoutMask?)? = nil
    /// The blocks (on huge pages) that `parameters` and `gradients` start.
    private let parameterBlock: FloatBuffer, gradientBlock: FloatBuffer

    /// Builds the model with GPT-2's initialisation from `seed`. `workers` caps the threads (default: all cores).
    public init(config: GPTConfig, seed: UInt64 = 1337, workers: Int = Parallel.defaultWorkers) throws(ModelError) {
        try config.validate()
        Parallel.configureBLAS()
        self.config = config
        self.layout = GPT.layout(for: config)
        (self.parameters, parameterBlock) = allocateHugeFloats(layout.count)
        (self.gradients, gradientBlock) = allocateHugeFloats(layout.count)
        self.weights = Weights(layout: layout, config: config, block: parameters)
        self.dropoutSeed = seed ^ 0x5DEE_CE66_D1CE_F00D
        self.workerLimit = max(1, workers)
        self.inputs = TokenBuffer.allocate(capacity: 1)
        self.targets = TokenBuffer.allocate(capacity: 1)
        self.segmentStarts = TokenBuffer.allocate(capacity: 1)
        self.segmentPositions = TokenBuffer.allocate(capacity: 1)
        if config.positional == .sinusoidal {
            let p = allocateFloats(config.blockSize * config.nEmbd)
            sinusoidalPositions(p, T: config.blockSize, C: config.nEmbd)
            positions = p
        } else {
            positions = nil
        }
        initialise(seed: seed)
    }

    deinit {
        freeZeroedFloats(parameterBlock)
        freeZeroedFloats(gradientBlock)
        if let positions { freeFloats(positions) }
        inputs.deallocate()
        targets.deallocate()
        segmentStarts.deallocate()
        segmentPositions.deallocate()
    }

    // MARK: - Layout and initialisation

    /// Hugging Face GPT-2 names and shapes (Conv1D weights are [in, out]); the LM head is tied to wte.
    public static func layout(for c: GPTConfig) -> ParameterLayout {
        var l = ParameterLayout()
        let C = c.nEmbd
        l.append("wte.weight", [c.vocabSize, C])
        if c.positional == .learned { l.append("wpe.weight", [c.blockSize, C]) }
        for i in 0..<c.nLayer {
            let p = "h.\(i)."
            l.append(p + "ln_1.weight", [C])
            if c.bias { l.append(p + "ln_1.bias", [C]) }
            l.append(p + "attn.c_attn.weight", [C, 3 * C])
            if c.bias { l.append(p + "attn.c_attn.bias", [3 * C]) }
            l.append(p + "attn.c_proj.weight", [C, C])
            if c.bias { l.append(p + "attn.c_proj.bias", [C]) }
            l.append(p + "ln_2.weight", [C])
            if c.bias { l.append(p + "ln_2.bias", [C]) }
            l.append(p + "mlp.c_fc.weight", [C, 4 * C])
            if c.bias { l.append(p + "mlp.c_fc.bias", [4 * C]) }
            l.append(p + "mlp.c_proj.weight", [4 * C, C])
            if c.bias { l.append(p + "mlp.c_proj.bias", [C]) }
        }
        l.append("ln_f.weight", [C])
        if c.bias { l.append("ln_f.bias", [C]) }
        return l
    }

    /// Whether a layout name is a LayerNorm's gain or bias (ln_1, ln_2 of a block, or ln_f).
    static func isLayerNorm(_ name: String) -> Bool { name.hasPrefix("ln_") || name.contains(".ln_") }

    /// GPT-2's initialisation: N(0, 0.02) weights, residual projections scaled by 1/√(2·n_layer), zero biases,
    /// LayerNorm gains one. Tensors are drawn in layout order from one SplitMix64 stream.
    public func initialise(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let residualStd = 0.02 / Float(2 * config.nLayer).squareRoot()
        for t in layout.tensors {
            let p = parameters.slice(t.offset, t.count)
            if t.name.hasSuffix(".bias") {
                zero(p)
            } else if GPT.isLayerNorm(t.name) {
                p.update(repeating: 1)
            } else {
                let std: Float = t.name.hasSuffix("c_proj.weight") ? residualStd : 0.02
                for i in 0..<t.count { p[i] = rng.nextGaussian() * std }
            }
        }
    }

    // MARK: - Forward and backward

    @discardableResult
    public func forward(inputs ids: [Int32], targets tgt: [Int32]?, batchSize B: Int,
                        sequenceLength T: Int) throws(ModelError) -> Float? {
        try validateBatch(inputs: ids, targets: tgt, B: B, T: T, vocabSize: config.vocabSize,
                          contextLength: config.blockSize)
        prepare(B: B, T: T)
        _ = inputs.update(fromContentsOf: ids)
        if let d = config.documentToken {
            documentSegments(starts: segmentStarts, positions: segmentPositions, inputs, boundary: Int32(d), B: B, T: T)
        }
        var valid = 0
        if let tgt {
            _ = targets.update(fromContentsOf: tgt)
            for y in tgt where y != ignoreIndex { valid += 1 }
        }
        var mask: DropoutMask? = nil
        if isTraining && config.dropout > 0 {
            mask = DropoutMask(key: SplitMix64.mix(dropoutSeed ^ (trainingPasses &* 0x9E37_79B9_7F4A_7C15)),
                               p: config.dropout)
            trainingPasses &+= 1
        }
        let hasTargets = tgt != nil
        let ws = workers
        Parallel.withBLASThreads(ws.count == 1 ? workerLimit : 1) {
            Parallel.forEach(ws.count) { w in
                ws[w].forward(model: self, hasTargets: hasTargets, mask: mask)
            }
        }
        lastPass = (hasTargets, valid, mask)
        guard hasTargets else { return nil }
        var total = 0.0
        for w in ws { total += w.lossSum }
        return valid > 0 ? Float(total / Double(valid)) : 0
    }

    public func backward() throws(ModelError) { try backward(accumulate: true) }

    /// accumulate false: the weight matrices' gradients are written, not added (their products' first write sets
    /// them), and only the small tensors that collect sums (LayerNorms, wpe) are cleared first, so no pass zeroes
    /// the whole block. Worker blocks besides the first always work that way.
    public func backward(accumulate: Bool) throws(ModelError) {
        guard let pass = lastPass, pass.hasTargets else { throw .noForwardPass }
        lastPass = nil  // the probabilities are turned into gradients in place: one backward per forward
        guard pass.validTargets > 0 else {
            if !accumulate { zeroGradients() }
            return
        }
        let dloss = 1 / Float(pass.validTargets)
        let ws = workers
        Parallel.withBLASThreads(ws.count == 1 ? workerLimit : 1) {
            Parallel.forEach(ws.count) { w in
                ws[w].backward(model: self, dloss: dloss, mask: pass.mask, accumulate: w == 0 && accumulate)
            }
        }
        // Sum the other workers' gradient blocks into the model's, split by ranges over the cores.
        if ws.count > 1 {
            let n = layout.count
            Parallel.forEach(ws.count) { part in
                let r = Parallel.range(part, of: ws.count, total: n)
                let dst = self.gradients.slice(r.lowerBound, r.count)
                for w in ws.dropFirst() {
                    QuillTensor.accumulate(dst, w.grads!.slice(r.lowerBound, r.count), count: r.count)
                }
            }
        }
    }

    public func logits(sample b: Int, position t: Int) -> [Float] {
        precondition(lastPass?.hasTargets == false, "logits(sample:position:) needs a forward pass without targets")
        precondition(b < shape.B && t < shape.T)
        let w = workers.first { $0.samples.contains(b) }!
        let V = config.vocabSize
        let row = w.acts.logits.ptr + ((b - w.samples.lowerBound) * shape.T + t) * V
        return Array(UnsafeBufferPointer(start: row, count: V))
    }

    /// Sizes the per-worker buffers for a batch of B sequences of T tokens. The buffers of the two most recent
    /// shapes are kept, so that alternating training batches with evaluation or sampling reallocates nothing.
    private func prepare(B: Int, T: Int) {
        guard shape.B != B || shape.T != T else { return }
        if let i = spare.firstIndex(where: { $0.B == B && $0.T == T }) {
            let s = spare.remove(at: i)
            if shape.B > 0 { spare.append((shape.B, shape.T, workers)) }
            workers = s.workers
        } else {
            if shape.B > 0 { spare.append((shape.B, shape.T, workers)) }
            let n = min(B, workerLimit)
            // A lone worker (a batch of one sequence) splits its attention heads over the idle cores.
            let attentionThreads = n == 1 ? workerLimit : 1
            workers = (0..<n).map { w in
                Worker(config: config, layout: layout, samples: Parallel.range(w, of: n, total: B), T: T,
                       ownGradients: w > 0, attentionThreads: attentionThreads)
            }
        }
        if spare.count > 1 { spare.removeFirst(spare.count - 1) }
        if B * T > tokenCapacity {
            inputs.deallocate()
            targets.deallocate()
            segmentStarts.deallocate()
            segmentPositions.deallocate()
            inputs = TokenBuffer.allocate(capacity: B * T)
            targets = TokenBuffer.allocate(capacity: B * T)
            segmentStarts = TokenBuffer.allocate(capacity: B * T)
            segmentPositions = TokenBuffer.allocate(capacity: B * T)
            tokenCapacity = B * T
        }
        shape = (B, T)
    }

    /// Bytes of activation and scratch memory held for the current batch shape.
    public var activationBytes: Int { workers.reduce(0) { $0 + $1.bytes } }

    // MARK: - Parameter views

    /// Pointers into one block (parameters or a gradient block) for each tensor, built once.
    struct Weights {
        struct Layer {
            // Biases alone are optional (a config may have none); every weight is in every layout.
            var ln1w: FloatBuffer, ln1b: FloatBuffer?
            var attnW: FloatBuffer, attnB: FloatBuffer?
            var projW: FloatBuffer, projB: FloatBuffer?
            var ln2w: FloatBuffer, ln2b: FloatBuffer?
            var fcW: FloatBuffer, fcB: FloatBuffer?
            var fcProjW: FloatBuffer, fcProjB: FloatBuffer?
        }
        let wte: FloatBuffer
        let wpe: FloatBuffer?
        let layers: [Layer]
        let lnfw: FloatBuffer
        let lnfb: FloatBuffer?

        init(layout: ParameterLayout, config: GPTConfig, block: FloatBuffer) {
            func s(_ name: String) -> FloatBuffer? {
                layout[name] == nil ? nil : layout.slice(name, of: block)
            }
            func w(_ name: String) -> FloatBuffer {
                guard let b = s(name) else { preconditionFailure("GPT.Weights: the layout has no \(name)") }
                return b
            }
            wte = w("wte.weight")
            wpe = s("wpe.weight")
            layers = (0..<config.nLayer).map { i in
                let p = "h.\(i)."
                return Layer(ln1w: w(p + "ln_1.weight"), ln1b: s(p + "ln_1.bias"),
                             attnW: w(p + "attn.c_attn.weight"), attnB: s(p + "attn.c_attn.bias"),
                             projW: w(p + "attn.c_proj.weight"), projB: s(p + "attn.c_proj.bias"),
                             ln2w: w(p + "ln_2.weight"), ln2b: s(p + "ln_2.bias"),
                             fcW: w(p + "mlp.c_fc.weight"), fcB: s(p + "mlp.c_fc.bias"),
                             fcProjW: w(p + "mlp.c_proj.weight"), fcProjB: s(p + "mlp.c_proj.bias"))
            }
            lnfw = w("ln_f.weight")
            lnfb = s("ln_f.bias")
        }
    }

    var positionTable: FloatBuffer { positions ?? weights.wpe! }
    fileprivate var tokens: (inputs: TokenBuffer, targets: TokenBuffer) { (inputs, targets) }
    /// The documents' starts and positions of this batch, when the model keeps documents apart.
    fileprivate var segments: (starts: TokenBuffer, positions: TokenBuffer)? {
        config.documentToken == nil ? nil : (segmentStarts, segmentPositions)
    }

    /// Frees the activation buffers (they are rebuilt on the next forward pass).
    public func releaseActivations() {
        workers = []
        spare = []
        shape = (0, 0)
        lastPass = nil
    }
}

// MARK: - Worker: one core's share of a batch

/// Dropout sites, each its own mask stream per layer.
private enum DropSite: UInt64 { case embedding = 0, attention = 1, attnResidual = 2, mlpResidual = 3 }

@inline(__always)
private func siteMask(_ m: DropoutMask, layer: Int, _ site: DropSite) -> DropoutMask {
    m.stream(UInt64(layer) &* 4 &+ site.rawValue &+ 1)
}

final class Worker: @unchecked Sendable {
    /// Activations saved for backward, for Bw samples of T tokens (llm.c ActivationTensors).
    struct Activations {
        struct Layer {
            var ln1, ln1Mean, ln1Rstd, qkv, att, atty, residual2, ln2, ln2Mean, ln2Rstd, fchGelu, fchGeluGrad, residual3: FloatBuffer
        }
        var encoded: FloatBuffer
        var layers: [Layer]
        var lnf, lnfMean, lnfRstd, logits, losses: FloatBuffer
        /// Output of c_proj (attention and MLP) before it joins the residual stream; not needed by backward.
        var branch: FloatBuffer
        // Gradient scratch, reused layer after layer (dbigA also holds c_fc's output in the forward pass).
        var dres, dtmp, dln, dbigA, dbigB: FloatBuffer
        var attnScratch: FloatBuffer
    }

    let samples: Range<Int>
    let T: Int
    /// The model's sampleOffset during the current pass (dropout streams are per global sample).
    var sampleOffset = 0
    let block: FloatBuffer
    var acts: Activations
    /// Gradient block of this worker (nil for worker 0, which writes into the model's gradients).
    let grads: FloatBuffer?
    private let gradBlock: FloatBuffer?
    let gradWeights: GPT.Weights?
    var lossSum = 0.0

    /// Threads the attention of this worker's samples runs on (more than one only for a lone worker).
    let attentionThreads: Int

    init(config c: GPTConfig, layout: ParameterLayout, samples: Range<Int>, T: Int, ownGradients: Bool,
         attentionThreads: Int = 1) {
        self.samples = samples
        self.T = T
        self.attentionThreads = attentionThreads
        let B = samples.count, C = c.nEmbd, N = B * T, V = c.vocabSize, NH = c.nHead
        let scratchCount = attentionThreads * attentionScratchCount(T: T, headSize: c.headSize)
        (acts, block) = carveFloats(hugePages: true) { a in
            Activations(
                encoded: a.take(N * C),
                layers: (0..<c.nLayer).map { _ in
                    Activations.Layer(ln1: a.take(N * C), ln1Mean: a.take(N), ln1Rstd: a.take(N), qkv: a.take(3 * N * C),
                                      att: a.take(B * NH * T * T), atty: a.take(N * C), residual2: a.take(N * C),
                                      ln2: a.take(N * C), ln2Mean: a.take(N), ln2Rstd: a.take(N),
                                      fchGelu: a.take(4 * N * C), fchGeluGrad: a.take(4 * N * C),
                                      residual3: a.take(N * C))
                },
                lnf: a.take(N * C), lnfMean: a.take(N), lnfRstd: a.take(N), logits: a.take(N * V), losses: a.take(N),
                branch: a.take(N * C), dres: a.take(N * C), dtmp: a.take(N * C), dln: a.take(N * C),
                dbigA: a.take(4 * N * C), dbigB: a.take(4 * N * C), attnScratch: a.take(scratchCount))
        }
        if ownGradients {
            let (g, gb) = allocateHugeFloats(layout.count)
            grads = g
            gradBlock = gb
            gradWeights = GPT.Weights(layout: layout, config: c, block: g)
        } else {
            grads = nil
            gradBlock = nil
            gradWeights = nil
        }
    }

    deinit {
        freeZeroedFloats(block)
        if let gradBlock { freeZeroedFloats(gradBlock) }
    }

    var bytes: Int { (block.count + (grads?.count ?? 0)) * MemoryLayout<Float>.size }

    /// Applies a dropout mask to each sample's slice of x (N·width floats), one stream per global sample.
    private func dropout(_ x: FloatBuffer, _ m: DropoutMask, width: Int, backward: Bool) {
        for b in 0..<samples.count {
            let s = x.slice(b * T * width, T * width)
            let mb = m.stream(UInt64(sampleOffset + samples.lowerBound + b))
            if backward { dropoutBackward(s, mask: mb, count: T * width) } else { dropoutForward(s, mask: mb, count: T * width) }
        }
    }

    func forward(model: GPT, hasTargets: Bool, mask: DropoutMask?) {
        let c = model.config, w = model.weights
        let B = samples.count, C = c.nEmbd, N = B * T, V = c.vocabSize, NH = c.nHead
        let (allInputs, allTargets) = model.tokens
        let inp = allInputs.slice(samples.lowerBound * T, N)
        sampleOffset = model.sampleOffset
        let seg = model.segments.map { ($0.starts.slice(samples.lowerBound * T, N), $0.positions.slice(samples.lowerBound * T, N)) }
        encoderForward(acts.encoded, inp, w.wte, model.positionTable, B: B, T: T, C: C, positions: seg?.1)
        if let mask { dropout(acts.encoded, siteMask(mask, layer: 0, .embedding), width: C, backward: false) }
        var residual = acts.encoded
        for l in 0..<c.nLayer {
            let p = w.layers[l], a = acts.layers[l]
            layerNormForward(a.ln1, a.ln1Mean, a.ln1Rstd, residual, p.ln1w, p.ln1b, rows: N, C: C)
            matmulForward(a.qkv, a.ln1, p.attnW, p.attnB, rows: N, inChannels: C, outChannels: 3 * C)
            attentionForward(a.atty, a.att, a.qkv, scratch: acts.attnScratch, B: B, T: T, C: C, NH: NH,
                             dropout: mask.map { siteMask($0, layer: l, .attention) },
                             sampleOffset: sampleOffset + samples.lowerBound, segments: seg?.0,
                             threads: attentionThreads)
            matmulForward(acts.branch, a.atty, p.projW, p.projB, rows: N, inChannels: C, outChannels: C)
            if let mask { dropout(acts.branch, siteMask(mask, layer: l, .attnResidual), width: C, backward: false) }
            residualForward(a.residual2, residual, acts.branch, count: N * C)
            layerNormForward(a.ln2, a.ln2Mean, a.ln2Rstd, a.residual2, p.ln2w, p.ln2b, rows: N, C: C)
            // c_fc's output is needed only here (backward takes gelu' from fchGeluGrad): it goes to dbigA, backward's
            // scratch, which one forward pass reuses layer after layer.
            let fch = acts.dbigA
            matmulForward(fch, a.ln2, p.fcW, p.fcB, rows: N, inChannels: C, outChannels: 4 * C)
            geluForward(a.fchGelu, fch, count: 4 * N * C, derivative: a.fchGeluGrad)
            matmulForward(acts.branch, a.fchGelu, p.fcProjW, p.fcProjB, rows: N, inChannels: 4 * C, outChannels: C)
            if let mask { dropout(acts.branch, siteMask(mask, layer: l, .mlpResidual), width: C, backward: false) }
            residualForward(a.residual3, a.residual2, acts.branch, count: N * C)
            residual = a.residual3
        }
        layerNormForward(acts.lnf, acts.lnfMean, acts.lnfRstd, residual, w.lnfw, w.lnfb, rows: N, C: C)
        lmHeadForward(acts.logits, acts.lnf, w.wte, rows: N, C: C, V: V)
        lossSum = 0
        if hasTargets {
            let tgt = allTargets.slice(samples.lowerBound * T, N)
            lossSum = softmaxCrossEntropyForward(acts.losses, acts.logits, tgt, rows: N, V: V)
        }
    }

    /// accumulate false: every gradient of this worker's block is set by this pass (see GPT.backward(accumulate:)).
    func backward(model: GPT, dloss: Float, mask: DropoutMask?, accumulate: Bool) {
        let c = model.config, w = model.weights
        let g = gradWeights ?? GPT.Weights(layout: model.layout, config: c, block: model.gradients)
        if !accumulate {
            // What collects sums over rows or positions starts from zero; the products overwrite the rest.
            let block = grads ?? model.gradients
            for t in model.layout.tensors where t.name == "wpe.weight" || GPT.isLayerNorm(t.name) {
                zero(block.slice(t.offset, t.count))
            }
        }
        let aw = accumulate
        let B = samples.count, C = c.nEmbd, N = B * T, V = c.vocabSize, NH = c.nHead
        let (allInputs, allTargets) = model.tokens
        let inp = allInputs.slice(samples.lowerBound * T, N)
        let tgt = allTargets.slice(samples.lowerBound * T, N)
        let dres = acts.dres, dtmp = acts.dtmp, dln = acts.dln
        let dbigA = acts.dbigA, dbigB = acts.dbigB

        softmaxCrossEntropyBackward(acts.logits, tgt, dloss: dloss, rows: N, V: V)
        lmHeadBackward(dln, g.wte, acts.logits, acts.lnf, w.wte, rows: N, C: C, V: V, overwriteInput: true,
                       accumulateWeights: aw)
        zero(dres)
        let last = c.nLayer > 0 ? acts.layers[c.nLayer - 1].residual3 : acts.encoded
        layerNormBackward(dres, g.lnfw, g.lnfb, dln, last, w.lnfw, acts.lnfMean, acts.lnfRstd, rows: N, C: C)

        for l in stride(from: c.nLayer - 1, through: 0, by: -1) {
            let p = w.layers[l], gp = g.layers[l], a = acts.layers[l]
            let residualIn = l == 0 ? acts.encoded : acts.layers[l - 1].residual3
            // MLP branch: residual3 = residual2 + dropout(c_proj(gelu(c_fc(ln_2(residual2)))))
            var dbranch = dres
            if let mask {
                dtmp.ptr.update(from: dres.ptr, count: N * C)
                dropout(dtmp, siteMask(mask, layer: l, .mlpResidual), width: C, backward: true)
                dbranch = dtmp
            }
            matmulBackward(dbigA, gp.fcProjW, gp.fcProjB, dbranch, a.fchGelu, p.fcProjW,
                           rows: N, inChannels: 4 * C, outChannels: C, overwriteInput: true, accumulateWeights: aw)
            geluBackward(dbigB, derivative: a.fchGeluGrad, dbigA, count: 4 * N * C, overwrite: true)
            matmulBackward(dln, gp.fcW, gp.fcB, dbigB, a.ln2, p.fcW, rows: N, inChannels: C, outChannels: 4 * C,
                           overwriteInput: true, accumulateWeights: aw)
            layerNormBackward(dres, gp.ln2w, gp.ln2b, dln, a.residual2, p.ln2w, a.ln2Mean, a.ln2Rstd, rows: N, C: C)
            // Attention branch: residual2 = residualIn + dropout(c_proj(attention(c_attn(ln_1(residualIn)))))
            dbranch = dres
            if let mask {
                dtmp.ptr.update(from: dres.ptr, count: N * C)
                dropout(dtmp, siteMask(mask, layer: l, .attnResidual), width: C, backward: true)
                dbranch = dtmp
            }
            matmulBackward(dln, gp.projW, gp.projB, dbranch, a.atty, p.projW, rows: N, inChannels: C, outChannels: C,
                           overwriteInput: true, accumulateWeights: aw)
            let dqkv = dbigA.slice(0, 3 * N * C)
            attentionBackward(dqkv, dln, a.att, a.qkv, scratch: acts.attnScratch, B: B, T: T, C: C, NH: NH,
                              dropout: mask.map { siteMask($0, layer: l, .attention) },
                              sampleOffset: sampleOffset + samples.lowerBound, overwrite: true,
                              threads: attentionThreads)
            let dln1 = dbigB.slice(0, N * C)
            matmulBackward(dln1, gp.attnW, gp.attnB, dqkv, a.ln1, p.attnW, rows: N, inChannels: C, outChannels: 3 * C,
                           overwriteInput: true, accumulateWeights: aw)
            layerNormBackward(dres, gp.ln1w, gp.ln1b, dln1, residualIn, p.ln1w, a.ln1Mean, a.ln1Rstd, rows: N, C: C)
        }
        if let mask { dropout(dres, siteMask(mask, layer: 0, .embedding), width: C, backward: true) }
        let positions = model.segments.map { $0.positions.slice(samples.lowerBound * T, N) }
        encoderBackward(g.wte, g.wpe, dres, inp, B: B, T: T, C: C, positions: positions)
    }
}

// MARK: - Attention capture

extension GPT {
    /// The softmax attention weights of every layer and head for `tokens` (one sequence, at most block_size
    /// tokens): [layer][head][query position][key position], each row summing to 1, zero above the diagonal.
    public func attentionWeights(tokens: [Int32]) throws(ModelError) -> [[[[Float]]]] {
        let wasTraining = isTraining
        isTraining = false
        defer { isTraining = wasTraining }
        let T = tokens.count
        try forward(inputs: tokens, targets: nil, batchSize: 1, sequenceLength: T)
        let acts = workers[0].acts
        let NH = config.nHead
        return (0..<config.nLayer).map { l in
            let att = acts.layers[l].att
            return (0..<NH).map { h in
                (0..<T).map { t in Array(UnsafeBufferPointer(start: att.ptr + (h * T + t) * T, count: T)) }
            }
        }
    }
}
