// One accepted connection: reads requests through the parser, hands each to the handler on a Task, writes the
// responses in order with back-pressure, and enforces keep-alive, timeouts and the send-rate floor. Accepting and
// counting connections is the server's job.
import Dispatch
import Glibc
import HTTPTypes

/// All mutable state of a connection is confined to its serial `queue`: every method below runs there, except
/// `start`, `beginShutdown` and `writeStreamChunk`, which hop onto it. Hence `@unchecked Sendable`.
final class HTTPConnection: @unchecked Sendable {
    private enum Phase: Equatable {
        /// Waiting for a request, or receiving one.
        case reading
        /// The handler is running for a complete request.
        case handling
        /// A response is being written.
        case responding
        /// The last response is written and our side shut down; what the peer still sends is read and dropped
        /// (so an unread request body does not turn our close into a reset that destroys the response) until it
        /// closes too or a deadline passes.
        case lingering
        case closed
    }

    /// One request and its response.
    private struct Exchange {
        var id: Int
        /// As received (HEAD stays HEAD here even though the handler sees GET), for the access log.
        var method: String
        var target: String
        var version: HTTPVersion
        var isHead: Bool
        var requestKeepAlive: Bool
        var acceptsGzip: Bool
        /// When the request was complete (uptime nanoseconds).
        var completedAt: UInt64
        /// Set once the response head is queued.
        var status: Int?
        var keepAlive = false
        /// `totalSent` value at which the body starts (the head precedes it).
        var bodyStart = 0
        var bodyComplete = false
        var chunked = false
    }

    /// Output at or above this makes a streamed body wait before the next element is pulled.
    static let streamHighWater = 64 * 1024
    /// Unparsed input kept while a response is in progress (pipelined requests); beyond it reading pauses.
    static let readBufferLimit = 64 * 1024
    /// Longest wait for the peer's close after our final response.
    static let lingerSeconds = 2.0

    let socket: Socket
    let remoteAddress: String
    let queue: DispatchQueue
    /// Answered 503 at once and closed: the server is at its connection limit.
    let rejected: Bool
    /// Since when (uptime nanoseconds) this connection has waited with no request in progress: from the accept, or
    /// from the end of its last response; nil while a request arrives or is answered, and once closed. The listener
    /// reads it to choose which connection to close when it is full (`evictIfIdle`).
    let idleSince = Locked<UInt64?>(nil)
    private let configuration: HTTPServerConfiguration
    private let handler: HTTPHandler
    private let accessLog: (@Sendable (AccessLogEntry) -> Void)?
    private let onClose: @Sendable (HTTPConnection) -> Void

    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var timer: DispatchSourceTimer?
    private var readSuspended = false
    private var writeSuspended = false
    /// Sources watching the descriptor that have not run their cancel handler yet; the fd is closed at zero.
    private var liveFDSources = 0

    private var phase = Phase.reading
    private var parser: HTTPRequestParser
    /// Plaintext not yet sent (plain HTTP) or not yet encrypted (TLS).
    private var output: [UInt8] = []
    private var outputStart = 0
    /// Bytes not yet on the wire: plaintext, and with TLS the ciphertext not yet sent too. Back-pressure and the
    /// send-rate floor look at this.
    private var pendingOutput: Int { output.count - outputStart + cipher.count - cipherStart }
    /// Bytes of the HTTP stream the kernel has accepted on this connection (plaintext; with TLS, the plaintext
    /// share of the ciphertext sent, so the access log and the send-rate floor count the same bytes either way).
    private var totalSent = 0

    /// The TLS session, on a TLS listener's connections.
    private let tls: TLSSession?
    /// Ciphertext for the socket (TLS only), and the plaintext each stretch of it carries: `totalSent` is credited
    /// in proportion as a stretch goes out.
    private var cipher: [UInt8] = []
    private var cipherStart = 0
    private struct CipherStretch { var start: Int; var end: Int; var plaintext: Int; var credited: Int }
    private var stretches: [CipherStretch] = []
    /// Plaintext not yet on the wire (the start of a response's body in `totalSent` terms).
    private var unsentPlaintext: Int {
        output.count - outputStart + stretches.reduce(0) { $0 + $1.plaintext - $1.credited }
    }
    /// Encrypt more only while less than this much ciphertext waits, so plaintext stays where back-pressure sees it.
    static let cipherLowWater = 16 * 1024

