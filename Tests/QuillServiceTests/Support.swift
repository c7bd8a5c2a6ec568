// Test support: a tiny GPT checkpoint written once, a real server on 127.0.0.1:0, and a raw-socket HTTP client.
import Foundation
import Glibc
import QuillCheckpoint
import QuillModel
import QuillService
import QuillTokenizers
import QuillJSON

enum Fixture {
    static let corpus = """
        ROMEO: But soft, what light through yonder window breaks? It is the east, and Juliet is the sun.
        JULIET: O Romeo, Romeo, wherefore art thou Romeo? Deny thy father and refuse thy name.
        """

    /// A 2-layer GPT with a character tokenizer (random weights: outputs are gibberish but deterministic).
    static let checkpointPath: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quill-service-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("tiny.safetensors")
        let tokenizer = CharTokenizer(corpus: corpus)
        let config = GPTConfig(vocabSize: tokenizer.vocabularySize, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 16)
        let model = try! GPT(config: config, seed: 7, workers: 1)
        var training = TrainingRecord()
        training.steps = 10
        training.history = [EvalRecord(step: 0, tokens: 0, seconds: 0, trainLoss: 3.4, valLoss: 3.5, learningRate: 1e-3)]
        try! Checkpoint.write(model: model, spec: .gpt(config), tokenizer: tokenizer.serialized, training: training,
                              to: url)
        return url.path
    }()

    static let model: LoadedModel = try! LoadedModel(path: checkpointPath, workers: 2)

    /// The same shape with a byte-level BPE tokenizer fit on the corpus (300 tokens, end-of-text included).
    static let bpeCheckpointPath: String = {
        let url = URL(fileURLWithPath: checkpointPath).deletingLastPathComponent().appendingPathComponent("bpe.safetensors")
        let tokenizer = try! BytePairTokenizer.fit(corpus: corpus, vocabularySize: 300)
        let config = GPTConfig(vocabSize: tokenizer.vocabularySize, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 16)
        let model = try! GPT(config: config, seed: 7, workers: 1)
        try! Checkpoint.write(model: model, spec: .gpt(config), tokenizer: tokenizer.serialized,
                              training: TrainingRecord(), to: url)
        return url.path
    }()

    static func config(_ change: (inout ServerConfig) -> Void = { _ in }) -> ServerConfig {
        var c = ServerConfig()
        c.host = "127.0.0.1"
        c.port = 0
        c.checkpoint = checkpointPath
        c.threads = 2
        c.requestTimeout = 2
        c.idleTimeout = 2
        c.drainSeconds = 2
        c.openapi = "docs/openapi.yaml"
        change(&c)
        return c
    }

    /// Runs `body` against a fresh server and shuts it down afterwards.
    static func withServer<T>(_ change: (inout ServerConfig) -> Void = { _ in }, model: LoadedModel = Fixture.model,
                              _ body: (QuillServer) async throws -> T) async throws -> T {
        let server = QuillServer(config: config(change), model: model)
        try server.start()
        do {
            let r = try await body(server)
            await server.shutdown()
            return r
        } catch {
            await server.shutdown()
            throw error
        }
    }
}

struct HTTPReply {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }

    /// The `data:` payloads of an event stream, in order.
    var events: [String] {
        text.components(separatedBy: "\n\n").compactMap { block in
            block.split(separator: "\n").first { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
        }
    }
}

enum TestClientError: Error { case connect(Int32), closed, malformed(String) }

/// A blocking HTTP/1.1 client on a raw socket (each request on a new connection with `Connection: close`).
final class RawClient: @unchecked Sendable {  // used by one test at a time
    private(set) var fd: Int32

    init(port: Int, timeout: Double = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            // Closed here once, and marked so that deinit (which still runs after a throwing init) does not close
            // the number again: by then it may be another thread's socket or pipe.
            let code = errno
            close(fd)
            fd = -1
            throw TestClientError.connect(code)
        }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { if fd >= 0 { close(fd) } }

    func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Up to `max` bytes (empty at EOF or timeout).
    func receive(max: Int = 65536) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: max)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, max, 0) }
        return n > 0 ? Array(buf[0..<n]) : []
    }

    /// Reads until `text` has arrived (or 50 reads came back without it).
    func waitFor(_ text: String) {
        var got: [UInt8] = []
        for _ in 0..<50 {
            got += receive()
            if String(decoding: got, as: UTF8.self).contains(text) { return }
        }
    }

    func readAll() -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let chunk = receive()
            if chunk.isEmpty { return out }
            out += chunk
        }
    }

    /// Blocking socket calls run on Dispatch threads, never on Swift's small cooperative pool (which the server's
    /// handlers need).
    static func request(port: Int, method: String = "GET", path: String, body: [UInt8] = [],
                        headers: [(String, String)] = []) async throws -> HTTPReply {
        try await offPool { try requestSync(port: port, method: method, path: path, body: body, headers: headers) }
    }

    static func post(port: Int, _ path: String, json: String, headers: [(String, String)] = []) async throws -> HTTPReply {
        try await offPool { try postSync(port: port, path, json: json, headers: headers) }
    }

    static func requestSync(port: Int, method: String = "GET", path: String, body: [UInt8] = [],
                            headers: [(String, String)] = []) throws -> HTTPReply {
        let c = try RawClient(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        c.send(Array(head.utf8) + body)
        return try parse(c.readAll())
    }

    static func postSync(port: Int, _ path: String, json: String, headers: [(String, String)] = []) throws -> HTTPReply {
        try requestSync(port: port, method: "POST", path: path, body: Array(json.utf8),
                    headers: [("Content-Type", "application/json")] + headers)
    }

    static func parse(_ raw: [UInt8]) throws -> HTTPReply {
        guard let end = find(raw, [13, 10, 13, 10]) else { throw TestClientError.malformed("no header end") }
        let head = String(decoding: raw[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw TestClientError.malformed(head[0]) }
        var headers: [(String, String)] = []
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var body = Array(raw[(end + 4)...])
        if headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased().contains("chunked") }) {
            body = try dechunk(body)
        }
        return HTTPReply(status: status, headers: headers, body: body)
    }

    static func dechunk(_ data: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < data.count {
            guard let lineEnd = find(Array(data[i...]), [13, 10]) else { throw TestClientError.malformed("chunk size") }
            let sizeText = String(decoding: data[i..<(i + lineEnd)], as: UTF8.self).split(separator: ";")[0]
            guard let size = Int(sizeText, radix: 16) else { throw TestClientError.malformed("chunk size \(sizeText)") }
            i += lineEnd + 2
            if size == 0 { break }
            out += data[i..<min(data.count, i + size)]
            i += size + 2
        }
        return out
    }

    static func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}

extension JSONValue {
    var string: String? { if case .string(let s) = self { s } else { nil } }
    var double: Double? { if case .number(let n) = self { n.double } else { nil } }
    var int: Int? { double.map { Int($0) } }
    var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
}

/// Runs blocking work on a thread of its own: not on Swift's small cooperative pool (which the server's handlers
/// need), and not on Dispatch's pool (which runs the server's connections).
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
        }
        thread.start()
    }
}
