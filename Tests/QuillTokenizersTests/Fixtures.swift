// Shared test inputs: the data folder (see TestData) with GPT-2's tokenizer and Tiny Shakespeare, each loaded once
// for the whole suite, and awkward strings.
import Foundation
import Testing
@testable import QuillTokenizers

// The same lookup as Tests/QuillTrainingTests/Support.swift (each test target has its own copy).
/// The tests' data folder: $QUILL_DATA when set (`make test` and CI set it), else data/ at the package root
/// (written by `make data`). It holds tinyshakespeare.txt and gpt2/vocab.json + gpt2/merges.txt;
/// tests that need a file it lacks are skipped (`.needsShakespeare`, `.needsGPT2`).
enum TestData {
    static let directory: URL = {
        if let path = ProcessInfo.processInfo.environment["QUILL_DATA"], !path.isEmpty {
            return URL(fileURLWithPath: path).standardizedFileURL
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent("data").standardizedFileURL
    }()
    static let shakespeareFile = directory.appendingPathComponent("tinyshakespeare.txt")
    static let gpt2Directory = directory.appendingPathComponent("gpt2")
    static let hasShakespeare = holds(["tinyshakespeare.txt"], directory)
    static let hasGPT2 = holds(["gpt2/vocab.json", "gpt2/merges.txt"], directory)

    private static func holds(_ files: [String], _ folder: URL) -> Bool {
        files.allSatisfy { FileManager.default.isReadableFile(atPath: folder.appendingPathComponent($0).path) }
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only when tinyshakespeare.txt is in the data folder.
    static var needsShakespeare: Self {
        .enabled(if: TestData.hasShakespeare, "needs tinyshakespeare.txt: set QUILL_DATA or run make data")
    }
    /// Runs the test only when GPT-2's gpt2/vocab.json and gpt2/merges.txt are in the data folder.
    static var needsGPT2: Self {
        .enabled(if: TestData.hasGPT2, "needs GPT-2's gpt2/vocab.json and gpt2/merges.txt: set QUILL_DATA or run make data")
    }
}

enum Fixtures {
    static let dataDirectory = TestData.directory
    static let gpt2Directory = TestData.gpt2Directory
    static let shakespeareFile = TestData.shakespeareFile

    private static let gpt2Result = Result { try BytePairTokenizer(directory: gpt2Directory) }
    private static let shakespeareResult = Result { try String(contentsOf: shakespeareFile, encoding: .utf8) }

    /// GPT-2's tokenizer from the data folder's gpt2/ (vocab.json + merges.txt).
    static func gpt2() throws -> BytePairTokenizer { try gpt2Result.get() }

    /// The whole of tinyshakespeare.txt.
    static func shakespeare() throws -> String { try shakespeareResult.get() }

    /// The first `bytes` bytes of tinyshakespeare.txt (all ASCII, so any cut is a character boundary).
    static func shakespeare(prefix bytes: Int) throws -> String {
        String(decoding: Array(try shakespeare().utf8.prefix(bytes)), as: UTF8.self)
    }

    /// Awkward text for round trips: emoji (with ZWJ and flags), CJK, combining marks, "\r\n", runs of spaces and
    /// newlines, other white space, special-token text, controls.
    static let awkwardStrings: [String] = [
        "", " ", "  ", "\n", "\n\n\n", "\r\n", "\r\n\r\n", "a\r\nb", "   \n\n  x", "hello   world  ", "\t\t",
        "🙂", "👨‍👩‍👧 family", "🇫🇷🇯🇵", "hi 🙂 there", "中文字符", "日本語のテキスト", "한국어",
        "e\u{301}", "n\u{303}o\u{308}", "\u{301}alone", "Z\u{351}\u{36B}\u{343}\u{36A}a\u{334}l\u{31F}g\u{32C}o",
        "I'm you're they've we'll he'd it's DON'T", "'s's''s", "x\u{A0}y\u{3000}z\u{2028}w\u{85}v",
        "<|endoftext|>", "a<|endoftext|>b", "\u{0}\u{7F}\u{1B}[0m", "\u{FEFF}bom", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "١٢٣ ½ ² Ⅻ",
        String(repeating: "a", count: 1000), String(repeating: " ", count: 300) + "x", String(repeating: "🙂", count: 100),
    ]
}

/// 64-bit FNV-1a over token ids, as GoldenIDs.shakespeareHash was computed.
func fnv1a(_ ids: [Int]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for id in ids { h = (h ^ UInt64(id)) &* 0x100_0000_01b3 }
    return h
}