    private var exchange: Exchange?
    private var nextExchangeID = 0
    private var handlerTask: Task<Void, Never>?
    private var streamTask: Task<Void, Never>?
    /// The streaming task waits here while output is at or above `streamHighWater`.
    private var streamWaiter: CheckedContinuation<Bool, Never>?
    /// The peer has closed its sending side (EOF).
    private var peerClosed = false
    private var shuttingDown = false

    /// The deadlines (uptime nanoseconds) and the send-rate window; `handleTimer` acts on what they say.
    private var timers = ConnectionTimers()
    private var limits: ConnectionTimers.Limits {
        .init(minSendBytesPerSecond: configuration.minSendBytesPerSecond, sendRateWindow: configuration.sendRateWindow)
    }

    init(socket: Socket, remoteAddress: String, rejected: Bool, configuration: HTTPServerConfiguration,
         handler: @escaping HTTPHandler, accessLog: (@Sendable (AccessLogEntry) -> Void)?,
         onClose: @escaping @Sendable (HTTPConnection) -> Void) {
        self.socket = socket
        self.remoteAddress = remoteAddress
        self.rejected = rejected
        self.configuration = configuration
        self.handler = handler
        self.accessLog = accessLog
        self.onClose = onClose
        self.queue = DispatchQueue(label: "quill.http.connection")
        self.tls = configuration.tls?.makeSession()
        self.parser = HTTPRequestParser(maxHeaderBytes: configuration.maxHeaderBytes,
                                        maxBodyBytes: configuration.maxBodyBytes)
    }

    // MARK: - Life cycle

    func start() {
        queue.async { self.startOnQueue() }
    }

    private func startOnQueue() {
        let read = DispatchSource.makeReadSource(fileDescriptor: socket.fd, queue: queue)
        read.setEventHandler { self.handleReadable() }
        read.setCancelHandler { self.fdSourceCancelled() }
        readSource = read
        liveFDSources += 1
        read.resume()

        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { self.handleTimer() }
        timer.schedule(deadline: .distantFuture)
        self.timer = timer
        timer.resume()

        if configuration.tls != nil {
            guard tls != nil else {
                close()  // OpenSSL could not make a session (out of memory)
                return
            }
            timers.handshake = Self.deadline(after: configuration.tlsHandshakeTimeout)
        }
        if rejected {
            respondWithError(.tooManyConnections(configuration.maxConnections))
        } else {
            // Before its first byte a connection gets request_timeout, not idle_timeout: a client that connects
            // and says nothing must not hold a place for long.
            timers.idle = Self.deadline(after: min(configuration.idleTimeout, configuration.requestTimeout))
            idleSince.withLock { $0 = DispatchTime.now().uptimeNanoseconds }
            rescheduleTimer()
        }
    }

    /// Closes the connection if it is still waiting for a request (the listener, full, makes room for a new one);
    /// a request that arrived meanwhile goes on.
    func evictIfIdle() {
        queue.async {
            guard self.phase == .reading, !self.parser.isInsideRequest, self.exchange == nil,
                  self.socket.unreadByteCount() == 0 else { return }
            self.close()
        }
    }

    /// Stop taking requests: close now if idle, else let the current exchange finish (with `Connection: close`)
    /// until `deadline`, then close whatever is left.
    func beginShutdown(deadline: UInt64) {
        queue.async {
            guard self.phase != .closed else { return }
            self.shuttingDown = true
            self.timers.grace = deadline
            if (self.phase == .reading && !self.parser.isInsideRequest) || self.phase == .lingering {
                self.close()
            } else {
                self.rescheduleTimer()
            }
        }
    }

