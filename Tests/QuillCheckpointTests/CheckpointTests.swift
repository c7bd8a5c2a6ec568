// Checkpoint round trips (GPT and bigram) and the reader's refusals: foreign files, missing keys and tensors,
// wrong shapes, and models that do not match their spec.
import Foundation
@testable import QuillCheckpoint
import QuillModel
import QuillTensor
import QuillTokenizers
import Testing

@Suite("Checkpoint")
struct CheckpointTests {
    @Test("a GPT checkpoint round-trips: weights bit-exact, metadata intact, tokenizer rebuilt, same loss")
    func gptRoundTrip() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("tiny.safetensors")
        let model = try Fixtures.gpt()
        let tokenizer = Fixtures.tokenizer()
        let spec = ModelSpec.gpt(Fixtures.tinyConfig)
        try Checkpoint.write(model: model, spec: spec, tokenizer: tokenizer.serialized, training: Fixtures.record(),
                             to: url)

        let ckpt = try Checkpoint.read(from: url)
        #expect(ckpt.spec == spec)
        #expect(ckpt.training == Fixtures.record())
        #expect(ckpt.tokenizer == tokenizer.serialized)
        #expect(ckpt.layout == model.layout)
        #expect(ckpt.path == url.path)
        #expect(ckpt.parameters.count == model.parameterCount)
        let mismatched = (0..<model.parameterCount).filter {
            ckpt.parameters[$0].bitPattern != model.parameters[$0].bitPattern
        }
        #expect(mismatched.isEmpty, "first differing parameter: \(mismatched.first ?? -1)")

        let rebuilt = try ckpt.tokenizer.makeTokenizer()
        #expect(try rebuilt.encode("jab\nc", allowSpecial: false) == tokenizer.encode("jab\nc", allowSpecial: false))

