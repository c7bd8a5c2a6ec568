// Data-parallel training over MPI: `mpirun -np 2 quill-train train …` gives, step for step, the losses of one
// process with the same global batch and seed, and resumes across ranks from rank 0's files.
import Foundation
import Testing

/// Open MPI's mpirun, when installed (Debian: openmpi-bin).
let mpirunPath: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Runs `mpirun -np N quill-train ARGS` (as root too, on 2 cores or fewer); returns (status, stderr).
func runMPI(_ n: Int, _ args: [String]) throws -> (Int32, String) {
    guard let mpirun = mpirunPath, let bin = quillTrainBinary() else { return (-1, "no mpirun or quill-train") }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: mpirun)
    p.arguments = ["-np", "\(n)", "--oversubscribe", "--bind-to", "none", bin.path] + args
    var env = ProcessInfo.processInfo.environment
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    p.environment = env
    let err = Pipe()
    p.standardOutput = FileHandle.nullDevice
    p.standardError = err
    try p.run()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: e, as: UTF8.self))
}

/// The training losses, in step order, of a run's metrics.jsonl.
func losses(_ metrics: URL) throws -> [Double] {
    try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").compactMap { line in
        (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["loss"] as? Double
    }
}

@Suite("Data-parallel training over MPI", .needsShakespeare,
       .enabled(if: mpirunPath != nil, "needs Open MPI's mpirun (Debian: openmpi-bin)"))
struct DataParallelTests {
    @Test("2 ranks give the losses of 1 process with the same global batch and seed, and resume from rank 0's files")
    func twoRanksEqualOne() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(30_000, in: dir)
        let base = ["train", "--data", data, "--threads", "1", "--n_layer", "2", "--n_head", "2", "--n_embd", "32",
                    "--block_size", "32", "--batch_size", "8", "--eval_interval", "10", "--eval_iters", "2",
                    "--sample_tokens", "0", "--dropout", "0.1", "--log_interval", "1"]
        let one = dir.appendingPathComponent("one.safetensors").path
        let (s1, _, e1) = try runQuillTrain(base + ["--out", one, "--max_steps", "20"])
        #expect(s1 == 0, "\(e1)")
        // Two ranks: 10 steps, then --resume to 20 (every rank reads the files rank 0 wrote).
        let two = dir.appendingPathComponent("two.safetensors").path
        let (s2, e2) = try runMPI(2, base + ["--out", two, "--max_steps", "10"])
        #expect(s2 == 0, "\(e2)")
        let (s3, e3) = try runMPI(2, ["train", "--resume", two, "--threads", "1", "--max_steps", "20"])
        #expect(s3 == 0, "\(e3)")
        let a = try losses(URL(fileURLWithPath: one.replacingOccurrences(of: ".safetensors", with: ".metrics.jsonl")))
        let b = try losses(URL(fileURLWithPath: two.replacingOccurrences(of: ".safetensors", with: ".metrics.jsonl")))
        #expect(a.count == 20 && b.count == 20)
        for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-4 * max(1, abs(x)), "losses \(x) and \(y)") }
        // Only rank 0 wrote: one metrics line per step, no stray temporary files.
        let hidden = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(hidden.isEmpty, "\(hidden)")
    }

    @Test("a global batch the ranks cannot share equally is refused")
    func unevenBatch() throws {
        let dir = scratchFolder()
        let data = try shakespeareSlice(30_000, in: dir)
        let (status, err) = try runMPI(3, ["train", "--data", data, "--out", dir.appendingPathComponent("m.safetensors").path,
                                           "--batch_size", "8", "--n_layer", "1", "--n_head", "1", "--n_embd", "8",
                                           "--block_size", "8", "--max_steps", "2"])
        #expect(status != 0)
        #expect(err.contains("batch_size 8 must be a multiple of the 3 ranks"), "\(err)")
    }
}
