// The fuzzer's seed corpus and every input it ever failed on (Fuzz/corpus/http, Fuzz/regressions/http), replayed
// through the parser's property: the same bytes make the same requests and errors at once and in any pieces.
import Foundation
import QuillHTTP
import Testing

@Suite("Parser fuzz regressions")
struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func inputs(_ folders: [String]) -> [URL] {
        folders.flatMap { f -> [URL] in
            let dir = root.appendingPathComponent(f)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
        }
    }

    @Test("every corpus and regression input parses the same at once and cut into pieces of 1 to 7 bytes")
    func sameInPieces() throws {
        let files = Self.inputs(["corpus/http", "regressions/http"])
        #expect(files.count >= 7)
        for f in files {
            let bytes = Array(try Data(contentsOf: f))
            let whole = ParserProbe.frame(bytes)
            // The fuzz harness's own cut (from the first byte), then pieces of 1 to 7 bytes.
            let b = bytes.first ?? 0
            let cuts = [[Int(b % 7) + 1, Int(b / 7 % 5) + 1]] + (1...7).map { [$0, $0 + 2] }
            for cut in cuts {
                #expect(ParserProbe.frame(bytes, pieces: cut) == whole, "\(f.lastPathComponent), pieces \(cut)")
            }
        }
    }

    @Test("the seed requests parse as the requests they are")
    func seedsParse() throws {
        let get = ParserProbe.frame(Array(try Data(contentsOf: Self.root.appendingPathComponent("corpus/http/get"))))
        // The head, the whole request, then nothing left over.
        #expect(get.count == 3 && get[1].hasPrefix("request(") && get[1].contains("/health"), "\(get)")
        #expect(get.last == "buffered 0, inside false")
        // Two equal Content-Length fields are one length (RFC 9110 §8.6): the body is the 3 bytes.
        let dup = ParserProbe.frame(Array(try Data(contentsOf: Self.root.appendingPathComponent("corpus/http/duplicate-length"))))
        #expect(dup.count == 3 && dup[1].contains("body: [97, 98, 99]"), "\(dup)")
        let tls = ParserProbe.frame(Array(try Data(contentsOf: Self.root.appendingPathComponent("corpus/http/tls-hello"))))
        #expect(tls.last?.hasPrefix("error") == true, "\(tls)")
    }
}
