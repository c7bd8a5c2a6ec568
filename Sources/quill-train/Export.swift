// quill-train export: a checkpoint (or a Hugging Face folder) written as a Hugging Face GPT-2 folder for
// transformers, or as one GGUF file for llama.cpp.
import ArgumentParser
import Foundation
import QuillCheckpoint

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint as a Hugging Face GPT-2 folder (--hf DIR) or a GGUF file (--gguf FILE).",
        discussion: "The model needs a byte-level BPE tokenizer (GPT-2's, or one fitted with tokenizer.kind bpe); "
            + "a character-level model is refused. transformers loads the folder with "
            + "GPT2LMHeadModel.from_pretrained(DIR); llama.cpp runs the GGUF file (F32).")

    @Option(help: "Checkpoint: a Quill .safetensors file or a Hugging Face GPT-2 folder.") var checkpoint: String
    @Option(help: "Folder to write config.json, model.safetensors and the tokenizer files into.") var hf: String?
    @Option(help: "GGUF file to write.") var gguf: String?
    @Option(help: "general.name in the GGUF file (default: the checkpoint's file name).") var name: String?

    func run() throws {
        guard hf != nil || gguf != nil else { fail("export needs --hf DIR or --gguf FILE") }
        do {
            let ckpt = try Checkpoint.load(path: checkpoint)
            if let hf {
                try Export.huggingFace(ckpt, to: URL(fileURLWithPath: hf))
                printLine("wrote \(hf)/ (config.json, model.safetensors, generation_config.json, vocab.json, merges.txt, "
                          + "tokenizer_config.json, special_tokens_map.json)")
            }
            if let gguf {
                let url = URL(fileURLWithPath: checkpoint)
                let modelName = name ?? url.deletingPathExtension().lastPathComponent
                try Export.gguf(ckpt, to: URL(fileURLWithPath: gguf), name: modelName)
                printLine("wrote \(gguf)")
            }
        } catch let e as CheckpointError {
            fail(e.description)
        } catch {
            fail("\(error)")
        }
    }
}
