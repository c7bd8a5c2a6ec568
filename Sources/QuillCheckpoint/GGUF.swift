// GGUF (version 3), the single-file format of llama.cpp: a header of typed key-value metadata and tensor
// descriptions, then the tensor data, each tensor aligned to 32 bytes. Written for GPT-2 with the keys and tensor
// names llama.cpp's `gpt2` architecture reads (the names its convert_hf_to_gguf.py gives a GPT-2 folder).
//
// Layout: "GGUF" u32 version u64 n_tensors u64 n_kv | kv* | tensor_info* | padding | data
//   kv: string key, u32 type, value; string: u64 length + UTF-8 bytes; array: u32 element type, u64 count, values
//   tensor_info: string name, u32 n_dims, u64 ne[n_dims] (innermost first), u32 ggml type, u64 offset in data
// ggml's ne is the reverse of a row-major shape: a PyTorch Linear weight (out, in) has ne = [in, out]. GPT-2's
// Conv1D weights are (in, out), so they are transposed on the way out, as the converter does.
import Foundation
import QuillModel
import QuillTensor
import QuillTokenizers

extension Export {
    /// GGUF value types.
    enum GGUFType: UInt32 {
        case uint32 = 4, int32 = 5, float32 = 6, bool = 7, string = 8, array = 9
    }

    /// Token types of tokenizer.ggml.token_type.
    static let normalToken: Int32 = 1, controlToken: Int32 = 3, unusedToken: Int32 = 5

    /// Writes the checkpoint as one GGUF file (F32 tensors), atomically.
    public static func gguf(_ checkpoint: Checkpoint, to url: URL, name: String) throws(CheckpointError) {
        let (config, tokenizer) = try exportable(checkpoint, to: url.path, format: "GGUF")
        let C = config.nEmbd, V = config.vocabSize, T = config.blockSize
        var header = GGUFBuffer()

        // Vocabulary: every id's piece, padded to vocab_size like the converter does.
        let serialized = tokenizer.serialized
        var tokens = serialized.vocab
        var types = [Int32](repeating: normalToken, count: tokens.count)
        for id in serialized.specialTokens.values where id < types.count { types[id] = controlToken }
        while tokens.count < V {
            tokens.append("[PAD\(tokens.count)]")
            types.append(unusedToken)
        }

        // Tensors in the converter's order, with their (row-major) shape and the values in that order.
        var tensors: [(name: String, shape: [Int], values: () -> [Float])] = []
        func add(_ name: String, _ shape: [Int], _ values: @escaping () -> [Float]) { tensors.append((name, shape, values)) }
        func quill(_ name: String) -> () -> [Float] { { values(name, of: checkpoint, config: config) } }
        func transposed(_ name: String, _ rows: Int, _ cols: Int) -> () -> [Float] {
            {
                let w = values(name, of: checkpoint, config: config)
                var out = [Float](repeating: 0, count: rows * cols)
                for i in 0..<rows { for j in 0..<cols { out[j * rows + i] = w[i * cols + j] } }
                return out
            }
        }
        add("token_embd.weight", [V, C], quill("wte.weight"))
        add("position_embd.weight", [T, C], quill("wpe.weight"))
        for l in 0..<config.nLayer {
            let p = "h.\(l).", b = "blk.\(l)."
            add(b + "attn_norm.weight", [C], quill(p + "ln_1.weight"))
            add(b + "attn_norm.bias", [C], quill(p + "ln_1.bias"))
            add(b + "attn_qkv.weight", [3 * C, C], transposed(p + "attn.c_attn.weight", C, 3 * C))
            add(b + "attn_qkv.bias", [3 * C], quill(p + "attn.c_attn.bias"))
            add(b + "attn_output.weight", [C, C], transposed(p + "attn.c_proj.weight", C, C))
            add(b + "attn_output.bias", [C], quill(p + "attn.c_proj.bias"))
            add(b + "ffn_norm.weight", [C], quill(p + "ln_2.weight"))
            add(b + "ffn_norm.bias", [C], quill(p + "ln_2.bias"))
            add(b + "ffn_up.weight", [4 * C, C], transposed(p + "mlp.c_fc.weight", C, 4 * C))
            add(b + "ffn_up.bias", [4 * C], quill(p + "mlp.c_fc.bias"))
            add(b + "ffn_down.weight", [C, 4 * C], transposed(p + "mlp.c_proj.weight", 4 * C, C))
            add(b + "ffn_down.bias", [C], quill(p + "mlp.c_proj.bias"))
        }
        add("output_norm.weight", [C], quill("ln_f.weight"))
        add("output_norm.bias", [C], quill("ln_f.bias"))
        // No output.weight: the head is tied, and llama.cpp's gpt2 loader falls back to token_embd.weight, as it
        // does for its own converter's files.

        var kv: [(String, (inout GGUFBuffer) -> Void)] = [
            ("general.architecture", { $0.string("gpt2") }),
            ("general.name", { $0.string(name) }),
            ("general.file_type", { $0.u32(0) }),  // ALL_F32
            ("general.alignment", { $0.u32(UInt32(alignment)) }),
            ("gpt2.context_length", { $0.u32(UInt32(T)) }),
            ("gpt2.embedding_length", { $0.u32(UInt32(C)) }),
            ("gpt2.feed_forward_length", { $0.u32(UInt32(4 * C)) }),
            ("gpt2.block_count", { $0.u32(UInt32(config.nLayer)) }),
            ("gpt2.attention.head_count", { $0.u32(UInt32(config.nHead)) }),
            ("gpt2.attention.layer_norm_epsilon", { $0.f32(layerNormEps) }),
            ("tokenizer.ggml.model", { $0.string("gpt2") }),
            ("tokenizer.ggml.pre", { $0.string("gpt-2") }),
            ("tokenizer.ggml.tokens", { $0.stringArray(tokens) }),
            ("tokenizer.ggml.token_type", { $0.int32Array(types) }),
            ("tokenizer.ggml.merges", { $0.stringArray(serialized.merges ?? []) }),
        ]
        if let eot = tokenizer.endOfTextID {
            kv.append(("tokenizer.ggml.bos_token_id", { $0.u32(UInt32(eot)) }))
            kv.append(("tokenizer.ggml.eos_token_id", { $0.u32(UInt32(eot)) }))
        }

        header.raw(Array("GGUF".utf8))
        header.u32Raw(3)
        header.u64Raw(UInt64(tensors.count))
        header.u64Raw(UInt64(kv.count))
        for (key, write) in kv {
            header.stringRaw(key)
            write(&header)
        }
        var offset = 0
        for t in tensors {
            header.stringRaw(t.name)
            header.u32Raw(UInt32(t.shape.count))
            for d in t.shape.reversed() { header.u64Raw(UInt64(d)) }
            header.u32Raw(0)  // GGML_TYPE_F32
            header.u64Raw(UInt64(offset))
            offset += padded(t.shape.reduce(1, *) * 4)
        }
        header.pad(to: alignment)

        let writer = try AtomicFileWriter(destination: url)
        header.bytes.withUnsafeBytes { writer.write($0) }
        let zeros = [UInt8](repeating: 0, count: alignment)
        for t in tensors {
            let v = t.values()
            v.withUnsafeBytes { writer.write($0) }
            let extra = padded(v.count * 4) - v.count * 4
            if extra > 0 { zeros.withUnsafeBytes { writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<extra])) } }
        }
        try writer.commit()
    }

    static let alignment = 32
    static func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
}

