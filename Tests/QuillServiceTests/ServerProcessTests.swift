// The quill-server executable itself: what a second signal during the drain does.
import Foundation
import Glibc
import Testing

/// The quill-server built beside this test bundle.
func quillServerBinary() -> URL? {
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [
        Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("quill-server"),
        here.appendingPathComponent("quill-server"),
        here.deletingLastPathComponent().appendingPathComponent("quill-server"),
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}

/// A port that was free a moment ago.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

@Suite("quill-server process", .serialized)
struct ServerProcessTests {
    @Test("a second SIGTERM during the drain says so and exits 143 (128 + SIGTERM), not 0")
    func secondSignalExitsNonZero() async throws {
        guard let bin = quillServerBinary() else {
            Issue.record("quill-server is not built beside the tests (swift test builds every product)")
            return
        }
        let port = freePort()
        let p = Process()
        p.executableURL = bin
        p.arguments = ["--checkpoint", Fixture.checkpointPath, "--port", String(port), "--drain-seconds", "30",
                       "--threads", "1"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        var up = false
        for _ in 0..<100 where !up {
            up = (try? await RawClient.request(port: port, path: "/health").status) == 200
            if !up { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(up)
        // A request half sent keeps the drain waiting (up to drain_seconds). Its 100 Continue shows that the server
        // has its head, so the drain cannot take it for an idle connection, however loaded the machine is.
        let pending = try RawClient(port: port)
        pending.send(Array("POST /complete HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n".utf8))
        try await offPool { pending.waitFor("100 Continue") }
        pending.send(Array("{\"prompt\":".utf8))
        kill(p.processIdentifier, SIGTERM)
        try await Task.sleep(for: .milliseconds(500))
        #expect(p.isRunning, "the first SIGTERM drains, which waits for the half-sent request")
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while p.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!p.isRunning)
        #expect(p.terminationStatus == 143)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(stderr.contains("signal 15 during the drain: exiting at once"), "\(stderr.suffix(400))")
    }
}
