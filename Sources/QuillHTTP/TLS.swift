// TLS with OpenSSL's libssl on the server's own sockets and Dispatch queues. OpenSSL never touches the descriptor:
// a session reads ciphertext from one memory BIO and writes ciphertext to another, and HTTPConnection moves those
// bytes with the same non-blocking sends and receives as plain HTTP. So back-pressure, timeouts, the send-rate
// floor and shutdown behave the same on both listeners.
import COpenSSL

/// Why a TLS context could not be made.
public struct TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ what: String) {
        self.description = what + TLSError.openSSLReason()
    }

    /// OpenSSL's reasons for the last failure on this thread (its error queue, which this empties), as ": …".
    static func openSSLReason() -> String {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            reasons.append(text)
        }
        return reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; ")
    }
}

/// A server certificate chain and its private key, loaded once and shared by every TLS connection.
public final class TLSContext: @unchecked Sendable {
    // @unchecked Sendable: after init the SSL_CTX is only read (SSL_new), which OpenSSL allows from any thread.
    let context: OpaquePointer

    /// Loads a PEM certificate chain (the server's certificate first, then intermediates) and a PEM private key,
    /// and checks that they belong together. TLS 1.2 is the oldest version accepted.
    public init(certificateChainFile: String, privateKeyFile: String) throws(TLSError) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSError("cannot create a TLS context") }
        guard quill_tls_configure(context) == 1 else {
            SSL_CTX_free(context)
            throw TLSError("cannot require TLS 1.2 or later")
        }
        guard SSL_CTX_use_PrivateKey_file(context, privateKeyFile, SSL_FILETYPE_PEM) == 1 else {
            SSL_CTX_free(context)
            throw TLSError("cannot use \(privateKeyFile) as a PEM private key")
        }
        guard SSL_CTX_use_certificate_chain_file(context, certificateChainFile) == 1 else {
            SSL_CTX_free(context)
            throw TLSError("cannot use \(certificateChainFile) as a PEM certificate chain")
        }
        // The key first: a certificate loaded after a key that is not its own drops the key, and this check says so.
        guard SSL_CTX_check_private_key(context) == 1 else {
            SSL_CTX_free(context)
            throw TLSError("the private key in \(privateKeyFile) does not match the certificate in \(certificateChainFile)")
        }
        quill_tls_offer_http11(context)
        self.context = context
    }

    deinit { SSL_CTX_free(context) }

    /// A server-side session for one accepted connection.
    func makeSession() -> TLSSession? { TLSSession(context: self) }
}

/// One connection's TLS state. Confined to its connection's queue (not thread-safe, like the SSL object).
final class TLSSession {
    enum ReadResult: Equatable {
        /// Plaintext was written into the buffer.
        case bytes(Int)
        /// Everything fed so far is consumed; more ciphertext is needed.
        case needMore
        /// The peer sent close_notify.
        case closed
        /// A protocol error (not TLS, a refused version, a bad record); the connection must close.
        case failed(String)
    }

    private let ssl: OpaquePointer
    /// Ciphertext from the peer, for OpenSSL to read.
    private let incoming: OpaquePointer
    /// Ciphertext from OpenSSL, for the socket.
    private let outgoing: OpaquePointer
    /// Keeps the context alive as long as the session.
    private let context: TLSContext

    init?(context: TLSContext) {
        guard let ssl = SSL_new(context.context) else { return nil }
        guard let incoming = BIO_new(BIO_s_mem()), let outgoing = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            return nil
        }
        // A read from an empty memory BIO is "retry", not end of file.
        BIO_ctrl(incoming, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, nil)
        BIO_ctrl(outgoing, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, nil)
        SSL_set_bio(ssl, incoming, outgoing)  // the SSL object owns both BIOs now
        SSL_set_accept_state(ssl)
        self.ssl = ssl
        self.incoming = incoming
        self.outgoing = outgoing
        self.context = context
    }

    deinit { SSL_free(ssl) }

    /// True once the handshake is complete.
    var isEstablished: Bool { SSL_is_init_finished(ssl) == 1 }

    /// The protocol version agreed ("TLSv1.3"), for logs and tests.
    var version: String { String(cString: SSL_get_version(ssl)) }

    /// Hands ciphertext received from the socket to OpenSSL.
    func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = BIO_write(incoming, base, Int32(bytes.count))
    }

    /// Decrypts what has been fed (running the handshake first). Call until it answers `.needMore`, then send
    /// `takeOutgoing()`: the handshake's answers are written there.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        ERR_clear_error()
        let n = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        if n > 0 { return .bytes(Int(n)) }
        switch SSL_get_error(ssl, n) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .needMore
        case SSL_ERROR_ZERO_RETURN: return .closed
        default:
            let reason = TLSError.openSSLReason()
            return .failed(reason.isEmpty ? "TLS error" : String(reason.dropFirst(2)))
        }
    }

    /// Encrypts up to `bytes.count` bytes of plaintext into outgoing records; returns how many it took (0 when the
    /// session cannot write: not yet established, or failed).
    func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        ERR_clear_error()
        let n = SSL_write(ssl, base, Int32(min(bytes.count, 1 << 20)))
        if n > 0 { return Int(n) }
        ERR_clear_error()
        return 0
    }

    /// Queues a close_notify alert (the TLS way of saying "no more data"); send `takeOutgoing()` after it.
    func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// Ciphertext waiting to go out on the socket.
    var outgoingCount: Int { Int(quill_bio_pending(outgoing)) }

    /// Moves the waiting ciphertext onto the end of `output`.
    func takeOutgoing(into output: inout [UInt8]) {
        let count = outgoingCount
        guard count > 0 else { return }
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: count))
        let read = output.withUnsafeMutableBytes { raw in
            BIO_read(outgoing, raw.baseAddress! + start, Int32(count))
        }
        output.removeLast(count - max(0, Int(read)))
    }
}
