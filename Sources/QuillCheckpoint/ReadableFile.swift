// A regular file opened for reading over POSIX: its size from fstat, reads retried on EINTR, every failure
// a CheckpointError carrying the path and strerror. Parsing the bytes is SafeTensorsFile's job.
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class ReadableFile {
    let path: String
    /// Bytes in the file when it was opened.
    let size: Int
    let fd: Int32

    /// Opens `url` read-only; a directory or device is refused.
    init(_ url: URL) throws(CheckpointError) {
        path = url.path
        // O_NONBLOCK so that a named pipe given as a path is refused below instead of blocking the open.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .cannotRead(path: path, reason: systemError(errno)) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw .cannotRead(path: path, reason: "fstat: \(systemError(e))")
        }
        // S_IFMT / S_IFREG: only a regular file has a size to check the header against.
        let kind = st.st_mode & 0o170000
        guard kind == 0o100000 else {
            close(fd)
            throw .cannotRead(path: path, reason: kind == 0o040000 ? "is a directory" : "not a regular file")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        self.fd = fd
        self.size = Int(st.st_size)
    }

    deinit { close(fd) }

    /// One read(2) into `buffer` (retried on EINTR); 0 at end of file.
    func readSome(into buffer: UnsafeMutableRawBufferPointer) throws(CheckpointError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let n = read(fd, base, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw .cannotRead(path: path, reason: systemError(errno))
        }
    }

    /// Fills `buffer` unless the file ends first; returns the bytes read (== buffer.count unless at the end).
    func readFully(into buffer: UnsafeMutableRawBufferPointer) throws(CheckpointError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = try readSome(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Up to `count` bytes (fewer only at the end of the file).
    func readBytes(_ count: Int) throws(CheckpointError) -> [UInt8] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 8)
        defer { buffer.deallocate() }
        let got = try readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
        return Array(buffer[0..<got])
    }
}

/// strerror(code), e.g. "No such file or directory".
func systemError(_ code: Int32) -> String {
    String(cString: strerror(code))
}
