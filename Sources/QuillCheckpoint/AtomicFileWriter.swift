// Crash-safe replacement of a file: bytes go to ".NAME.tmp-<pid>" beside the destination, which is fsync'd,
// renamed over the destination, and the directory fsync'd. Until commit() succeeds the destination is untouched;
// on any failure (or when the writer is dropped uncommitted) the temporary file is removed.
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class AtomicFileWriter {
    /// The file being replaced; every error names it.
    let destination: String
    /// The temporary file the bytes go to first.
    let temporary: String
    private let directory: String
    private var fd: Int32
    private var committed = false
    /// The first write error; later writes are skipped and commit() throws it. Keeping the error here lets the
    /// data producers be plain non-throwing closures over their buffers.
    private(set) var failure: CheckpointError?
    private(set) var bytesWritten = 0
    /// Test hook: behave as if the disk filled up (ENOSPC) once this many bytes have been written.
    var failAfterBytes: Int?

    /// Creates the temporary file (O_EXCL, mode 0644 less the umask) in the destination's directory.
    init(destination url: URL) throws(CheckpointError) {
        let path = url.path
        destination = path
        directory = url.deletingLastPathComponent().path
        let name = url.lastPathComponent
        guard !name.isEmpty, name != "/", !path.hasSuffix("/") else {
            throw .cannotWrite(path: path, reason: "the path names a directory, not a file")
        }
        let base = (directory.hasSuffix("/") ? directory : directory + "/") + "." + name + ".tmp-\(getpid())"
        var candidate = base
        var opened: Int32 = -1
        // Another writer of the same file in this process (or a stale file from a crashed process that had our
        // pid) holds the plain name: fall back to a random suffix rather than touching its file.
        for _ in 0..<8 {
            opened = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if opened >= 0 { break }
            let e = errno
            if e == EINTR { continue }
            guard e == EEXIST else {
                var reason = systemError(e)
                if e == ENOENT { reason += " (does the directory \(directory) exist? create it first)" }
                if e == EACCES || e == EROFS || e == EPERM {
                    reason += " (cannot create a file in \(directory); choose another output path)"
                }
                throw .cannotWrite(path: path, reason: reason)
            }
            candidate = base + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        }
        guard opened >= 0 else {
            throw .cannotWrite(path: path, reason: "cannot create a temporary file beside it (\(candidate) exists)")
        }
        temporary = candidate
        fd = opened
    }

    deinit {
        if !committed { abandon() }
    }

    /// Appends bytes, retrying EINTR and partial writes. After a failure this does nothing (see `failure`).
    func write(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, fd >= 0, let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            // At most 8 MiB per call: Linux caps one write near 2 GiB, and short writes are handled anyway.
            var n = min(bytes.count - done, 8 << 20)
            if let limit = failAfterBytes {
                n = min(n, limit - bytesWritten)
                if n <= 0 {
                    failure = .cannotWrite(path: destination, reason: "\(systemError(ENOSPC)) (writing \(temporary))")
                    return
                }
            }
            let w = posixWrite(fd, base + done, n)
            if w < 0 {
                if errno == EINTR { continue }
                failure = .cannotWrite(path: destination, reason: "\(systemError(errno)) (writing \(temporary))")
                return
            }
            if w == 0 {
                failure = .cannotWrite(path: destination, reason: "write(2) wrote nothing (writing \(temporary))")
                return
            }
            done += w
            bytesWritten += w
        }
    }

    /// fsync, close, rename over the destination, fsync the directory. Throws the first write error, if any,
    /// after removing the temporary file.
    func commit() throws(CheckpointError) {
        precondition(!committed, "commit() called twice")
        if let failure {
            abandon()
            throw failure
        }
        guard fsyncRetrying(fd) == 0 else {
            let e = errno
            abandon()
            throw .cannotWrite(path: destination, reason: "fsync: \(systemError(e)) (writing \(temporary))")
        }
        let closed = close(fd)
        let closeErrno = errno
        fd = -1
        guard closed == 0 else {
            abandon()
            throw .cannotWrite(path: destination, reason: "close: \(systemError(closeErrno)) (writing \(temporary))")
        }
        guard rename(temporary, destination) == 0 else {
            let e = errno
            abandon()
            var reason = "rename from \(temporary): \(systemError(e))"
            if e == EISDIR { reason += " (a directory has that name; choose another output path)" }
            throw .cannotWrite(path: destination, reason: reason)
        }
        committed = true
        // The rename is durable only once the directory entry is on disk. Some file systems cannot fsync a
        // directory (EINVAL); the file itself is complete either way.
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            let synced = fsyncRetrying(dirfd)
            let e = errno
            close(dirfd)
            if synced != 0 && e != EINVAL && e != EROFS {
                throw .cannotWrite(path: destination, reason: "the file is in place, but syncing its directory "
                                   + "\(directory) failed: \(systemError(e)); it may not survive a crash")
            }
        }
    }

    /// Closes and removes the temporary file; the destination is never touched.
    private func abandon() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        unlink(temporary)
    }
}

/// write(2), named apart from AtomicFileWriter.write(_:) which would shadow it inside the class.
private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}

private func fsyncRetrying(_ fd: Int32) -> Int32 {
    while true {
        let r = fsync(fd)
        if r == 0 || errno != EINTR { return r }
    }
}
