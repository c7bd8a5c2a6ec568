// A connection's deadlines and what their passing means, as a pure value: the time comes in as an argument, so the
// tests drive every timeout with a fake clock, no sleeps. HTTPConnection keeps one, sets its deadlines as the
// connection moves between phases, schedules a Dispatch timer at `next`, and acts on what `fire` answers.

/// Times are uptime nanoseconds (`DispatchTime.uptimeNanoseconds` in the server; any counter in tests).
struct ConnectionTimers: Equatable {
    /// The first-byte deadline of a new connection, then the keep-alive idle deadline between requests.
    var idle: UInt64?
    /// From a request's first byte until all of it has arrived.
    var request: UInt64?
    /// After the last response: how long the peer's close is waited for.
    var linger: UInt64?
    /// Shutdown's grace period: what still runs then is cut.
    var grace: UInt64?
    /// A TLS connection's handshake must be done by then.
    var handshake: UInt64?
    /// The send-rate window: since when output has been waiting, and the bytes sent then.
    var rateWindowStart: UInt64?
    var rateWindowSent = 0

    /// The limits the decisions need.
    struct Limits: Equatable {
        /// Bytes per second the peer must read while output waits, over `sendRateWindow` seconds.
        var minSendBytesPerSecond: Int
        var sendRateWindow: Double
    }

    /// What the connection sees when a timer fires.
    struct Observation: Equatable {
        var now: UInt64
        /// Waiting for a request or receiving one (not handling, responding or lingering).
        var reading: Bool
        /// Part of a request has arrived.
        var insideRequest: Bool
        /// Bytes the kernel holds that the connection has not read yet.
        var unreadBytes: Int
        /// Bytes not yet on the wire.
        var pendingOutput: Int
        /// Bytes sent so far.
        var totalSent: Int
    }

    enum Action: Equatable {
        /// Nothing is due; schedule the timer at `next` again.
        case none
        /// Shutdown's grace period is over: close, cutting what still runs.
        case cutAtDrain
        /// The peer did not close within the linger time after the last response.
        case closeAfterLinger
        /// The TLS handshake did not finish in time.
        case closeHandshake
        /// The peer read slower than the send-rate floor while output waited: close and cancel its stream.
        case cutSlowReader
        /// A request did not arrive whole within request_timeout: answer 408 and close.
        case requestTimeout
        /// Idle with nothing received: close without an answer (RFC 9112 §9.5).
        case closeIdle
    }

    /// A deadline `seconds` after `now` (clamped to 0 … 10^9 seconds, so no value from a setting can overflow).
    static func deadline(after seconds: Double, from now: UInt64) -> UInt64 {
        let nanos = max(0, min(seconds, 1e9)) * 1e9
        return now &+ UInt64(nanos)
    }

    func rateDeadline(_ limits: Limits) -> UInt64? {
        rateWindowStart.map { $0 &+ UInt64(max(0.001, limits.sendRateWindow) * 1e9) }
    }

    /// When the timer should fire next; nil: no deadline.
    func next(_ limits: Limits) -> UInt64? {
        [idle, request, linger, grace, rateDeadline(limits), handshake].compactMap { $0 }.min()
    }

    /// Output has begun to wait for the socket: the send-rate window opens (once).
    mutating func outputBlocked(now: UInt64, totalSent: Int) {
        guard rateWindowStart == nil else { return }
        rateWindowStart = now
        rateWindowSent = totalSent
    }

    /// The timer fired: the one action due, in order of precedence, with the deadlines updated for what goes on.
    mutating func fire(_ o: Observation, _ limits: Limits) -> Action {
        if let grace, o.now >= grace { return .cutAtDrain }
        if let linger, o.now >= linger { return .closeAfterLinger }
        if let handshake, o.now >= handshake { return .closeHandshake }
        if let rate = rateDeadline(limits), o.now >= rate {
            let sent = o.totalSent - rateWindowSent
            let required = Double(limits.minSendBytesPerSecond) * limits.sendRateWindow
            if o.pendingOutput > 0 && Double(sent) < required { return .cutSlowReader }
            // Fast enough: a new window while output still waits, else none.
            rateWindowStart = o.pendingOutput > 0 ? o.now : nil
            rateWindowSent = o.totalSent
        }
        if o.reading {
            if let request, o.now >= request { return .requestTimeout }
            if let idle, o.now >= idle, !o.insideRequest {
                if o.unreadBytes > 0 {
                    // Bytes have arrived, and their read event waits behind this timer (a loaded machine): not
                    // idle. Look again in a second.
                    self.idle = Self.deadline(after: 1, from: o.now)
                    return .none
                }
                return .closeIdle
            }
        }
        return .none
    }
}
