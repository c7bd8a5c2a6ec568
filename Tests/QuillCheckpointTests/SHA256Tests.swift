// SHA-256 against the FIPS 180-2 test vectors, and the streamed file digest against the in-memory one.
import Foundation
import QuillCheckpoint
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    @Test("digests match the published test vectors")
    func vectors() {
        func digest(_ s: String) -> String { Array(s.utf8).withUnsafeBytes { sha256Hex($0) } }
        #expect(digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test("a file streamed in chunks hashes like its bytes in memory")
    func fileDigest() throws {
        let dir = try ScratchDirectory()
        let url = dir.file("blob")
        let blob = (0..<(3 << 20) + 7).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        try write(blob, to: url)
        #expect(try sha256Hex(ofFileAt: url) == blob.withUnsafeBytes { sha256Hex($0) })
        let missing = dir.file("absent")
        #expect(throws: CheckpointError.cannotRead(path: missing.path, reason: "No such file or directory")) {
            _ = try sha256Hex(ofFileAt: missing)
        }
    }
}
