// Server-Sent Events: `data: JSON` events, `: ping` comments every second until the first event (while the
// request waits for the batch or its prompt is processed), and `data: [DONE]` at the end. When the client goes
// away the HTTP layer stops reading the stream, which cancels the producer and with it the generation.
import Foundation
import HTTPTypes
import QuillHTTP

final class SSEWriter: @unchecked Sendable {  // `started` is guarded by `lock`
    let continuation: AsyncStream<[UInt8]>.Continuation
    private let lock = NSLock()
    private var started = false

    init(_ continuation: AsyncStream<[UInt8]>.Continuation) { self.continuation = continuation }

    func send(_ value: JSONValue) {
        lock.withLock { started = true }
        var bytes = Array("data: ".utf8)
        value.write(into: &bytes)
        bytes.append(contentsOf: [0x0A, 0x0A])
        continuation.yield(bytes)
    }

    func done() {
        lock.withLock { started = true }
        continuation.yield(Array("data: [DONE]\n\n".utf8))
        continuation.finish()
    }

    /// A comment line while nothing has been sent yet; false once events flow.
    func ping() -> Bool {
        guard !lock.withLock({ started }) else { return false }
        continuation.yield(Array(": ping\n\n".utf8))
        return true
    }
}

enum SSE {
    static let headers: HTTPFields = [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache"]

    /// A streamed response whose events `produce` sends; pings go out every `pingInterval` until the first event.
    static func stream(pingInterval: Double = 1,
                       _ produce: @escaping @Sendable (SSEWriter) async -> Void) -> HTTPServerResponse {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .unbounded)
        let writer = SSEWriter(continuation)
        continuation.yield(Array(": ping\n\n".utf8))  // the head and a first byte go out at once
        let producer = Task { await produce(writer); writer.continuation.finish() }
        let pinger = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(pingInterval * 1e9))
                if Task.isCancelled || !writer.ping() { return }
            }
        }
        continuation.onTermination = { _ in
            producer.cancel()
            pinger.cancel()
        }
        return HTTPServerResponse(status: .ok, headerFields: headers, body: .stream(stream))
    }

    /// /complete's stream: optionally the echoed prompt, one event per step, then [DONE].
    static func response(events: AsyncStream<GenerationEvent>, echo: String?,
                         encode: @escaping @Sendable (GenerationEvent) -> JSONValue) -> HTTPServerResponse {
        stream { writer in
            if let echo { writer.send(.object([("text", .string(echo)), ("tokens", .array([]))])) }
            for await event in events { writer.send(encode(event)) }
            if !Task.isCancelled { writer.done() }
        }
    }
}
