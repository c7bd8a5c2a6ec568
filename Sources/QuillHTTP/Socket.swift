// A thin layer over POSIX stream sockets: one method per system call, EINTR retried in one place, EAGAIN and the
// normal ends of a connection (EOF, EPIPE, ECONNRESET) reported as values. It knows nothing of HTTP or Dispatch.
// Linux only (accept4, MSG_NOSIGNAL, SOCK_NONBLOCK), like the rest of Quill.
import Glibc

/// A failed system call: which one, and errno.
struct SocketError: Error, Sendable, Equatable, CustomStringConvertible {
    var operation: String
    var code: Int32
    var message: String { systemErrorMessage(code) }
    var description: String { "\(operation) failed: \(message) (errno \(code))" }

    init(_ operation: String, _ code: Int32 = errno) {
        self.operation = operation
        self.code = code
    }

    var serverError: HTTPServerError { .socket(operation: operation, errno: code, message: message) }
}

func systemErrorMessage(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

/// Runs a system call again while it fails with EINTR (interrupted by a signal before doing anything).
@inline(__always)
func retryingOnEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}

/// One socket file descriptor. A value type: whoever owns it closes it exactly once.
struct Socket: Sendable {
    let fd: Int32

    /// What one `receive` produced.
    enum ReceiveResult: Equatable {
        case bytes(Int)
        /// Nothing to read now (EAGAIN / EWOULDBLOCK).
        case wouldBlock
        /// The peer closed its sending side.
        case endOfFile
        /// The connection failed (ECONNRESET, ETIMEDOUT, …).
        case failed(Int32)
    }

    /// What one `send` produced.
    enum SendResult: Equatable {
        case bytes(Int)
        case wouldBlock
        /// The connection failed (EPIPE, ECONNRESET, …): the peer is gone.
        case failed(Int32)
    }

    // MARK: - Listening

    /// Resolves `host` (numeric or a name, via getaddrinfo) and returns a non-blocking socket bound to the first
    /// address that accepts the bind, listening with `backlog`. "::" listens on IPv6 and IPv4 (IPV6_V6ONLY off).
    static func listening(host: String, port: Int, backlog: Int32) throws(HTTPServerError) -> Socket {
        guard (0...65535).contains(port) else {
            throw .addressResolution(host: host, message: "port \(port) is outside 0…65535")
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let lookupHost = host.isEmpty ? nil : host
        let status = getaddrinfo(lookupHost, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let message = status == EAI_SYSTEM ? systemErrorMessage(errno)
                : (gai_strerror(status).map { String(cString: $0) } ?? "error \(status)")
            throw .addressResolution(host: host, message: message)
        }
        defer { freeaddrinfo(list) }

        var lastError = SocketError("bind", EADDRNOTAVAIL)
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            do throws(SocketError) {
                return try bindAndListen(info.pointee, backlog: backlog)
            } catch {
                lastError = error
            }
        }
        throw lastError.serverError
    }

