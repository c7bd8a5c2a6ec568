// quill-bench server: a load generator of its own against a running quill-server. Each of C client threads
// keeps one keep-alive connection and sends requests back to back for the duration; the report has requests/s,
// p50/p99 latency and, for /complete, the aggregate tokens/s (usage.completion_tokens over wall time).
import ArgumentParser
import Foundation
import Glibc

struct ServerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Load a running quill-server: requests/s, p50/p99 latency, tokens/s; one JSON line per concurrency.")

    @Option(help: "Server address.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 8080
    @Option(help: "health, tokenize, complete (Quill's /complete), or openai (POST /v1/completions, greedy, which llama-server and vLLM answer too).")
    var route = "health"
    @Option(help: "Name of the server in the report (quill, llama-server, …).") var impl = "quill"
    @Option(help: "Comma-separated concurrency levels (client connections).") var concurrency = "1,4,16,64"
    @Option(help: "Seconds per level.") var seconds = 10.0
    @Option(help: "max_tokens of each /complete request.") var new = 128
    @Option(help: "Prompt of /complete and text of /tokenize.") var prompt = "ROMEO:"

    func validate() throws {
        guard ["health", "tokenize", "complete", "openai"].contains(route) else {
            throw ValidationError("--route must be health, tokenize, complete or openai")
        }
        guard levels.allSatisfy({ $0 >= 1 && $0 <= 1024 }), !levels.isEmpty else {
            throw ValidationError("--concurrency must list numbers between 1 and 1024")
        }
        guard seconds > 0 else { throw ValidationError("--seconds must be > 0") }
    }

    var levels: [Int] { concurrency.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func request() -> [UInt8] {
        func post(_ path: String, _ body: String) -> [UInt8] {
            Array("POST \(path) HTTP/1.1\r\nHost: \(host)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        }
        let escaped = prompt.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        switch route {
        case "tokenize": return post("/tokenize", #"{"text":"\#(escaped)"}"#)
        case "complete":
            return post("/complete", #"{"prompt":"\#(escaped)","max_tokens":\#(new),"strategy":"top_k","seed":1}"#)
        case "openai":
            // ignore_eos: llama-server's flag to generate all max_tokens (Quill ignores fields it does not know).
            return post("/v1/completions",
                        #"{"prompt":"\#(escaped)","max_tokens":\#(new),"temperature":0,"ignore_eos":true}"#)
        default: return Array("GET /health HTTP/1.1\r\nHost: \(host)\r\n\r\n".utf8)
        }
    }

    func run() throws {
        let req = request()
        for c in levels {
            let results = LoadResults()
            let deadline = Date().addingTimeInterval(seconds)
            let start = Date()
            let group = DispatchGroup()
            for _ in 0..<c {
                group.enter()
                let t = Thread { [host, port] in
                    defer { group.leave() }
                    LoadClient.run(host: host, port: port, request: req, until: deadline, into: results)
                }
                t.stackSize = 1 << 20
                t.start()
            }
            group.wait()
            let wall = Date().timeIntervalSince(start)
            let (latencies, tokens, errors) = results.snapshot()
            let sorted = latencies.sorted()
            func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(p * Double(sorted.count)))] }
            var out: [String: Any] = [
                "impl": impl, "mode": "server", "route": route == "openai" ? "/v1/completions" : "/\(route)", "concurrency": c,
                "requests": sorted.count, "errors": errors, "seconds": round2(wall),
                "requests_per_s": round1(Double(sorted.count) / wall),
                "p50_ms": round2(pct(0.50) * 1000), "p99_ms": round2(pct(0.99) * 1000),
            ]
            if route == "complete" || route == "openai" {
                out["tokens_per_s"] = round1(Double(tokens) / wall)
                out["new_tokens"] = new
            }
            printJSON(out)
        }
    }
}

/// Latencies, tokens and errors from every client thread.
final class LoadResults: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var latencies: [Double] = []
    private var tokens = 0
    private var errors = 0
    func add(_ l: [Double], tokens t: Int, errors e: Int) {
        lock.withLock { latencies += l; tokens += t; errors += e }
    }
    func snapshot() -> ([Double], Int, Int) { lock.withLock { (latencies, tokens, errors) } }
}

enum LoadClient {
    static func connectSocket(host: String, port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { close(fd); return nil }
        return fd
    }

    /// Sends `request` back to back on one keep-alive connection (reconnecting after an error) until `until`.
    static func run(host: String, port: Int, request: [UInt8], until: Date, into results: LoadResults) {
        var latencies: [Double] = []
        var tokens = 0, errors = 0
        var fd: Int32? = nil
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while Date() < until {
            if fd == nil { fd = connectSocket(host: host, port: port) }
            guard let s = fd else { errors += 1; usleep(10_000); continue }
            let t0 = DispatchTime.now().uptimeNanoseconds
            var ok = request.withUnsafeBytes { send(s, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == request.count
            var response: [UInt8] = []
            var headerEnd = -1, contentLength = -1, status = 0
            while ok {
                let n = buffer.withUnsafeMutableBytes { recv(s, $0.baseAddress, $0.count, 0) }
                if n <= 0 { ok = false; break }
                response += buffer[0..<n]
                if headerEnd < 0, let end = find(response, [13, 10, 13, 10]) {
                    headerEnd = end + 4
                    let head = String(decoding: response[0..<end], as: UTF8.self).lowercased()
                    status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                    for line in head.components(separatedBy: "\r\n") where line.hasPrefix("content-length:") {
                        contentLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? -1
                    }
                    if contentLength < 0 { ok = false }
                }
                if headerEnd >= 0, response.count >= headerEnd + contentLength { break }
            }
            if !ok || status != 200 {
                errors += 1
                close(s)
                fd = nil
                continue
            }
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            if let r = String(decoding: response[headerEnd...], as: UTF8.self).range(of: "\"completion_tokens\":") {
                let body = String(decoding: response[headerEnd...], as: UTF8.self)
                tokens += Int(body[r.upperBound...].prefix(while: \.isNumber)) ?? 0
            }
        }
        if let s = fd { close(s) }
        results.add(latencies, tokens: tokens, errors: errors)
    }

    static func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}