    /// Closes at once: cancels the handler and any streamed body, logs an unfinished exchange, releases the socket.
    /// `reason`: why an exchange still in progress is cut (the access log records it).
    private func close(reason: String = "the connection closed before the response was complete") {
        guard phase != .closed else { return }
        phase = .closed
        idleSince.withLock { $0 = nil }
        handlerTask?.cancel()
        handlerTask = nil
        streamTask?.cancel()
        streamTask = nil
        if let waiter = streamWaiter {
            streamWaiter = nil
            waiter.resume(returning: false)
        }
        if let exchange {
            // The client went away (or was cut off) before the response was complete; 499 when nothing was sent.
            log(exchange, status: exchange.status ?? 499, cut: reason)
            self.exchange = nil
        }
        output = []
        outputStart = 0
        cipher = []
        cipherStart = 0
        stretches = []
        parser = HTTPRequestParser(maxHeaderBytes: 0, maxBodyBytes: 0)
        timer?.cancel()
        timer = nil
        if let source = writeSource {
            if writeSuspended { source.resume() }
            source.cancel()
            writeSource = nil
        }
        if let source = readSource {
            if readSuspended { source.resume() }
            source.cancel()
            readSource = nil
        }
    }

    private func fdSourceCancelled() {
        liveFDSources -= 1
        if liveFDSources == 0 {
            socket.close()
            onClose(self)
        }
    }

    // MARK: - Reading

    private func handleReadable() {
        var received = 0
        // Up to 256 KiB per event, so one busy client cannot hold the queue's thread; the source fires again.
        while received < 256 * 1024, phase != .closed {
            if phase == .handling || phase == .responding, parser.bufferedByteCount >= Self.readBufferLimit {
                suspendReading()
                return
            }
            let result = withUnsafeTemporaryAllocation(byteCount: 16 * 1024, alignment: 1) { buffer in
                let result = socket.receive(into: buffer)
                if case let .bytes(n) = result, phase != .lingering {
                    let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                    guard let tls else {
                        parser.append(bytes)
                        return result
                    }
                    tls.feed(bytes)
                    if let end = decrypt(tls, scratch: buffer) { return end }
                }
                return result
            }
            if tls != nil {
                // The handshake's answers, and plaintext that waited for the handshake to finish.
                if timers.handshake != nil, tls?.isEstablished == true {
                    timers.handshake = nil
                    rescheduleTimer()
                }
                flush()
            }
            switch result {
            case let .bytes(n):
                received += n
                if phase == .reading { processInput() }
            case .wouldBlock:
                return
            case .endOfFile:
                handleEndOfFile()
                return
            case .failed:
                close()
                return
            }
        }
    }

