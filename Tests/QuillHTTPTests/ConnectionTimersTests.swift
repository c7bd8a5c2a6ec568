// Every timeout of a connection, driven by a fake clock: ConnectionTimers takes the time as input, so these tests
// need no sleeps and cannot race a loaded machine. (HTTPServerTests check the same timeouts end to end.)
import Testing
@testable import QuillHTTP

@Suite("Connection timeouts on a fake clock")
struct ConnectionTimersTests {
    static let second: UInt64 = 1_000_000_000
    static let limits = ConnectionTimers.Limits(minSendBytesPerSecond: 256, sendRateWindow: 10)
    static let requestTimeout = 10.0

    /// What a reading connection with nothing pending sees at `seconds`.
    static func reading(at seconds: Double, inside: Bool = false, unread: Int = 0) -> ConnectionTimers.Observation {
        .init(now: UInt64(seconds * 1e9), reading: true, insideRequest: inside, unreadBytes: unread,
              pendingOutput: 0, totalSent: 0)
    }

    @Test("the first-byte deadline closes a silent connection when it passes, not a moment before")
    func firstByte() {
        var t = ConnectionTimers()
        t.idle = ConnectionTimers.deadline(after: min(30, Self.requestTimeout), from: 0)
        #expect(t.next(Self.limits) == 10 * Self.second)
        #expect(t.fire(Self.reading(at: 9.999), Self.limits) == .none)
        #expect(t.fire(Self.reading(at: 10), Self.limits) == .closeIdle)
    }

    @Test("bytes waiting unread when the idle deadline passes give the connection one more second, not a close")
    func idleWithUnreadBytes() {
        var t = ConnectionTimers()
        t.idle = 30 * Self.second
        #expect(t.fire(Self.reading(at: 30, unread: 5), Self.limits) == .none)
        #expect(t.idle == 31 * Self.second)
        #expect(t.fire(Self.reading(at: 31), Self.limits) == .closeIdle)
    }

    @Test("request_timeout answers 408 once a request has begun, and an idle deadline never closes a request in progress")
    func requestTimeout() {
        var t = ConnectionTimers()
        t.idle = 5 * Self.second
        t.request = 10 * Self.second
        // Inside a request, the idle deadline has no say.
        #expect(t.fire(Self.reading(at: 6, inside: true), Self.limits) == .none)
        #expect(t.fire(Self.reading(at: 10, inside: true), Self.limits) == .requestTimeout)
    }

    @Test("a handler that runs long is never timed out by the reading deadlines")
    func handlingIsExempt() {
        var t = ConnectionTimers()
        t.idle = Self.second
        t.request = Self.second
        let handling = ConnectionTimers.Observation(now: 100 * Self.second, reading: false, insideRequest: false,
                                                    unreadBytes: 0, pendingOutput: 0, totalSent: 0)
        #expect(t.fire(handling, Self.limits) == .none)
    }

    @Test("the linger deadline closes after the last response, and the drain deadline comes first when both are due")
    func lingerAndDrain() {
        var t = ConnectionTimers()
        t.linger = 2 * Self.second
        #expect(t.fire(Self.reading(at: 1.9), Self.limits) == .none)
        #expect(t.fire(Self.reading(at: 2), Self.limits) == .closeAfterLinger)
        t.grace = 2 * Self.second
        #expect(t.fire(Self.reading(at: 2), Self.limits) == .cutAtDrain)
        #expect(t.next(Self.limits) == 2 * Self.second)
    }

    @Test("a TLS handshake not finished by its deadline is closed; a finished one no longer has a deadline")
    func handshake() {
        var t = ConnectionTimers()
        t.handshake = 10 * Self.second
        t.idle = 30 * Self.second
        #expect(t.next(Self.limits) == 10 * Self.second)
        #expect(t.fire(Self.reading(at: 10), Self.limits) == .closeHandshake)
        t.handshake = nil
        #expect(t.fire(Self.reading(at: 10), Self.limits) == .none)
        #expect(t.next(Self.limits) == 30 * Self.second)
    }

    @Test("the send-rate floor cuts a reader below min_send_rate over the window, and opens a new window for one above it")
    func sendRate() {
        var t = ConnectionTimers()
        t.outputBlocked(now: 0, totalSent: 1000)
        t.outputBlocked(now: 5 * Self.second, totalSent: 9999)  // already open: unchanged
        #expect(t.rateWindowStart == 0)
        #expect(t.next(Self.limits) == 10 * Self.second)
        // 256 B/s over 10 s is 2,560 bytes: 3,000 sent is enough, and output still waits, so a new window opens.
        var fast = t
        let enough = ConnectionTimers.Observation(now: 10 * Self.second, reading: false, insideRequest: false,
                                                  unreadBytes: 0, pendingOutput: 4096, totalSent: 4000)
        #expect(fast.fire(enough, Self.limits) == .none)
        #expect(fast.rateWindowStart == 10 * Self.second)
        #expect(fast.rateWindowSent == 4000)
        // 2,000 sent is too slow.
        var slow = t
        let tooFew = ConnectionTimers.Observation(now: 10 * Self.second, reading: false, insideRequest: false,
                                                  unreadBytes: 0, pendingOutput: 4096, totalSent: 3000)
        #expect(slow.fire(tooFew, Self.limits) == .cutSlowReader)
        // Nothing waiting any more: no cut, and the window closes.
        var drained = t
        let done = ConnectionTimers.Observation(now: 10 * Self.second, reading: false, insideRequest: false,
                                                unreadBytes: 0, pendingOutput: 0, totalSent: 1000)
        #expect(drained.fire(done, Self.limits) == .none)
        #expect(drained.rateWindowStart == nil)
    }

    @Test("deadlines from any setting are clamped, so a huge or negative timeout cannot overflow")
    func clamped() {
        #expect(ConnectionTimers.deadline(after: -5, from: 7) == 7)
        #expect(ConnectionTimers.deadline(after: .infinity, from: 0) == 1_000_000_000 * Self.second)
    }
}
