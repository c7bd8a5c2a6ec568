// quill-train eval: a checkpoint's mean loss on a file, over every position once (non-overlapping windows).
import ArgumentParser
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTraining

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mean loss of a checkpoint on a text file: nats per token and bits per character.")

    @Option(help: "Checkpoint: a Quill .safetensors file or a Hugging Face GPT-2 folder.") var checkpoint: String
    @Option(help: "Text to evaluate on (plain UTF-8 or .gz).") var data: String
    @Option(help: "Data format: text, lines or jsonl.") var format: String = "text"
    @Option(help: "Windows per forward pass.") var batchSize = 16

    func run() throws {
        guard let fmt = DataFormat(rawValue: format) else { fail("--format must be text, lines or jsonl, got \(format)") }
        guard batchSize >= 1 else { fail("--batch-size must be >= 1") }
        do {
            let ckpt = try Checkpoint.load(path: checkpoint)
            let model = try ckpt.makeModel()
            model.isTraining = false
            let tokenizer = try ckpt.tokenizer.makeTokenizer()
            let corpus = try Corpus(path: data, format: fmt)
            let tokens = try corpus.tokens(with: tokenizer)
            let T = min(ckpt.spec.blockSize, max(1, tokens.count - 1))
            guard tokens.count >= 2 else { fail("\(data): needs at least 2 tokens") }
            // Windows of T + 1 tokens stepping by T: every target position is scored once.
            var starts: [Int] = []
            var s = 0
            while s + T + 1 <= tokens.count { starts.append(s); s += T }
            var nats = 0.0, count = 0
            var i = 0
            while i < starts.count {
                let B = min(batchSize, starts.count - i)
                var x: [Int32] = [], y: [Int32] = []
                for b in 0..<B {
                    x += tokens[starts[i + b]..<(starts[i + b] + T)]
                    y += tokens[(starts[i + b] + 1)...(starts[i + b] + T)]
                }
                let loss = try model.forward(inputs: x, targets: y, batchSize: B, sequenceLength: T) ?? .nan
                nats += Double(loss) * Double(B * T)
                count += B * T
                i += B
            }
            let perToken = nats / Double(count)
            // Characters covered by the scored positions, pro rata when the tail is not scored.
            let chars = Double(corpus.text.unicodeScalars.count) * Double(count) / Double(tokens.count - 1)
            let bpc = nats / log(2) / chars
            printLine(String(format: "%@: %.4f nats/token, %.4f bits/char over %d tokens", data, perToken, bpc, count))
            printLine(jsonLine(["mode": "eval", "checkpoint": checkpoint, "data": data, "tokens": count,
                                "loss": (perToken * 1e4).rounded() / 1e4, "bits_per_char": (bpc * 1e4).rounded() / 1e4]))
        } catch let e as CheckpointError {
            fail(e.description)
        } catch let e as TrainingError {
            fail(e.description)
        } catch {
            fail("\(error)")
        }
    }
}
