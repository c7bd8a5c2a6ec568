// QuillCheckpoint: safetensors read/write with Quill's metadata (config, tokenizer, training history, SHA-256),
// and Hugging Face GPT-2 import/export. Depends on QuillModel for the parameter layout; knows no HTTP.

/// Namespace of the checkpoint module; the reader and writer arrive with the trainer (issue: quill-train).
public enum QuillCheckpoint {}