/// Little-endian GGUF encoding. `u32`/`f32`/`string`/arrays write a typed value (type tag first); the `Raw`
/// forms write the bare value (for the header fields and keys).
struct GGUFBuffer {
    var bytes: [UInt8] = []

    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func u32Raw(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64Raw(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func stringRaw(_ s: String) {
        let utf8 = Array(s.utf8)
        u64Raw(UInt64(utf8.count))
        raw(utf8)
    }
    mutating func pad(to alignment: Int) {
        let extra = (alignment - bytes.count % alignment) % alignment
        bytes.append(contentsOf: repeatElement(0, count: extra))
    }

    mutating func u32(_ v: UInt32) { u32Raw(Export.GGUFType.uint32.rawValue); u32Raw(v) }
    mutating func f32(_ v: Float) { u32Raw(Export.GGUFType.float32.rawValue); u32Raw(v.bitPattern) }
    mutating func string(_ s: String) { u32Raw(Export.GGUFType.string.rawValue); stringRaw(s) }
    mutating func stringArray(_ a: [String]) {
        u32Raw(Export.GGUFType.array.rawValue)
        u32Raw(Export.GGUFType.string.rawValue)
        u64Raw(UInt64(a.count))
        for s in a { stringRaw(s) }
    }
    mutating func int32Array(_ a: [Int32]) {
        u32Raw(Export.GGUFType.array.rawValue)
        u32Raw(Export.GGUFType.int32.rawValue)
        u64Raw(UInt64(a.count))
        for v in a { u32Raw(UInt32(bitPattern: v)) }
    }
}
