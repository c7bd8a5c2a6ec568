// Back-pressure for a client that stops reading a stream: its generation stops once 1 MiB waits for it.
import Foundation
import QuillService
import Testing

@Suite("Slow readers", .serialized)
struct SlowReaderTests {
    @Test("a stream whose client stops reading is cut at 1 MiB waiting: the generation stops and the stream ends with a slow_reader error")
    func stalledReaderStopsItsGeneration() async throws {
        try await Fixture.withServer({ $0.maxTokensLimit = 65536; $0.minSendRate = 0 }) { server in
            let client = try RawClient(port: server.port, timeout: 20)
            let body = #"{"prompt":"RO","max_tokens":60000,"stream":true,"logprobs":20}"#
            client.send(Array("POST /complete HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))
            // Not reading: the generation must end long before its 60,000 tokens (about 70 MB of events).
            var inFlight = 1
            for _ in 0..<200 where inFlight > 0 {
                try await Task.sleep(for: .milliseconds(100))
                inFlight = try await RawClient.request(port: server.port, path: "/info").json["server"]?["in_flight"]?.int ?? -1
            }
            #expect(inFlight == 0, "the generation still runs with nobody reading")
            // Read on a Dispatch thread, never on the cooperative pool the server's handlers need.
            let text = String(decoding: try await offPool { client.readAll() }, as: UTF8.self)
            let events = text.components(separatedBy: "data: ").count - 1
            #expect(events > 100 && events < 40000, "\(events) events")
            #expect(text.contains("\"code\":\"slow_reader\"") && !text.contains("[DONE]"))
        }
    }
}
