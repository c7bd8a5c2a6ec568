// Server-Sent Events: `data: JSON` events, `: ping` comments every second until the first event (while the
// request waits for the batch or its prompt is processed), and `data: [DONE]` at the end. When the client goes
// away the HTTP layer stops reading the stream, which cancels the producer and with it the generation.
import Foundation
import HTTPTypes
import Logging
import QuillHTTP
import QuillJSON

final class SSEWriter: @unchecked Sendable {  // `started`, `pending` and `overflowed` are guarded by `lock`
    let continuation: AsyncStream<[UInt8]>.Continuation
    private let lock = NSLock()
    private var started = false
    /// Bytes handed to the stream that the HTTP layer has not taken yet: what a slow reader leaves waiting.
    private var pending = 0
    private var overflowed = false
    /// Most bytes a stream may have waiting for its client; past it the generation is stopped (back-pressure for
    /// slow readers: the HTTP layer takes bytes only as fast as the socket drains).
    static let maxPendingBytes = 1 << 20

    init(_ continuation: AsyncStream<[UInt8]>.Continuation) { self.continuation = continuation }

    /// Sends an event of an Encodable type (Responses.swift).
    @discardableResult
    func send<T: Encodable>(_ value: T) -> Bool { send(JSONValue(encoding: value)) }

    /// Queues one event; false once the client has fallen `maxPendingBytes` behind (the event is not queued then).
    @discardableResult
    func send(_ value: JSONValue) -> Bool {
        var bytes = Array("data: ".utf8)
        value.write(into: &bytes)
        bytes.append(contentsOf: [0x0A, 0x0A])
        let ok = lock.withLock { () -> Bool in
            started = true
            if overflowed { return false }
            if pending + bytes.count > Self.maxPendingBytes { overflowed = true; return false }
            pending += bytes.count
            return true
        }
        if ok { continuation.yield(bytes) }
        return ok
    }

    /// The HTTP layer took `count` bytes.
    func taken(_ count: Int) { lock.withLock { pending -= count } }

    var fellBehind: Bool { lock.withLock { overflowed } }
    var pendingBytes: Int { lock.withLock { pending } }

    /// An error event past the bound (the last thing the stream says), then the end, without [DONE].
    func fail(_ error: JSONValue) {
        var bytes = Array("data: ".utf8)
        error.write(into: &bytes)
        bytes.append(contentsOf: [0x0A, 0x0A])
        continuation.yield(bytes)
        continuation.finish()
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

/// The iterator of a stream's queued bytes, pulled by the HTTP layer one element at a time.
private final class PendingBytes: @unchecked Sendable {  // `next()` is called by one task at a time
    var iterator: AsyncStream<[UInt8]>.Iterator
    init(_ stream: AsyncStream<[UInt8]>) { iterator = stream.makeAsyncIterator() }
}

enum SSE {
    static let headers: HTTPFields = [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache"]
    static let logger = Logger(label: "QuillService")

    /// A streamed response whose events `produce` sends; pings go out every `pingInterval` until the first event.
    static func stream(pingInterval: Double = 1,
                       _ produce: @escaping @Sendable (SSEWriter) async -> Void) -> HTTPServerResponse {
        let (queued, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .unbounded)
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
        // The HTTP layer pulls from this one, and each pull tells the writer how far behind the client is.
        let source = PendingBytes(queued)
        let body = AsyncStream<[UInt8]>(unfolding: {
            guard let chunk = await source.iterator.next() else { return nil }
            writer.taken(chunk.count)
            return chunk
        }, onCancel: {
            producer.cancel()
            pinger.cancel()
        })
        return HTTPServerResponse(status: .ok, headerFields: headers, body: .stream(body))
    }

    /// /complete's stream: optionally the echoed prompt, one event per step, then [DONE]. A client that falls
    /// `SSEWriter.maxPendingBytes` behind gets an error event instead, and its generation is stopped.
    static func response(events: AsyncStream<GenerationEvent>, echo: String?,
                         encode: @escaping @Sendable (GenerationEvent) -> JSONValue) -> HTTPServerResponse {
        stream { writer in
            if let echo { writer.send(CompleteDelta(text: echo, tokens: [])) }
            for await event in events {
                guard writer.send(encode(event)) else { break }   // leaving the loop cancels the generation
            }
            if writer.fellBehind {
                slowReader(writer)
            } else if !Task.isCancelled {
                writer.done()
            }
        }
    }

    /// Ends a stream whose client stopped reading: logs the reason and sends API.md's error event.
    static func slowReader(_ writer: SSEWriter) {
        let message = "the client read too slowly: \(writer.pendingBytes) bytes were waiting for it "
            + "(at most \(SSEWriter.maxPendingBytes)); the generation was stopped"
        logger.warning("stream cut: \(message)")
        writer.fail(JSONValue(encoding: ErrorBody(error: .init(message: message, type: "overloaded_error", param: nil,
                                                              code: "slow_reader"))))
    }
}