    /// Decrypts everything fed so far into the parser. Returns the end of the connection when the peer said
    /// close_notify (`.endOfFile`) or broke the protocol (`.failed`), else nil.
    private func decrypt(_ tls: TLSSession, scratch: UnsafeMutableRawBufferPointer) -> Socket.ReceiveResult? {
        while true {
            switch tls.read(into: scratch) {
            case let .bytes(n):
                parser.append(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            case .needMore:
                return nil
            case .closed:
                return .endOfFile
            case .failed:
                // Not TLS (plain HTTP sent to the TLS port), a version below 1.2, a bad record: nothing can be
                // answered that the peer could read.
                return .failed(0)
            }
        }
    }

    private func handleEndOfFile() {
        peerClosed = true
        switch phase {
        case .reading, .lingering, .closed:
            // Idle, or in the middle of a request that can no longer complete: nothing to answer.
            close()
        case .handling:
            // Half-closed or gone: the handler is told (cancellation) but its response is still written, in case
            // the peer only shut its sending side.
            suspendReading()
            handlerTask?.cancel()
        case .responding:
            if streamTask != nil {
                // A streamed body for a client that left: stop it (the stream's onTermination runs).
                close()
            } else {
                suspendReading()
            }
        }
    }

    private func suspendReading() {
        guard let source = readSource, !readSuspended else { return }
        readSuspended = true
        source.suspend()
    }

    private func resumeReading() {
        guard let source = readSource, readSuspended, !peerClosed else { return }
        readSuspended = false
        source.resume()
    }

    /// Parses what is buffered while in the reading phase: at most one complete request is taken, the rest waits.
    private func processInput() {
        while phase == .reading {
            let event: HTTPRequestParser.Event?
            do throws(HTTPParseError) {
                event = try parser.next()
            } catch {
                respondWithError(HTTPLayerError(error, limits: configuration))
                return
            }
            guard let event else { break }
            switch event {
            case let .head(head):
                if head.expectsContinue && !shuttingDown {
                    // RFC 9110 §10.1.1: the client waits for this before sending the body.
                    enqueue(ResponseEncoding.continueResponse)
                    flush()
                }
            case let .request(head, body):
                dispatch(head, body: body)
            }
        }
        guard phase == .reading else { return }
        if parser.isInsideRequest {
            idleSince.withLock { $0 = nil }
            timers.idle = nil
            if timers.request == nil { timers.request = Self.deadline(after: configuration.requestTimeout) }
        } else {
            timers.request = nil
        }
        rescheduleTimer()
    }

    // MARK: - Handling

    private func dispatch(_ head: HTTPRequestParser.Head, body: [UInt8]) {
        idleSince.withLock { $0 = nil }
        timers.request = nil
        timers.idle = nil
        rescheduleTimer()
        let isHead = head.method == "HEAD"
        guard let method = HTTPRequest.Method(isHead ? "GET" : head.method) else {
            respondWithError(.init(status: 400, code: "bad_request", message: "invalid method"))
            return
        }
        var request = HTTPServerRequest(method: method, target: head.target, version: head.version,
                                        headerFields: head.headerFields, body: body, remoteAddress: remoteAddress)
        if !head.target.hasPrefix("/"), head.method != "CONNECT", head.target != "*" {
            // absolute-form (RFC 9112 §3.2.2), checked by the parser: route on its path and query.
            let afterScheme = head.target.drop { $0 != ":" }.dropFirst(3)
            let afterAuthority = afterScheme.drop { $0 != "/" && $0 != "?" }
            let pathAndQuery = afterAuthority.hasPrefix("/") ? String(afterAuthority) : "/" + afterAuthority
            let origin = HTTPServerRequest(method: method, target: pathAndQuery)
            request.path = origin.path
            request.query = origin.query
        }
        nextExchangeID += 1
        let id = nextExchangeID
        exchange = Exchange(id: id, method: head.method, target: head.target, version: head.version,
                            isHead: isHead, requestKeepAlive: head.keepAlive,
                            acceptsGzip: Gzip.isAccepted(by: head.headerFields[.acceptEncoding]),
                            completedAt: DispatchTime.now().uptimeNanoseconds)
        phase = .handling
        let handler = self.handler
        handlerTask = Task {
            let response = await handler(request)
            self.queue.async { self.respond(response, exchangeID: id) }
        }
    }

    /// Answers an error made by the HTTP layer itself, then closes.
    private func respondWithError(_ error: HTTPLayerError) {
        timers.request = nil
        timers.idle = nil
        let line = parser.currentRequestLine
        nextExchangeID += 1
        exchange = Exchange(id: nextExchangeID, method: line?.method ?? "", target: line?.target ?? "",
                            version: .http11, isHead: false, requestKeepAlive: false, acceptsGzip: false,
                            completedAt: DispatchTime.now().uptimeNanoseconds)
        phase = .handling
        rescheduleTimer()
        respond(error.response(configuration), exchangeID: nextExchangeID)
    }

    // MARK: - Responding

    private func respond(_ response: HTTPServerResponse, exchangeID: Int) {
        guard phase == .handling, var exchange, exchange.id == exchangeID else {
            // The connection closed while the handler ran.
            if case let .stream(stream) = response.body { Self.cancel(stream) }
            return
        }
        handlerTask = nil
        if case let .stream(s) = response.body, peerClosed {
            // The client left while the handler ran: nobody will read this stream.
            Self.cancel(s)
            close()
            return
        }
        let code = response.status.code
        guard code >= 200 else {
            // An interim (1xx) status cannot end an exchange; the client would wait forever.
            if case let .stream(s) = response.body { Self.cancel(s) }
            let error = HTTPLayerError(status: 500, code: "internal_error",
                                       message: "the handler answered with the interim status \(code)")
            var response = error.response(configuration)
            response.headerFields[.connection] = "close"
            respond(response, exchangeID: exchangeID)
            return
        }
        // The framing is decided in one pure step (ResponseFraming, tested on its own); this writes it.
        let body: ResponseFraming.Body
        switch response.body {
        case let .bytes(b): body = .bytes(b)
        case .stream: body = .stream
        }
        let f = ResponseFraming.decide(
            status: code, fields: response.headerFields, body: body,
            request: .init(version: exchange.version, isHead: exchange.isHead, keepAlive: exchange.requestKeepAlive,
                           acceptsGzip: exchange.acceptsGzip),
            closing: shuttingDown || peerClosed, gzipMinBytes: configuration.gzipMinBytes,
            serverName: configuration.serverName, date: ResponseEncoding.httpDate())
        var stream: AsyncStream<[UInt8]>?
        if case let .stream(s) = response.body {
            if f.writesStream { stream = s } else { Self.cancel(s) }
        }
        var allFields = response.headerFields
        allFields.append(contentsOf: f.extraFields)

        enqueue(ResponseEncoding.head(status: response.status, framingFields: f.framingFields, fields: allFields))
        exchange.status = code
        exchange.keepAlive = f.keepAlive
        exchange.chunked = f.chunked
        exchange.bodyStart = totalSent + unsentPlaintext
        enqueue(f.bodyBytes)
        exchange.bodyComplete = stream == nil
        self.exchange = exchange
        phase = .responding
        if let stream { startStreaming(stream, exchangeID: exchangeID) }
        flush()
    }

    private func startStreaming(_ stream: AsyncStream<[UInt8]>, exchangeID: Int) {
        streamTask = Task {
            var iterator = stream.makeAsyncIterator()
            // Pull the next element only once the previous one is queued and output is below the high-water mark.
            while let chunk = await iterator.next() {
                guard await self.writeStreamChunk(chunk, exchangeID: exchangeID) else { break }
            }
            if Task.isCancelled {
                // Cut off while not waiting in next(): calling it now, cancelled, ends the stream, which runs
                // its onTermination with .cancelled (how a generation learns that nobody is listening).
                _ = await iterator.next()
            }
            self.queue.async { self.streamEnded(exchangeID: exchangeID) }
        }
    }

    /// Queues one element of a streamed body; returns once output is below the high-water mark (true), or false
    /// when the connection is closed or cut off and the stream should stop.
    private func writeStreamChunk(_ chunk: [UInt8], exchangeID: Int) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            queue.async {
                guard self.phase == .responding, self.exchange?.id == exchangeID else {
                    continuation.resume(returning: false)
                    return
                }
                if !chunk.isEmpty {
                    if self.exchange?.chunked == true {
                        ResponseEncoding.appendChunk(chunk, to: &self.output)
                    } else {
                        self.enqueue(chunk)
                    }
                    self.flush()
                }
                if self.phase != .responding || self.exchange?.id != exchangeID {
                    continuation.resume(returning: false)
                } else if self.pendingOutput < Self.streamHighWater {
                    continuation.resume(returning: true)
                } else {
                    self.streamWaiter = continuation
                }
            }
        }
    }

    private func streamEnded(exchangeID: Int) {
        guard phase == .responding, var exchange, exchange.id == exchangeID, !exchange.bodyComplete else { return }
        streamTask = nil
        if exchange.chunked { enqueue(ResponseEncoding.lastChunk) }
        exchange.bodyComplete = true
        self.exchange = exchange
        flush()
    }

    /// Ends a stream that will not be written (HEAD, 204/304, or the connection is gone): its onTermination runs.
    private static func cancel(_ stream: AsyncStream<[UInt8]>) {
        let task = Task {
            var iterator = stream.makeAsyncIterator()
            _ = await iterator.next()
        }
        task.cancel()
    }

    /// The response is on the wire: log it, then read the next request or close.
    private func finishExchange() {
        guard let exchange else { return }
        log(exchange, status: exchange.status ?? 0)
        self.exchange = nil
        if exchange.keepAlive && !peerClosed && !shuttingDown {
            phase = .reading
            timers.idle = Self.deadline(after: configuration.idleTimeout)
            idleSince.withLock { $0 = DispatchTime.now().uptimeNanoseconds }
            resumeReading()
            processInput()
        } else {
            linger()
        }
    }

    private func linger() {
        // Nothing unread (so closing cannot turn into a reset that destroys the response) and shutting down, or
        // the peer already closed: no reason to wait.
        if peerClosed || (shuttingDown && parser.bufferedByteCount == 0 && socket.unreadByteCount() == 0) {
            close()
            return
        }
        phase = .lingering
        if let tls {
            // close_notify before the FIN, as TLS asks; best effort (the response itself is already sent).
            tls.shutdown()
            tls.takeOutgoing(into: &cipher)
            while cipherStart < cipher.count,
                  case let .bytes(n) = cipher.withUnsafeBytes({ socket.send(UnsafeRawBufferPointer(rebasing: $0[cipherStart...])) }),
                  n > 0 {
                cipherStart += n
            }
        }
        socket.shutdownWrite()
        parser = HTTPRequestParser(maxHeaderBytes: 0, maxBodyBytes: 0)
        var deadline = Self.deadline(after: Self.lingerSeconds)
        if let grace = timers.grace { deadline = min(deadline, grace) }
        timers.linger = deadline
        resumeReading()
        rescheduleTimer()
    }

    private func log(_ exchange: Exchange, status: Int, cut: String? = nil) {
        guard let accessLog else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let duration = Double(now &- exchange.completedAt) / 1e9
        let bytes = exchange.status == nil ? 0 : max(0, totalSent - exchange.bodyStart)
        accessLog(AccessLogEntry(method: exchange.method, target: exchange.target, status: status,
                                 bytesSent: bytes, durationSeconds: max(0, duration),
                                 remoteAddress: remoteAddress, cut: cut))
    }

    // MARK: - Writing

    private func enqueue(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        output.append(contentsOf: bytes)
    }

    /// Writes what the socket takes; while it would block, a write source waits for room.
    private func flush() {
        guard phase != .closed else { return }
        while true {
            if let tls { encrypt(tls) }
            let plain = tls == nil
            let wire = plain ? pendingOutput : cipher.count - cipherStart
            guard wire > 0 else { break }
            let result = plain
                ? output.withUnsafeBytes { socket.send(UnsafeRawBufferPointer(rebasing: $0[outputStart...])) }
                : cipher.withUnsafeBytes { socket.send(UnsafeRawBufferPointer(rebasing: $0[cipherStart...])) }
            switch result {
            case let .bytes(n):
                if plain {
                    outputStart += n
                    totalSent += n
                } else {
                    cipherStart += n
                    creditCipherSent()
                }
            case .wouldBlock:
                if outputStart >= 64 * 1024 && outputStart * 2 >= output.count {
                    output.removeSubrange(0..<outputStart)
                    outputStart = 0
                }
                waitForWritable()
                if timers.rateWindowStart == nil {
                    timers.outputBlocked(now: DispatchTime.now().uptimeNanoseconds, totalSent: totalSent)
                    rescheduleTimer()
                }
                wakeStreamIfRoom()
                return
            case .failed:
                // EPIPE, ECONNRESET: the peer is gone.
                close()
                return
            }
        }
        if let source = writeSource, !writeSuspended {
            writeSuspended = true
            source.suspend()
        }
        if pendingOutput > 0 {
            // TLS before its handshake is done: the plaintext waits for it (the next read event flushes again).
            return
        }
        output.removeAll(keepingCapacity: output.capacity <= 1 << 20)
        outputStart = 0
        if timers.rateWindowStart != nil {
            timers.rateWindowStart = nil
            rescheduleTimer()
        }
        wakeStreamIfRoom()
        if phase == .responding, exchange?.bodyComplete == true { finishExchange() }
    }

    /// TLS: moves OpenSSL's waiting ciphertext (handshake records, alerts) into `cipher`, then encrypts plaintext
    /// while less than `cipherLowWater` of ciphertext waits.
    private func encrypt(_ tls: TLSSession) {
        if cipherStart > 0 {
            cipher.removeSubrange(0..<cipherStart)
            for i in stretches.indices {
                stretches[i].start -= cipherStart
                stretches[i].end -= cipherStart
            }
            cipherStart = 0
        }
        tls.takeOutgoing(into: &cipher)
        while cipher.count < Self.cipherLowWater, outputStart < output.count {
            let taken = output.withUnsafeBytes { raw in
                tls.write(UnsafeRawBufferPointer(rebasing: raw[outputStart..<min(output.count, outputStart + 16 * 1024)]))
            }
            guard taken > 0 else { break }  // not established yet
            outputStart += taken
            let start = cipher.count
            tls.takeOutgoing(into: &cipher)
            stretches.append(CipherStretch(start: start, end: cipher.count, plaintext: taken, credited: 0))
        }
    }

    /// Credits `totalSent` with the plaintext share of the ciphertext sent so far.
    private func creditCipherSent() {
        while let first = stretches.first {
            let length = first.end - first.start
            let done = min(cipherStart, first.end) - first.start
            guard done > 0 || length == 0 else { break }
            let owed = length == 0 ? first.plaintext : Int(Int64(first.plaintext) * Int64(done) / Int64(length))
            totalSent += owed - first.credited
            if cipherStart >= first.end {
                stretches.removeFirst()
            } else {
                stretches[0].credited = owed
                break
            }
        }
        if cipherStart == cipher.count {
            cipher.removeAll(keepingCapacity: true)
            cipherStart = 0
        }
    }

    private func wakeStreamIfRoom() {
        if pendingOutput < Self.streamHighWater, let waiter = streamWaiter {
            streamWaiter = nil
            waiter.resume(returning: true)
        }
    }

    private func waitForWritable() {
        if let source = writeSource {
            if writeSuspended {
                writeSuspended = false
                source.resume()
            }
            return
        }
        let source = DispatchSource.makeWriteSource(fileDescriptor: socket.fd, queue: queue)
        source.setEventHandler { self.flush() }
        source.setCancelHandler { self.fdSourceCancelled() }
        writeSource = source
        liveFDSources += 1
        source.resume()
    }

    // MARK: - Timers

    static func deadline(after seconds: Double) -> UInt64 {
        ConnectionTimers.deadline(after: seconds, from: DispatchTime.now().uptimeNanoseconds)
    }

    private func rescheduleTimer() {
        guard let timer else { return }
        let next = timers.next(limits)
        timer.schedule(deadline: next.map { DispatchTime(uptimeNanoseconds: $0) } ?? .distantFuture)
    }

    private func handleTimer() {
        guard phase != .closed else { return }
        let observed = ConnectionTimers.Observation(
            now: DispatchTime.now().uptimeNanoseconds, reading: phase == .reading,
            insideRequest: parser.isInsideRequest, unreadBytes: phase == .reading ? socket.unreadByteCount() : 0,
            pendingOutput: pendingOutput, totalSent: totalSent)
        switch timers.fire(observed, limits) {
        case .none: rescheduleTimer()
        case .cutAtDrain: close(reason: "cut at the drain deadline")  // shutdown's grace period is over
        case .closeAfterLinger, .closeHandshake, .closeIdle: close()
        case .cutSlowReader: close(reason: "the client read slower than min_send_rate")  // frees it, cancels its stream
        case .requestTimeout: respondWithError(.requestTimeout(configuration.requestTimeout))
        }
    }
}