    private static func bindAndListen(_ info: addrinfo, backlog: Int32) throws(SocketError) -> Socket {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = Glibc.socket(info.ai_family, type, 0)
        guard fd >= 0 else { throw SocketError("socket") }
        let socket = Socket(fd: fd)
        do throws(SocketError) {
            try socket.setOption(SOL_SOCKET, SO_REUSEADDR, 1, name: "setsockopt(SO_REUSEADDR)")
            if info.ai_family == AF_INET6 {
                // Dual stack: "::" also accepts IPv4 clients (as ::ffff:a.b.c.d).
                try socket.setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0, name: "setsockopt(IPV6_V6ONLY)")
            }
            guard Glibc.bind(fd, info.ai_addr, info.ai_addrlen) == 0 else { throw SocketError("bind") }
            guard Glibc.listen(fd, backlog) == 0 else { throw SocketError("listen") }
            return socket
        } catch {
            socket.close()
            throw error
        }
    }

    /// Accepts one pending connection as a non-blocking socket; nil when none is pending (EAGAIN).
    /// ECONNABORTED (the client gave up while queued) is also reported as nil: simply try again.
    func accept() throws(SocketError) -> (Socket, remoteAddress: String)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let client = retryingOnEINTR {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.accept(fd, $0, &length)
                }
            }
        }
        guard client >= 0 else {
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == ECONNABORTED || code == EPROTO { return nil }
            throw SocketError("accept", code)
        }
        let socket = Socket(fd: client)
        // accept4 is not exported by the Glibc module: set the flags the portable way.
        let flags = fcntl(client, F_GETFL)
        guard flags >= 0, fcntl(client, F_SETFL, flags | O_NONBLOCK) == 0 else {
            let error = SocketError("fcntl(O_NONBLOCK)")
            socket.close()
            throw error
        }
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        // Small writes (a response head, an SSE event) go out at once.
        try? socket.setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1, name: "setsockopt(TCP_NODELAY)")
        return (socket, Socket.describe(&storage))
    }

    /// The locally bound port (after binding port 0, the one the kernel chose).
    func localPort() throws(SocketError) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard status == 0 else { throw SocketError("getsockname") }
        return Socket.port(of: &storage)
    }

    // MARK: - Data

    func receive(into buffer: UnsafeMutableRawBufferPointer) -> ReceiveResult {
        let n = retryingOnEINTR { recv(fd, buffer.baseAddress, buffer.count, 0) }
        if n > 0 { return .bytes(n) }
        if n == 0 { return .endOfFile }
        let code = errno
        if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
        return .failed(code)
    }

    /// MSG_NOSIGNAL: a peer that went away is an EPIPE result, never a SIGPIPE.
    func send(_ bytes: UnsafeRawBufferPointer) -> SendResult {
        guard bytes.count > 0 else { return .bytes(0) }
        let flags = Int32(MSG_NOSIGNAL)
        let n = retryingOnEINTR { Glibc.send(fd, bytes.baseAddress, bytes.count, flags) }
        if n >= 0 { return .bytes(n) }
        let code = errno
        if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
        return .failed(code)
    }

    /// Bytes received by the kernel and not yet read (FIONREAD); 0 when unknown.
    func unreadByteCount() -> Int {
        var count: Int32 = 0
        return ioctl(fd, UInt(FIONREAD), &count) == 0 ? Int(count) : 0
    }

    /// Half-close: our FIN tells the peer the response is complete while we still read (and discard) what it sends.
    func shutdownWrite() {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    func close() {
        // Not retried on EINTR: on Linux the descriptor is released even then.
        _ = Glibc.close(fd)
    }

    func setOption(_ level: Int32, _ option: Int32, _ value: Int32, name: String) throws(SocketError) {
        var value = value
        guard setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw SocketError(name)
        }
    }

    // MARK: - Addresses

    /// "ADDRESS:PORT", IPv6 in brackets; an IPv4-mapped IPv6 address (a dual-stack accept) is shown as IPv4.
    static func describe(_ storage: inout sockaddr_storage) -> String {
        let family = Int32(storage.ss_family)
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch family {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var address = sin.pointee.sin_addr
                    inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                    return "\(cString(text)):\(UInt16(bigEndian: sin.pointee.sin_port))"
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var address = sin6.pointee.sin6_addr
                    inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
                    let port = UInt16(bigEndian: sin6.pointee.sin6_port)
                    let name = cString(text)
                    if name.hasPrefix("::ffff:"), name.contains(".") { return "\(name.dropFirst(7)):\(port)" }
                    return "[\(name)]:\(port)"
                }
            }
        default:
            return "unknown"
        }
    }

    static func port(of storage: inout sockaddr_storage) -> Int {
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    Int(UInt16(bigEndian: $0.pointee.sin6_port))
                }
            }
        default:
            return 0
        }
    }
}

/// The text of a NUL-terminated C buffer.
private func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
