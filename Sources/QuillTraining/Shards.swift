// Token shards: a corpus tokenized once by `quill-train prepare` into DIR/train-NNNNN.bin and DIR/val-NNNNN.bin
// (little-endian uint16 when the vocabulary fits, else uint32), each with a .docs file of its documents' start
// offsets (uint32), and DIR/manifest.json: the tokenizer, the counts, the files' SHA-256 and how it was made.
// `quill-train train --data DIR` maps the shards (TokenStream) instead of reading the corpus.
import Foundation
import QuillCheckpoint
import QuillTokenizers

/// DIR/manifest.json.
public struct ShardManifest: Codable, Sendable, Equatable {
    public struct Source: Codable, Sendable, Equatable {
        public var path: String
        /// Bytes read (after decompression).
        public var bytes: Int
    }

    public struct Shard: Codable, Sendable, Equatable {
        /// File name inside DIR.
        public var file: String
        /// "train" or "val".
        public var split: String
        public var tokens: Int
        public var documents: Int
        public var sha256: String
        /// The file of this shard's document starts (uint32 token offsets, one per document).
        public var docs: String
        public var docsSHA256: String

        enum CodingKeys: String, CodingKey {
            case file, split, tokens, documents, sha256, docs, docsSHA256 = "docs_sha256"
        }
    }

    /// Always "quill-shards".
    public var kind = "quill-shards"
    public var version = 1
    /// How the sources were read: text (one stream per file), lines or jsonl (documents, each ending in end-of-text).
    public var dataFormat: String
    public var sources: [Source]
    public var tokenizer: SerializedTokenizer
    public var vocabSize: Int
    /// "uint16" or "uint32".
    public var dtype: String
    public var endOfText: Int?
    public var valFraction: Double
    public var seed: UInt64
    public var shards: [Shard]

    enum CodingKeys: String, CodingKey {
        case kind, version, dataFormat = "data_format", sources, tokenizer, vocabSize = "vocab_size", dtype
        case endOfText = "end_of_text", valFraction = "val_fraction", seed, shards
    }

    public var width: Int { dtype == "uint16" ? 2 : 4 }
    public func tokens(_ split: String) -> Int { shards.filter { $0.split == split }.reduce(0) { $0 + $1.tokens } }
    public func documents(_ split: String) -> Int { shards.filter { $0.split == split }.reduce(0) { $0 + $1.documents } }

    public static let fileName = "manifest.json"
}

/// A prepared shard folder, opened for training: its manifest, the tokenizer it was made with, the train and val
/// shards mapped read-only.
public struct ShardSet: Sendable {
    public let directory: String
    public let manifest: ShardManifest
    /// SHA-256 of manifest.json, which names every shard's SHA-256: the corpus's identity for --resume.
    public let manifestSHA256: String
    public let manifestBytes: Int

    /// Whether `path` is a folder with a manifest.json (what `--data DIR` means).
    public static func isShardFolder(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
            && FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(ShardManifest.fileName))
    }

    /// Reads and checks the manifest; every shard must be there with the size the manifest gives.
    public init(directory: String) throws(TrainingError) {
        self.directory = directory
        let url = URL(fileURLWithPath: directory).appendingPathComponent(ShardManifest.fileName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw .data(path: directory, reason: "no \(ShardManifest.fileName): not a folder made by quill-train prepare")
        }
        do {
            manifest = try JSONDecoder().decode(ShardManifest.self, from: data)
        } catch {
            throw .data(path: url.path, reason: "unreadable manifest (\(error))")
        }
        guard manifest.kind == "quill-shards", manifest.version == 1 else {
            throw .data(path: url.path, reason: "not a Quill shard manifest (kind \(manifest.kind), version \(manifest.version))")
        }
        guard ["uint16", "uint32"].contains(manifest.dtype) else {
            throw .data(path: url.path, reason: "dtype must be uint16 or uint32, got \(manifest.dtype)")
        }
        guard DataFormat(rawValue: manifest.dataFormat) != nil else {
            throw .data(path: url.path, reason: "unknown data_format \(manifest.dataFormat)")
        }
        manifestSHA256 = data.withUnsafeBytes { sha256Hex($0) }
        manifestBytes = data.count
        for s in manifest.shards {
            let path = (directory as NSString).appendingPathComponent(s.file)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            guard let size else { throw .data(path: path, reason: "missing shard (listed in \(url.path))") }
            guard size == s.tokens * manifest.width else {
                throw .data(path: path, reason: "holds \(size) bytes, the manifest says \(s.tokens) tokens of \(manifest.width) bytes")
            }
        }
    }

    public var format: DataFormat { DataFormat(rawValue: manifest.dataFormat)! }

    /// The tokenizer the shards were made with.
    public func makeTokenizer() throws(TrainingError) -> any Tokenizer {
        do { return try manifest.tokenizer.makeTokenizer() } catch { throw .tokenizer("\(error)") }
    }

    /// The train and val shards, mapped.
    public func split(blockSize: Int) throws(TrainingError) -> TokenSplit {
        func stream(_ name: String) throws(TrainingError) -> TokenStream {
            var maps: [MappedTokens] = []
            for s in manifest.shards where s.split == name && s.tokens > 0 {
                maps.append(try MappedTokens(path: (directory as NSString).appendingPathComponent(s.file),
                                             count: s.tokens, width: manifest.width))
            }
            return TokenStream(shards: maps)
        }
        return try TokenSplit(train: try stream("train"), val: try stream("val"), blockSize: blockSize, path: directory)
    }

    /// Checks every shard and docs file against the manifest's SHA-256 (reads everything once).
    public func verify() throws(TrainingError) {
        for s in manifest.shards {
            for (file, expected) in [(s.file, s.sha256), (s.docs, s.docsSHA256)] {
                let path = (directory as NSString).appendingPathComponent(file)
                let actual: String
                do { actual = try sha256Hex(ofFileAt: URL(fileURLWithPath: path)) } catch {
                    throw .data(path: path, reason: error.description)
                }
                guard actual == expected else {
                    throw .data(path: path, reason: "SHA-256 is \(actual), the manifest says \(expected) (corrupt or replaced)")
                }
            }
        }
    }
}
