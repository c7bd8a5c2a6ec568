// quill-train sample: a completion of a prompt from a checkpoint (greedy or sampled; full forward per token).
import ArgumentParser
import Foundation
import QuillCheckpoint
import QuillModel
import QuillTokenizers

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a completion of a prompt.")

    @Option(help: "Checkpoint: a Quill .safetensors file or a Hugging Face GPT-2 folder.") var checkpoint: String
    @Option(help: "Text to continue (\"\" starts from end-of-text when the vocabulary has it, else a newline).") var prompt: String = ""
    @Option(help: "New tokens.") var maxTokens = 200
    @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float = 0.8
    @Option(help: "Sample among the k most likely tokens (0: all).") var topK = 40
    @Option(help: "Seed (same seed, same text).") var seed: UInt64 = 1337
    @Flag(help: "Greedy decoding (temperature 0).") var greedy = false

    func run() throws {
        guard maxTokens >= 1 else { fail("--max-tokens must be >= 1") }
        guard temperature >= 0 else { fail("--temperature must be >= 0") }
        guard topK >= 0 else { fail("--top-k must be >= 0") }
        do {
            let ckpt = try Checkpoint.load(path: checkpoint)
            let model = try ckpt.makeModel()
            let tokenizer = try ckpt.tokenizer.makeTokenizer()
            let eot = tokenizer.specialTokens[SpecialTokens.endOfText]
            var ids = try tokenizer.encode(prompt).map(Int32.init)
            if ids.isEmpty { ids = [Int32(tokenizer.startToken)] }
            let options = SamplingOptions(temperature: greedy ? 0 : temperature, topK: topK == 0 ? nil : topK, seed: seed)
            let out = try model.generate(prompt: ids, maxNewTokens: maxTokens, options: options, stopToken: eot.map(Int32.init))
            let text = try tokenizer.decode(out.filter { Int($0) != eot }.map(Int.init))
            printLine(prompt + text)
        } catch let e as CheckpointError {
            fail(e.description)
        } catch let e as ModelError {
            fail(e.description)
        } catch {
            fail("\(error)")
        }
    }
}
