// quill-server's settings. Precedence: defaults < Config/server.json (or --config FILE) < QUILL_* environment
// variables < command-line flags. Each is declared once, in `table`: its file key gives the variable (QUILL_ and
// the key in capitals, `max_tokens_limit` → QUILL_MAX_TOKENS_LIMIT) and the flag (`--max-tokens-limit`).
import Foundation
import QuillHTTP
import QuillModel
import QuillSettings

public struct ServerConfig: Codable, Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The checkpoint to serve.
    public var checkpoint = "checkpoints/shakespeare-char.safetensors"
    /// The model's name in responses and /v1/models; default: the checkpoint's file name without extension.
    public var modelName: String? = nil
    /// When set, every route but GET /health and GET / needs `Authorization: Bearer KEY`.
    public var apiKey: String? = nil
    /// More keys, each as good as api_key (environment and flags: comma-separated).
    public var apiKeys: [String] = []
    /// A file of keys, one per line (blank lines and lines starting with # are skipped), read at start.
    public var apiKeyFile: String? = nil
    /// Origins a browser page may call the API from (CORS): exact origins such as "https://app.example", or "*".
    public var corsOrigins: [String] = []
    public var maxTokensLimit = 4096
    /// Generations stepped together in one forward pass.
    public var batchCapacity = 16
    /// Generations that may wait for a place in the batch before new ones get 503.
    public var queueCapacity = 64
    /// Worker threads for the model (0: one per core).
    public var threads = 0
    /// How the engine stores the block matrices and LM head: "f32", or "q8" (8-bit blocks of 32 with an f16 scale).
    public var weights = "f32"
    public var maxConnections = 1024
    public var maxHeaderBytes = 16 * 1024
    public var maxBodyBytes = 1 << 20
    public var requestTimeout = 10.0
    public var idleTimeout = 30.0
    public var minSendRate = 256
    /// Seconds SIGTERM/SIGINT wait for in-flight requests before closing them.
    public var drainSeconds = 10.0
    /// trace, debug, info, notice, warning, error, critical.
    public var logLevel = "info"
    /// The OpenAPI description served at /openapi.yaml.
    public var openapi = "docs/openapi.yaml"
    /// The chat template of /v1/chat/completions (plain, chatml, alpaca); nil: the checkpoint's, else plain.
    public var chatTemplate: String? = nil
    /// Megabytes of finished sequences' KV caches kept for prompts that begin the same way (0: no prompt cache).
    public var promptCacheMB = 512
    /// Most finished sequences the prompt cache holds, whatever their size.
    public var promptCacheEntries = 32
    /// Seconds between checks of the checkpoint file for a new version to load (live reload); 0: only on SIGHUP
    /// or POST /admin/reload.
    public var reloadInterval = 2.0
    /// TLS: a PEM certificate chain and its PEM private key. With both set, a TLS listener on tls_port serves the
    /// same API beside the plain one on port.
    public var tlsCert: String? = nil
    public var tlsKey: String? = nil
    /// The TLS listener's port (0 picks a free one).
    public var tlsPort = 8443
    /// Seconds a TLS client has from its connect to the end of its handshake.
    public var tlsHandshakeTimeout = 10.0

    public init() {}

    /// True when the TLS listener is configured.
    public var tlsEnabled: Bool { tlsCert != nil && tlsKey != nil }

    /// The largest max_tokens_limit a server accepts: 2^24 tokens, far past any context a request can fill.
    public static let maxTokensCeiling = 1 << 24

    /// Every setting, once: its file key (and from it the QUILL_ variable and the flag), its property and its
    /// help. The README's table is `quill-server --settings-table` (a test holds them equal).
    public static let table = SettingsTable(ServerConfig(), environmentPrefix: "QUILL_", [
        Setting("host", \.host, "Address to bind; `0.0.0.0` or `::` for all interfaces."),
        Setting("port", \.port, "Port; 0 picks a free one."),
        Setting("checkpoint", \.checkpoint, "The model to serve: a Quill checkpoint or a Hugging Face GPT-2 folder."),
        Setting("model_name", \.modelName, "Name in responses and `/v1/models` (none: the checkpoint's file name)."),
        Setting("api_key", \.apiKey,
                "Require `Authorization: Bearer KEY` on every route but `GET /health`, `GET /` and the playground's files."),
        Setting("api_keys", \.apiKeys, "More keys, each accepted like `api_key` (comma-separated in a variable or flag)."),
        Setting("api_key_file", \.apiKeyFile, "A file of keys, one per line (`#` comments), read at start."),
        Setting("cors_origins", \.corsOrigins,
                "Origins a browser page may call from (`https://app.example`, or `*`), with preflight."),
        Setting("max_tokens_limit", \.maxTokensLimit, "Largest `max_tokens` a request may ask for."),
        Setting("batch_capacity", \.batchCapacity, "Generations stepped together in one forward pass."),
        Setting("queue_capacity", \.queueCapacity,
                "Generations waiting for the batch; beyond this, 503 with `Retry-After`."),
        Setting("threads", \.threads, "Model worker threads (0: one per core)."),
        Setting("weights", \.weights,
                "`f32`, or `q8`: 8-bit weights (blocks of 32 with an f16 scale), quantized at load, about 4× fewer bytes per token."),
        Setting("max_connections", \.maxConnections, "Open connections at most; beyond this, 503 and close."),
        Setting("max_header_bytes", \.maxHeaderBytes, "Request line (414) and header section (431), in bytes."),
        Setting("max_body_bytes", \.maxBodyBytes, "Request body (413), in bytes."),
        Setting("request_timeout", \.requestTimeout, "Seconds to receive a whole request (408)."),
        Setting("idle_timeout", \.idleTimeout, "Seconds a keep-alive connection may idle."),
        Setting("min_send_rate", \.minSendRate,
                "Bytes/s a client must read while a response is pending (over 10 s), or it is cut off and its generation cancelled."),
        Setting("drain_seconds", \.drainSeconds, "On SIGTERM/SIGINT, how long in-flight requests may finish."),
        Setting("log_level", \.logLevel,
                "trace, debug, info, notice, warning, error or critical; one line per request at `info`."),
        Setting("openapi", \.openapi, "The document served at `/openapi.yaml`."),
        Setting("chat_template", \.chatTemplate,
                "Chat template of `/v1/chat/completions`: plain, chatml or alpaca (none: the checkpoint's, else plain)."),
        Setting("prompt_cache_mb", \.promptCacheMB,
                "Megabytes of finished sequences' KV caches kept for prompts that begin the same way (0: no prompt cache)."),
        Setting("prompt_cache_entries", \.promptCacheEntries, "Most finished sequences the prompt cache holds."),
        Setting("reload_interval", \.reloadInterval,
                "Seconds between checks of the checkpoint for a new version (0: only SIGHUP or `POST /admin/reload`)."),
        Setting("tls_cert", \.tlsCert,
                "PEM certificate chain: with `tls_key`, serve TLS 1.2+ on `tls_port` beside plain HTTP (docs/API.md, TLS)."),
        Setting("tls_key", \.tlsKey, "PEM private key of `tls_cert`."),
        Setting("tls_port", \.tlsPort, "The TLS listener's port (0 picks a free one)."),
        Setting("tls_handshake_timeout", \.tlsHandshakeTimeout,
                "Seconds a TLS client has from its connect to the end of its handshake."),
    ])

    public static var keys: [String] { table.keys }

    public init(from decoder: any Decoder) throws {
        self.init()
        try Self.table.decode(&self, from: decoder)
    }

    public func encode(to encoder: any Encoder) throws { try Self.table.encode(self, to: encoder) }

    /// Every accepted key: api_key, api_keys and the lines of api_key_file.
    /// - Throws: when api_key_file cannot be read or holds no key.
    public func allAPIKeys() throws(ServiceError) -> [String] {
        var keys = (apiKey.map { [$0] } ?? []) + apiKeys
        if let file = apiKeyFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw .config("api_key_file \(file) cannot be read")
            }
            let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            guard !lines.isEmpty else { throw .config("api_key_file \(file) holds no key") }
            keys += lines
        }
        return keys.filter { !$0.isEmpty }
    }

    /// Reads a JSON file of settings; unknown keys and values of the wrong type are errors that name them.
    public static func load(file path: String) throws(ServiceError) -> ServerConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .config("cannot read the config file \(path)")
        }
        do { return try table.load(ServerConfig.self, json: data) } catch { throw .config("\(path): \(error)") }
    }

    /// Applies `QUILL_*` variables; a value that does not parse is an error naming the variable.
    public mutating func apply(environment env: [String: String]) throws(ServiceError) {
        do { try Self.table.apply(environment: env, to: &self) } catch { throw .config(error.description) }
    }

    /// Applies command-line settings (`--key value`, `--key=value`; dashes or underscores), each named in its error.
    public mutating func apply(flags args: [String]) throws(ServiceError) {
        do { try Self.table.apply(flags: try Self.table.parseFlags(args), to: &self) } catch {
            throw .config(error.description)
        }
    }

    /// Sets one key from text, as a variable or a flag would.
    public mutating func set(_ key: String, _ value: String, source: String) throws(ServiceError) {
        do { try Self.table.set(&self, key, value, source: source) } catch { throw .config(error.description) }
    }

    /// Checks ranges; the message names the setting and what it allows.
    public func validate() throws(ServiceError) {
        func need(_ ok: Bool, _ message: String) throws(ServiceError) { if !ok { throw .config(message) } }
        try need((0...65535).contains(port), "port must be between 0 and 65535")
        // Upper bounds too: every size from a file, a variable or a flag is bounded before any arithmetic uses it.
        try need((1...Self.maxTokensCeiling).contains(maxTokensLimit),
                 "max_tokens_limit must be between 1 and \(Self.maxTokensCeiling)")
        try need((1...256).contains(batchCapacity), "batch_capacity must be between 1 and 256")
        try need((0...1_000_000).contains(queueCapacity), "queue_capacity must be between 0 and 1000000")
        try need((0...4096).contains(threads), "threads must be between 0 and 4096 (0: one per core)")
        try need(WeightPrecision(rawValue: weights) != nil, "weights must be f32 or q8, not \"\(weights)\"")
        try need((1...1_000_000).contains(maxConnections), "max_connections must be between 1 and 1000000")
        try need((256...(1 << 24)).contains(maxHeaderBytes), "max_header_bytes must be between 256 and 16777216")
        try need((1...(1 << 30)).contains(maxBodyBytes), "max_body_bytes must be between 1 and 1073741824")
        try need(requestTimeout > 0 && idleTimeout > 0 && requestTimeout <= 86400 && idleTimeout <= 86400,
                 "request_timeout and idle_timeout must be > 0 and at most 86400 seconds")
        try need((0...(1 << 30)).contains(minSendRate), "min_send_rate must be between 0 and 1073741824")
        try need(drainSeconds >= 0 && drainSeconds <= 86400, "drain_seconds must be between 0 and 86400")
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        try need(levels.contains(logLevel), "log_level must be one of \(levels.joined(separator: ", "))")
        for o in corsOrigins where o != "*" && !(o.hasPrefix("http://") || o.hasPrefix("https://")) {
            throw .config("cors_origins entries must be \"*\" or origins like https://app.example, not \"\(o)\"")
        }
        try need((0...(1 << 20)).contains(promptCacheMB), "prompt_cache_mb must be between 0 and 1048576")
        try need((0...100_000).contains(promptCacheEntries), "prompt_cache_entries must be between 0 and 100000")
        try need(reloadInterval >= 0 && reloadInterval <= 86400, "reload_interval must be between 0 and 86400 seconds (0: off)")
        try need((tlsCert == nil) == (tlsKey == nil), "tls_cert and tls_key go together: set both, or neither")
        try need((0...65535).contains(tlsPort), "tls_port must be between 0 and 65535")
        try need(!tlsEnabled || tlsPort == 0 || tlsPort != port, "tls_port must differ from port")
        try need(tlsHandshakeTimeout > 0 && tlsHandshakeTimeout <= 86400,
                 "tls_handshake_timeout must be > 0 and at most 86400 seconds")
        if let t = chatTemplate, ChatTemplate(rawValue: t) == nil {
            throw .config("chat_template must be one of \(ChatTemplate.names), not \"\(t)\"")
        }
        for k in apiKeys where k.contains(where: { $0.isWhitespace }) {
            throw .config("api_keys entries must not contain spaces")
        }
    }

    /// The HTTP layer's limits from these settings.
    public var http: HTTPServerConfiguration {
        var h = HTTPServerConfiguration()
        h.host = host
        h.port = port
        h.maxConnections = maxConnections
        h.maxHeaderBytes = maxHeaderBytes
        h.maxBodyBytes = maxBodyBytes
        h.requestTimeout = requestTimeout
        h.idleTimeout = idleTimeout
        h.minSendBytesPerSecond = minSendRate
        h.tlsHandshakeTimeout = tlsHandshakeTimeout
        h.errorResponse = { QuillAPI.error(APIError($0)) }  // API.md's error body, for the HTTP layer's own errors
        return h
    }
}
