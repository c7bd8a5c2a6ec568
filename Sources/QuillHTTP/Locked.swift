// A value behind a pthread mutex: what the server's threads share (connection state, the loaded API). Used instead
// of the standard library's Synchronization.Mutex because ThreadSanitizer sees pthread locks (it intercepts
// them), not Mutex's futex calls, and so reported every Mutex-guarded access as a race (make test-sanitizers).
import Glibc

public final class Locked<Value>: @unchecked Sendable {  // every access to `value` holds `mutex`
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock.
    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
