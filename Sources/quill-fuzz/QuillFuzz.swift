// quill-fuzz: libFuzzer harnesses (`make fuzz`) and their replayer.
//
// - `http`: the request parser. Any bytes; the parser must not crash, and must make the same requests and errors
//   of them whether they arrive at once or cut into pieces (the first byte picks the piece lengths).
// - `json`: the API's request decoding. The bytes are a JSON body sent to every POST route of a tiny model: no
//   answer may be a 5xx but 503, and a body that parses as JSON must come back the same through
//   serialize-then-parse.
//
// Built for fuzzing (`-sanitize=fuzzer,address -D QUILL_FUZZ`), libFuzzer supplies main and QUILL_FUZZ_TARGET picks
// the harness. Built normally, `quill-fuzz TARGET FILE…` runs the harness once on each file (a corpus, or a crash
// to reproduce) and says which input failed.
import Dispatch
import Foundation
import HTTPTypes
import QuillCheckpoint
import QuillHTTP
import QuillModel
import QuillService
import QuillTokenizers
import QuillJSON

enum Harness {
    static func http(_ bytes: [UInt8]) {
        let whole = ParserProbe.frame(bytes)
        let pieces = bytes.isEmpty ? [1] : [Int(bytes[0] % 7) + 1, Int(bytes[0] / 7 % 5) + 1]
        let cut = ParserProbe.frame(bytes, pieces: pieces)
        if whole != cut {
            fatalError("the parser made different things of the same bytes fed at once and in pieces \(pieces):\n"
                + "at once: \(whole)\nin pieces: \(cut)")
        }
    }

    /// A 1-layer character model over printable ASCII, written once to a temporary file, served by one API.
    static let api: QuillAPI = {
        let corpus = String((32...126).map { Character(UnicodeScalar($0)) }) + "\n"
        let tokenizer = CharTokenizer(corpus: corpus)
        let config = GPTConfig(vocabSize: tokenizer.vocabularySize, blockSize: 16, nLayer: 1, nHead: 1, nEmbd: 8)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("quill-fuzz-\(getpid()).safetensors")
        do {
            let model = try GPT(config: config, seed: 1, workers: 1)
            try Checkpoint.write(model: model, spec: .gpt(config), tokenizer: tokenizer.serialized,
                                 training: TrainingRecord(), to: url)
            var c = ServerConfig()
            c.checkpoint = url.path
            c.maxTokensLimit = 8
            c.threads = 1
            c.promptCacheMB = 1
            let loaded = try LoadedModel(path: url.path, workers: 1)
            return QuillAPI(model: loaded, config: c)
        } catch {
            fatalError("quill-fuzz: cannot make the model: \(error)")
        }
    }()

    static let routes = ["/complete", "/v1/completions", "/v1/chat/completions", "/tokenize", "/detokenize",
                         "/attention", "/apply-template"]

    static func json(_ bytes: [UInt8]) {
        if let value = try? JSONValue.parse(bytes) {
            let again = try? JSONValue.parse(value.serialized())
            if again != value { fatalError("JSON did not survive serialize-then-parse: \(value) became \(String(describing: again))") }
        }
        for route in routes {
            let request = HTTPServerRequest(method: .post, target: route, headerFields: [.contentType: "application/json"],
                                            body: bytes)
            let status = Self.wait { await api.handle(request) }
            if status >= 500 && status != 503 {
                fatalError("\(route) answered \(status) to \(String(decoding: bytes.prefix(300), as: UTF8.self))")
            }
        }
    }

    /// Runs an async handler to the end of its response, body included, and returns its status.
    static func wait(_ body: @escaping @Sendable () async -> HTTPServerResponse) -> Int {
        let done = DispatchSemaphore(value: 0)
        let box = StatusBox()
        Task.detached {
            let response = await body()
            if case .stream(let s) = response.body { for await _ in s {} }
            box.status = response.status.code
            done.signal()
        }
        done.wait()
        return box.status
    }

    static func run(_ target: String, _ bytes: [UInt8]) {
        switch target {
        case "http": http(bytes)
        case "json": json(bytes)
        default: fatalError("quill-fuzz: unknown target \(target) (http, json)")
        }
    }
}

final class StatusBox: @unchecked Sendable { var status = 0 }  // written before the semaphore signals, read after

#if QUILL_FUZZ
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    Harness.run(ProcessInfo.processInfo.environment["QUILL_FUZZ_TARGET"] ?? "http", bytes)
    return 0
}

/// libFuzzer's driver (its own main, callable).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM links an executable's entry point as `<module>_main`; here it hands over to libFuzzer.
@_cdecl("quill_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzzOne)
}
#else
@main
struct Replay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let target = args.first, args.count >= 2 else {
            FileHandle.standardError.write(Data("usage: quill-fuzz http|json FILE|DIR…\n".utf8))
            exit(2)
        }
        var files: [String] = []
        for path in args.dropFirst() {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { "\(path)/\($0)" }
            } else {
                files.append(path)
            }
        }
        for f in files {
            guard let data = FileManager.default.contents(atPath: f) else {
                FileHandle.standardError.write(Data("quill-fuzz: cannot read \(f)\n".utf8))
                exit(1)
            }
            FileHandle.standardError.write(Data("\(f)\n".utf8))
            Harness.run(target, Array(data))
        }
        print("quill-fuzz \(target): \(files.count) inputs, no failure")
    }
}
#endif
