// quill-train prepare: tokenize text files once into token shards that `train --data DIR` maps.
import ArgumentParser
import Foundation
import QuillTensor
import QuillTraining

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize text files once, in parallel and streaming, into token shards for train --data DIR.",
        discussion: """
            Writes DIR/train-NNNNN.bin and DIR/val-NNNNN.bin (uint16 tokens when the vocabulary fits, else uint32), \
            a .docs file of document starts beside each, and DIR/manifest.json (tokenizer, counts, SHA-256 per file). \
            lines and jsonl documents are split into train and val whole; a text file's last --val-fraction is val.
            """)

    @Option(name: .customLong("data"), parsing: .upToNextOption, help: "Text files to tokenize (plain UTF-8, or .gz).")
    var inputs: [String] = []
    @Option(help: "Folder to write the shards to (created; must be empty, or hold shards and --force).") var out: String
    @Option(help: "Data format: text (one stream), lines (a document per line), jsonl ({\"text\": …} per line).")
    var format: String = "text"
    @Option(help: "Tokenizer: char, bpe (fitted on a sample of the corpus) or gpt2.") var tokenizer: String = "char"
    @Option(name: .customLong("vocab-size"), help: "Vocabulary size of a fitted BPE.") var vocabSize: Int = 1024
    @Option(name: .customLong("tokenizer-path"), help: "Folder with vocab.json and merges.txt (tokenizer gpt2).")
    var tokenizerPath: String?
    @Option(name: .customLong("tokenizer-from"),
            help: "Use the tokenizer of this checkpoint or Hugging Face folder (to fine-tune it on the shards).")
    var tokenizerFrom: String?
    @Option(name: .customLong("val-fraction"), help: "Share of the documents (or of each text file's end) held out.")
    var valFraction: Double = 0.1
    @Option(help: "Seed of the document split.") var seed: UInt64 = 1337
    @Option(name: .customLong("memory-mb"), help: "Memory for the text and tokens in flight (MB).") var memoryMB = 256
    @Option(name: .customLong("shard-tokens"), help: "Tokens per shard, at most (shards end at a document boundary).")
    var shardTokens = 100_000_000
    @Option(name: .customLong("sample-mb"), help: "Text a BPE vocabulary is fitted on (MB), taken evenly through the corpus.")
    var sampleMB = 32
    @Option(help: "Worker threads (default: all cores, or QUILL_THREADS).") var threads: Int?
    @Flag(help: "Replace the shards already in --out.") var force = false

    func run() throws {
        guard !inputs.isEmpty else { fail("--data FILE… is required (the text to tokenize)") }
        guard let fmt = DataFormat(rawValue: format) else { fail("--format must be text, lines or jsonl, got \(format)") }
        guard ["char", "bpe", "gpt2"].contains(tokenizer) else { fail("--tokenizer must be char, bpe or gpt2, got \(tokenizer)") }
        var o = PrepareOptions(inputs: inputs, output: out)
        o.format = fmt
        o.tokenizer = TokenizerSpec(kind: tokenizer, vocabSize: vocabSize, path: tokenizerPath)
        o.tokenizerFrom = tokenizerFrom
        o.valFraction = valFraction
        o.seed = seed
        o.memoryMB = memoryMB
        o.shardTokens = shardTokens
        o.sampleMB = sampleMB
        o.workers = threads ?? Parallel.defaultWorkers
        o.force = force
        let interactive = isatty(STDERR_FILENO) == 1
        var lastReport = Date.distantPast
        do {
            let m = try ShardPreparer.run(o) { event in
                switch event {
                case let .tokenizer(what):
                    printLine("tokenizer: \(what)")
                case let .progress(bytes, total, tokens, seconds):
                    guard Date().timeIntervalSince(lastReport) >= 1 || bytes == total else { return }
                    lastReport = Date()
                    let line = String(format: "%.0f%% | %.1f / %.1f MB | %d tokens | %.1f MB/s", 100 * Double(bytes) / Double(max(1, total)),
                                      Double(bytes) / 1e6, Double(total) / 1e6, tokens, Double(bytes) / 1e6 / max(seconds, 1e-9))
                    if interactive { FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8)) } else { printLine(line) }
                }
            }
            if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
            printLine("wrote \(m.shards.count) shards to \(out): \(m.tokens("train")) train tokens in \(m.documents("train")) documents, \(m.tokens("val")) val tokens in \(m.documents("val")) documents (\(m.dtype))")
            printLine("train with: quill-train train --data \(out) …")
        } catch {
            fail(error.description)
        }
    }
}