        let restored = try ckpt.makeModel(workers: 1)
        #expect(restored.isTraining)
        #expect(restored is GPT)
        let b = Fixtures.batch(B: 3, T: 8, V: 11, seed: 5)
        let expected = try model.forward(inputs: b.x, targets: b.y, batchSize: 3, sequenceLength: 8)!
        let actual = try restored.forward(inputs: b.x, targets: b.y, batchSize: 3, sequenceLength: 8)!
        #expect(actual.bitPattern == expected.bitPattern)
    }

    @Test("a bigram checkpoint round-trips bit for bit (subnormals and -0 included); a NaN is written but refused on load")
    func bigramRoundTrip() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("bigram.safetensors")
        let model = try Bigram(vocabSize: 11, contextLength: 16, seed: 3)
        model.parameters[4] = -0.0
        model.parameters[5] = Float(bitPattern: 0x0000_1234)  // a subnormal
        let spec = ModelSpec.bigram(vocabSize: 11, blockSize: 16)
        let tokenizer = CharTokenizer(corpus: "abcdefghij", endOfText: true).serialized

        // The writer stores a NaN payload exactly (a diverged run can be saved and inspected), but a model that
        // holds one is refused when loaded, naming the tensor (issue 15: NaN weights served garbage).
        let nanModel = try Bigram(vocabSize: 11, contextLength: 16, seed: 3)
        nanModel.parameters[5] = Float(bitPattern: 0x7FC0_1234)
        let nanURL = dir.file("nan.safetensors")
        try Checkpoint.write(model: nanModel, spec: spec, tokenizer: tokenizer, training: TrainingRecord(), to: nanURL)
        #expect(try SafeTensors.read(from: nanURL).tensors[0].values[5].bitPattern == 0x7FC0_1234)
        #expect { _ = try Checkpoint.read(from: nanURL) } throws: { "\($0)".contains("token_embedding_table.weight") }

        try Checkpoint.write(model: model, spec: spec, tokenizer: tokenizer, training: TrainingRecord(), to: url)
        let ckpt = try Checkpoint.read(from: url)
        #expect(ckpt.spec == spec)
        #expect(ckpt.tokenizer == tokenizer)
        #expect(ckpt.training == TrainingRecord())
        #expect(ckpt.layout.tensors.map(\.name) == ["token_embedding_table.weight"])
        #expect(ckpt.parameters.map(\.bitPattern) == Array(model.parameters).map(\.bitPattern))
        let restored = try ckpt.makeModel()
        #expect(restored is Bigram)
        #expect(restored.contextLength == 16)
        #expect(Array(restored.parameters).map(\.bitPattern) == ckpt.parameters.map(\.bitPattern))
    }

    @Test("the spec's layout is the model's own, for every kind of model")
    func specLayouts() throws {
        let bigram = try Bigram(vocabSize: 7, contextLength: 4)
        #expect(ModelSpec.bigram(vocabSize: 7, blockSize: 4).layout == bigram.layout)
        for config in [Fixtures.tinyConfig,
                       GPTConfig(vocabSize: 5, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 4, positional: .sinusoidal,
                                 bias: false)] {
            let gpt = try ModelSpec.gpt(config).makeModel(seed: 1, workers: 1)
            #expect(ModelSpec.gpt(config).layout == gpt.layout)
        }
    }

    @Test("quill.config is GPTConfig's JSON plus \"model\", and the bigram's is model, vocab_size, block_size")
    func configJSON() throws {
        let config = GPTConfig(vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0.1,
                               positional: .sinusoidal, bias: false)
        let gpt = try JSONSerialization.jsonObject(with: JSONEncoder().encode(ModelSpec.gpt(config))) as! [String: Any]
        #expect(gpt["model"] as? String == "gpt")
        #expect(gpt["n_layer"] as? Int == 2 && gpt["n_embd"] as? Int == 8 && gpt["vocab_size"] as? Int == 11)
        #expect(gpt["positional"] as? String == "sinusoidal" && gpt["bias"] as? Bool == false)
        let plain = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as! [String: Any]
        #expect(Set(gpt.keys) == Set(plain.keys).union(["model"]))

        let bigram = try JSONSerialization.jsonObject(
            with: JSONEncoder().encode(ModelSpec.bigram(vocabSize: 65, blockSize: 8))) as! [String: Any]
        #expect(bigram.count == 3 && bigram["model"] as? String == "bigram")
        #expect(bigram["vocab_size"] as? Int == 65 && bigram["block_size"] as? Int == 8)

        let decoded = try JSONDecoder().decode(ModelSpec.self, from: Data(
            #"{"block_size": 8, "model": "gpt", "n_embd": 8, "n_head": 2, "n_layer": 2, "vocab_size": 11}"#.utf8))
        #expect(decoded == .gpt(GPTConfig(vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8)))
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ModelSpec.self, from: Data(#"{"model": "rnn", "vocab_size": 3}"#.utf8))
        }
    }

    @Test("a training record with NaN and infinite losses survives, even through a plain JSONEncoder")
    func nonFiniteLosses() throws {
        var record = Fixtures.record()
        record.trainLoss = .nan
        record.valLoss = .infinity
        record.bestValLoss = nil
        record.history.append(EvalRecord(step: 130, tokens: 4160, seconds: 13, trainLoss: .nan, valLoss: -.infinity,
                                         learningRate: 3e-4))
        let text = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        #expect(text.contains("\"train_loss\":\"nan\"") && text.contains("\"learning_rate\""))
        #expect(!text.contains("best_val_loss"))
        let back = try JSONDecoder().decode(TrainingRecord.self, from: Data(text.utf8))
        #expect(back.trainLoss!.isNaN && back.valLoss == .infinity && back.bestValLoss == nil)
        #expect(back.history[2].trainLoss.isNaN && back.history[2].valLoss == -.infinity)
        #expect(back.history[0] == record.history[0] && back.history[1] == record.history[1])

        let dir = try ScratchDirectory()
        let url = dir.file("diverged.safetensors")
        try Checkpoint.write(model: try Fixtures.gpt(), spec: .gpt(Fixtures.tinyConfig),
                             tokenizer: Fixtures.tokenizer().serialized, training: record, to: url)
        let read = try Checkpoint.read(from: url).training
        #expect(read.trainLoss!.isNaN && read.valLoss == .infinity && read.steps == record.steps)
    }

    @Test("a safetensors file without quill.config is not a Quill checkpoint")
    func notQuill() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("foreign.safetensors")
        try SafeTensors.write([.init(name: "wte.weight", shape: [2, 2], values: [1, 2, 3, 4])],
                              metadata: ["format": "pt"], to: url)
        let error = caught { _ = try Checkpoint.read(from: url) }
        #expect(error == .notQuillCheckpoint(path: url.path, key: "quill.config"))
        #expect(error?.description == "\(url.path): no quill.config: not a Quill checkpoint; write it with quill-train")
    }

    /// The tensors and metadata of a valid tiny checkpoint, for building broken variants.
    private func validParts(in dir: ScratchDirectory) throws -> (tensors: [SafeTensors.Tensor], metadata: [String: String]) {
        let url = dir.file("valid.safetensors")
        try Checkpoint.write(model: try Fixtures.gpt(), spec: .gpt(Fixtures.tinyConfig),
                             tokenizer: Fixtures.tokenizer().serialized, training: Fixtures.record(), to: url)
        return try SafeTensors.read(from: url)
    }

    @Test("a missing tensor, a wrong shape or an unknown tensor is rejected, naming the tensor")
    func tensorMismatches() throws {
        let dir = try ScratchDirectory()
        let (tensors, metadata) = try validParts(in: dir)
        let url = dir.file("broken.safetensors")

        try SafeTensors.write(tensors.filter { $0.name != "h.1.mlp.c_fc.bias" }, metadata: metadata, to: url)
        #expect(caught { _ = try Checkpoint.read(from: url) }
                == .missingTensor(path: url.path, name: "h.1.mlp.c_fc.bias", shape: [32]))

        var reshaped = tensors
        let i = reshaped.firstIndex { $0.name == "h.0.ln_1.weight" }!
        reshaped[i].shape = [2, 4]
        try SafeTensors.write(reshaped, metadata: metadata, to: url)
        let error = caught { _ = try Checkpoint.read(from: url) }
        #expect(error == .shapeMismatch(path: url.path, name: "h.0.ln_1.weight", found: [2, 4], expected: [8]))
        #expect(error?.description == "\(url.path): tensor h.0.ln_1.weight has shape [2, 4] but the model expects [8]")

        try SafeTensors.write(tensors + [.init(name: "lm_head.weight", shape: [1], values: [0])], metadata: metadata,
                              to: url)
        #expect(caught { _ = try Checkpoint.read(from: url) } == .unexpectedTensor(path: url.path, name: "lm_head.weight"))
    }

    @Test("tensors stored in another order are put back in layout order")
    func otherTensorOrder() throws {
        let dir = try ScratchDirectory()
        let (tensors, metadata) = try validParts(in: dir)
        let url = dir.file("reversed.safetensors")
        try SafeTensors.write(tensors.reversed(), metadata: metadata, to: url)
        let ckpt = try Checkpoint.read(from: url)
        #expect(ckpt.parameters == tensors.flatMap(\.values))
    }

    @Test("an invalid quill.config or quill.training is rejected with the reason")
    func invalidMetadata() throws {
        let dir = try ScratchDirectory()
        let (tensors, metadata) = try validParts(in: dir)
        let url = dir.file("bad.safetensors")

        var m = metadata
        m["quill.config"] = #"{"model": "gpt", "vocab_size": 11, "block_size": 8, "n_layer": 2, "n_head": 3, "n_embd": 8}"#
        try SafeTensors.write(tensors, metadata: m, to: url)
        guard case .invalidModel(url.path, .invalidConfig(field: "n_embd", _)) = caught({ _ = try Checkpoint.read(from: url) })
        else { Issue.record("expected invalidModel for n_head 3"); return }

        m = metadata
        m["quill.config"] = #"{"model": "gpt", "vocab_size": 11}"#
        try SafeTensors.write(tensors, metadata: m, to: url)
        let missingField = caught { _ = try Checkpoint.read(from: url) }
        guard case .invalidMetadata(url.path, "quill.config", let reason) = missingField else {
            Issue.record("expected invalidMetadata, got \(String(describing: missingField))"); return
        }
        #expect(reason.contains("block_size"))

        m = metadata
        m["quill.training"] = "not json"
        try SafeTensors.write(tensors, metadata: m, to: url)
        guard case .invalidMetadata(url.path, "quill.training", _) = caught({ _ = try Checkpoint.read(from: url) })
        else { Issue.record("expected invalidMetadata for quill.training"); return }

        m = metadata
        m.removeValue(forKey: "quill.tokenizer")
        try SafeTensors.write(tensors, metadata: m, to: url)
        #expect(caught { _ = try Checkpoint.read(from: url) } == .missingMetadata(path: url.path, key: "quill.tokenizer"))
    }

    @Test("a model that does not match its spec, or a tokenizer larger than the vocabulary, is not written")
    func writerChecks() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("never.safetensors")
        let model = try Fixtures.gpt()
        var other = Fixtures.tinyConfig
        other.nLayer = 1
        let error = caught {
            try Checkpoint.write(model: model, spec: .gpt(other), tokenizer: Fixtures.tokenizer().serialized,
                                 training: TrainingRecord(), to: url)
        }
        guard case .modelMismatch(url.path, _) = error else { Issue.record("expected modelMismatch"); return }

        let big = CharTokenizer(corpus: "abcdefghijkl").serialized
        let tooMany = caught {
            try Checkpoint.write(model: model, spec: .gpt(Fixtures.tinyConfig), tokenizer: big,
                                 training: TrainingRecord(), to: url)
        }
        guard case .modelMismatch(url.path, _) = tooMany else { Issue.record("expected modelMismatch"); return }
        #expect(!FileManager.default.fileExists(atPath: url.path))
        #expect(try dir.temporaries().isEmpty)
    }

    @Test("a checkpoint value writes and reads back unchanged")
    func valueWrite() throws {
        let dir = try ScratchDirectory()
        let spec = ModelSpec.bigram(vocabSize: 3, blockSize: 2)
        let ckpt = Checkpoint(spec: spec, tokenizer: CharTokenizer(corpus: "xyz").serialized,
                              training: Fixtures.record(), parameters: (0..<9).map { Float($0) / 7 })
        let url = dir.file("value.safetensors")
        try ckpt.write(to: url)
        let back = try Checkpoint.read(from: url)
        #expect(back.parameters == ckpt.parameters && back.spec == spec && back.training == ckpt.training)

        let short = Checkpoint(spec: spec, tokenizer: ckpt.tokenizer, training: ckpt.training, parameters: [1, 2])
        guard case .modelMismatch = caught({ try short.write(to: url) }) else {
            Issue.record("expected modelMismatch for 2 parameters"); return
        }
        guard case .modelMismatch = caught({ _ = try short.makeModel() }) else {
            Issue.record("expected modelMismatch from makeModel"); return
        }
    }
}
