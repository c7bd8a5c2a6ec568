// Crash safety of every writer: a failed write (missing directory, unwritable place, full disk midway, a
// directory in the way) throws, leaves an existing file byte-identical, and leaves no temporary file behind.
import Foundation
@testable import QuillCheckpoint
import QuillModel
import QuillTensor
import QuillTokenizers
import Testing

@Suite("Atomic writes")
struct AtomicWriteTests {
    private func writeTiny(_ model: any LanguageModel, to url: URL, failAfterBytes: Int? = nil) throws(CheckpointError) {
        try Checkpoint.write(model: model, spec: .gpt(Fixtures.tinyConfig), tokenizer: Fixtures.tokenizer().serialized,
                             training: Fixtures.record(), to: url, failAfterBytes: failAfterBytes)
    }

    @Test("writing into a directory that does not exist throws, naming the file and the directory")
    func missingDirectory() throws {
        let dir = try ScratchDirectory()
        let url = dir.url.appendingPathComponent("no/such/dir/tiny.safetensors")
        let error = caught { try writeTiny(try! Fixtures.gpt(), to: url) }
        guard case .cannotWrite(url.path, let reason) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(reason.hasPrefix("No such file or directory"))
        #expect(reason.contains(url.deletingLastPathComponent().path))
        #expect(error!.description.hasPrefix("\(url.path): cannot write: No such file or directory"))
        #expect(try dir.temporaries().isEmpty)
    }

    @Test("writing where files cannot be created (/proc) throws")
    func unwritablePlace() throws {
        guard FileManager.default.fileExists(atPath: "/proc/self") else { return }
        let url = URL(fileURLWithPath: "/proc/quill-checkpoint-test.safetensors")
        guard case .cannotWrite(url.path, _) = caught({ try writeTiny(try! Fixtures.gpt(), to: url) }) else {
            Issue.record("expected cannotWrite under /proc"); return
        }
        let state = caught {
            try TrainingState.write(optimizer: AdamW(layout: Fixtures.tinyConfig.layout), rngs: [:], extra: "",
                                    to: url)
        }
        guard case .cannotWrite(url.path, _) = state else { Issue.record("expected cannotWrite for the state"); return }
    }

    @Test("a write that fails midway leaves the existing file byte-identical and no temporary file")
    func failureKeepsExistingFile() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("tiny.safetensors")
        try writeTiny(try Fixtures.gpt(seed: 1), to: url)
        let original = try bytes(of: url)
        let other = try Fixtures.gpt(seed: 2)
        for failAt in [0, 3, 8, 100, original.count / 2, original.count - 1] {
            let error = caught { try writeTiny(other, to: url, failAfterBytes: failAt) }
            guard case .cannotWrite(url.path, let reason) = error else {
                Issue.record("fail at \(failAt): \(String(describing: error))"); continue
            }
            #expect(reason.contains("No space left on device"))
            #expect(try bytes(of: url) == original, "fail at \(failAt)")
            #expect(try dir.temporaries().isEmpty, "fail at \(failAt)")
        }
        // The same write without the fault replaces the file.
        try writeTiny(other, to: url, failAfterBytes: original.count)
        #expect(try Checkpoint.read(from: url).parameters == Array(other.parameters))
        #expect(try dir.temporaries().isEmpty)
    }

    @Test("a directory in the way of the destination is left alone and no temporary file remains")
    func directoryInTheWay() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("taken")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        try write([1, 2, 3], to: url.appendingPathComponent("inside"))
        let error = caught { try SafeTensors.write([], metadata: [:], to: url) }
        guard case .cannotWrite(url.path, _) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(try bytes(of: url.appendingPathComponent("inside")) == [1, 2, 3])
        #expect(try dir.temporaries().isEmpty)
    }

    @Test("concurrent writers of one file each leave a complete file and no temporary")
    func concurrentWriters() async throws {
        let dir = try ScratchDirectory()
        let url = dir.file("shared.safetensors")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<6 {
                group.addTask {
                    let values = [Float](repeating: Float(writer), count: 5000)
                    try SafeTensors.write([.init(name: "w", shape: [5000], values: values)],
                                          metadata: ["writer": "\(writer)"], to: url)
                }
            }
            try await group.waitForAll()
        }
        let (tensors, metadata) = try SafeTensors.read(from: url)
        let writer = Float(Int(metadata["writer"]!)!)
        #expect(tensors[0].values == [Float](repeating: writer, count: 5000))
        #expect(try dir.temporaries().isEmpty)
    }
}

extension GPTConfig {
    var layout: ParameterLayout { GPT.layout(for: self) }
}
