// NAME.state.safetensors: AdamW's moments and step, RNG states beyond 2^53, the trainer's JSON; and a restored
// optimizer that continues exactly where the saved one was.
import Foundation
@testable import QuillCheckpoint
import QuillModel
import QuillTensor
import Testing

@Suite("Training state")
struct TrainingStateTests {
    /// An optimizer over the tiny GPT's layout after `steps` updates with random gradients.
    private func trainedOptimizer(steps: Int) -> (AdamW, FloatBuffer, FloatBuffer) {
        let layout = GPT.layout(for: Fixtures.tinyConfig)
        let params = allocateFloats(layout.count), grads = allocateFloats(layout.count)
        var rng = SplitMix64(seed: 11)
        for i in 0..<layout.count { params[i] = rng.nextGaussian() }
        let opt = AdamW(layout: layout, workers: 1)
        for _ in 0..<steps {
            for i in 0..<layout.count { grads[i] = rng.nextGaussian() * 0.1 }
            opt.update(params: params, grads: grads, lr: 1e-2)
        }
        return (opt, params, grads)
    }

    private let rngs: [String: UInt64] = ["sampler": .max, "dropout_passes": (1 << 53) + 1, "zero": 0,
                                          "odd \"name\"": 0x8000_0000_0000_0001]

    @Test("a training state round-trips: moments bit-exact, step, RNG states beyond 2^53, extra JSON")
    func roundTrip() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("tiny.state.safetensors")
        let (opt, params, grads) = trainedOptimizer(steps: 3)
        defer { freeFloats(params); freeFloats(grads) }
        let extra = #"{"record": {"steps": 3}, "note": "line\nbreak é \\ \"q\""}"#
        try TrainingState.write(optimizer: opt, rngs: rngs, extra: extra, to: url)

        let state = try TrainingState.read(from: url, expectedCount: opt.layout.count)
        #expect(state.optimizerStep == 3)
        #expect(state.rngs == rngs)
        #expect(state.extra == extra)
        #expect(state.adamM.map(\.bitPattern) == Array(opt.m).map(\.bitPattern))
        #expect(state.adamV.map(\.bitPattern) == Array(opt.v).map(\.bitPattern))

        let (tensors, metadata) = try SafeTensors.read(from: url)
        #expect(tensors.map(\.name) == ["adam.m", "adam.v"] && tensors[0].shape == [opt.layout.count])
        #expect(metadata["format"] == "pt")
        let stateJSON = try JSONSerialization.jsonObject(with: Data(metadata["quill.state"]!.utf8)) as! [String: Any]
        #expect((stateJSON["rng"] as! [String: String])["sampler"] == "18446744073709551615")
        #expect(stateJSON["step"] as? Int == 3)

        let copy = dir.file("copy.state.safetensors")
        try state.write(to: copy)
        let again = try TrainingState.read(from: copy, expectedCount: opt.layout.count)
        #expect(again.adamM == state.adamM && again.adamV == state.adamV && again.rngs == rngs)
    }

    @Test("restore(into:) gives an optimizer whose next update equals the original's")
    func restoreContinuesExactly() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("tiny.state.safetensors")
        let (original, params, grads) = trainedOptimizer(steps: 4)
        defer { freeFloats(params); freeFloats(grads) }
        try TrainingState.write(optimizer: original, rngs: [:], extra: "{}", to: url)

        let restored = AdamW(layout: original.layout, workers: 1)
        try TrainingState.read(from: url, expectedCount: original.layout.count).restore(into: restored)
        #expect(restored.step == 4)
        let copy = allocateFloats(params.count)
        defer { freeFloats(copy) }
        copy.baseAddress!.update(from: params.baseAddress!, count: params.count)

        original.update(params: params, grads: grads, lr: 3e-3)
        restored.update(params: copy, grads: grads, lr: 3e-3)
        #expect(Array(copy).map(\.bitPattern) == Array(params).map(\.bitPattern))
        #expect(Array(restored.m).map(\.bitPattern) == Array(original.m).map(\.bitPattern))
        #expect(Array(restored.v).map(\.bitPattern) == Array(original.v).map(\.bitPattern))
        #expect(restored.step == original.step)
    }

    @Test("a state of another model size, a checkpoint read as a state, and a bad RNG value are rejected")
    func refusals() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("tiny.state.safetensors")
        let (opt, params, grads) = trainedOptimizer(steps: 1)
        defer { freeFloats(params); freeFloats(grads) }
        try TrainingState.write(optimizer: opt, rngs: rngs, extra: "", to: url)
        let n = opt.layout.count

        #expect(caught { _ = try TrainingState.read(from: url, expectedCount: n + 1) }
                == .shapeMismatch(path: url.path, name: "adam.m", found: [n], expected: [n + 1]))
        #expect(caught { _ = try Checkpoint.read(from: url) } == .notQuillCheckpoint(path: url.path, key: "quill.config"))

        let ckpt = dir.file("tiny.safetensors")
        try Checkpoint.write(model: try Fixtures.gpt(), spec: .gpt(Fixtures.tinyConfig),
                             tokenizer: Fixtures.tokenizer().serialized, training: TrainingRecord(), to: ckpt)
        let asState = caught { _ = try TrainingState.read(from: ckpt, expectedCount: n) }
        #expect(asState == .notQuillCheckpoint(path: ckpt.path, key: "quill.state"))
        #expect(asState!.description.contains("not a Quill training state"))

        var (tensors, metadata) = try SafeTensors.read(from: url)
        metadata["quill.state"] = #"{"step": 1, "rng": {"sampler": "1e3"}, "extra": ""}"#
        try SafeTensors.write(tensors, metadata: metadata, to: url)
        guard case .invalidMetadata(url.path, "quill.state", let reason) =
            caught({ _ = try TrainingState.read(from: url, expectedCount: n) }) else {
            Issue.record("expected invalidMetadata for a non-decimal RNG state"); return
        }
        #expect(reason.contains("sampler"))

        tensors.removeLast()
        metadata["quill.state"] = #"{"step": 1, "rng": {}, "extra": ""}"#
        try SafeTensors.write(tensors, metadata: metadata, to: url)
        #expect(caught { _ = try TrainingState.read(from: url, expectedCount: n) }
                == .missingTensor(path: url.path, name: "adam.v", shape: [n]))
    }
}
