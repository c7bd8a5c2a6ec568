// SHA-256 through OpenSSL's EVP interface: of bytes in memory, of a file streamed in chunks, and incrementally
// for the checkpoint writer (which hashes the tensor data before writing the header that records the digest).
import COpenSSL
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hex SHA-256 (lower case, 64 characters) of `bytes`.
public func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
    let hasher = SHA256Hasher()
    hasher.update(bytes)
    return hasher.finalizeHex()
}

/// Hex SHA-256 of the file at `url`, read in 1 MiB chunks (never the whole file in memory).
/// - Throws: `CheckpointError.cannotRead` when the file cannot be opened or read.
public func sha256Hex(ofFileAt url: URL) throws(CheckpointError) -> String {
    let file = try ReadableFile(url)
    let hasher = SHA256Hasher()
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { chunk.deallocate() }
    while true {
        let n = try file.readSome(into: chunk)
        if n == 0 { break }
        hasher.update(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
    }
    return hasher.finalizeHex()
}

/// An incremental SHA-256: update() with each piece in order, then finalizeHex() once.
public final class SHA256Hasher {
    private let context: OpaquePointer

    public init() {
        // Allocation failure of a 200-byte context is out-of-memory, not a condition callers can act on.
        guard let context = EVP_MD_CTX_new() else { fatalError("OpenSSL: EVP_MD_CTX_new failed (out of memory)") }
        self.context = context
        precondition(EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, "OpenSSL: EVP_DigestInit_ex(sha256) failed")
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(EVP_DigestUpdate(context, base, bytes.count) == 1, "OpenSSL: EVP_DigestUpdate failed")
    }

    public func finalizeHex() -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &digest, &length) == 1 && length == 32,
                     "OpenSSL: EVP_DigestFinal_ex failed")
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest[0..<32] {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
