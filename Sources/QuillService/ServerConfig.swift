// quill-server's settings. Precedence: defaults < Config/server.json (or --config FILE) < QUILL_* environment
// variables < command-line flags. Every key of the file has an environment variable: QUILL_ and the key in
// capitals (`max_tokens_limit` → QUILL_MAX_TOKENS_LIMIT).
import Foundation
import QuillHTTP
import QuillModel

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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case host, port, checkpoint
        case modelName = "model_name", apiKey = "api_key", maxTokensLimit = "max_tokens_limit"
        case batchCapacity = "batch_capacity", queueCapacity = "queue_capacity", threads, weights
        case maxConnections = "max_connections", maxHeaderBytes = "max_header_bytes", maxBodyBytes = "max_body_bytes"
        case requestTimeout = "request_timeout", idleTimeout = "idle_timeout", minSendRate = "min_send_rate"
        case drainSeconds = "drain_seconds", logLevel = "log_level", openapi
        case apiKeys = "api_keys", apiKeyFile = "api_key_file", corsOrigins = "cors_origins"
        case chatTemplate = "chat_template", promptCacheMB = "prompt_cache_mb", promptCacheEntries = "prompt_cache_entries", reloadInterval = "reload_interval"
        case tlsCert = "tls_cert", tlsKey = "tls_key", tlsPort = "tls_port", tlsHandshakeTimeout = "tls_handshake_timeout"
    }

    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ServerConfig()
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? d.host
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? d.port
        checkpoint = try c.decodeIfPresent(String.self, forKey: .checkpoint) ?? d.checkpoint
        modelName = try c.decodeIfPresent(String.self, forKey: .modelName)
        apiKey = try c.decodeIfPresent(String.self, forKey: .apiKey)
        maxTokensLimit = try c.decodeIfPresent(Int.self, forKey: .maxTokensLimit) ?? d.maxTokensLimit
        batchCapacity = try c.decodeIfPresent(Int.self, forKey: .batchCapacity) ?? d.batchCapacity
        queueCapacity = try c.decodeIfPresent(Int.self, forKey: .queueCapacity) ?? d.queueCapacity
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? d.threads
        weights = try c.decodeIfPresent(String.self, forKey: .weights) ?? d.weights
        maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? d.maxConnections
        maxHeaderBytes = try c.decodeIfPresent(Int.self, forKey: .maxHeaderBytes) ?? d.maxHeaderBytes
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? d.maxBodyBytes
        requestTimeout = try c.decodeIfPresent(Double.self, forKey: .requestTimeout) ?? d.requestTimeout
        idleTimeout = try c.decodeIfPresent(Double.self, forKey: .idleTimeout) ?? d.idleTimeout
        minSendRate = try c.decodeIfPresent(Int.self, forKey: .minSendRate) ?? d.minSendRate
        drainSeconds = try c.decodeIfPresent(Double.self, forKey: .drainSeconds) ?? d.drainSeconds
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel) ?? d.logLevel
        openapi = try c.decodeIfPresent(String.self, forKey: .openapi) ?? d.openapi
        apiKeys = try c.decodeIfPresent([String].self, forKey: .apiKeys) ?? d.apiKeys
        apiKeyFile = try c.decodeIfPresent(String.self, forKey: .apiKeyFile)
        corsOrigins = try c.decodeIfPresent([String].self, forKey: .corsOrigins) ?? d.corsOrigins
        chatTemplate = try c.decodeIfPresent(String.self, forKey: .chatTemplate)
        promptCacheMB = try c.decodeIfPresent(Int.self, forKey: .promptCacheMB) ?? d.promptCacheMB
        promptCacheEntries = try c.decodeIfPresent(Int.self, forKey: .promptCacheEntries) ?? d.promptCacheEntries
        reloadInterval = try c.decodeIfPresent(Double.self, forKey: .reloadInterval) ?? d.reloadInterval
        tlsCert = try c.decodeIfPresent(String.self, forKey: .tlsCert)
        tlsKey = try c.decodeIfPresent(String.self, forKey: .tlsKey)
        tlsPort = try c.decodeIfPresent(Int.self, forKey: .tlsPort) ?? d.tlsPort
        tlsHandshakeTimeout = try c.decodeIfPresent(Double.self, forKey: .tlsHandshakeTimeout) ?? d.tlsHandshakeTimeout
    }

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
        guard let json = try? JSONValue.parse(Array(data)), case .object(let pairs) = json else {
            throw .config("\(path) is not a JSON object")
        }
        for (key, _) in pairs where !keys.contains(key) {
            throw .config("\(path): unknown key \"\(key)\"; known keys: \(keys.joined(separator: ", "))")
        }
        do {
            return try JSONDecoder().decode(ServerConfig.self, from: data)
        } catch let DecodingError.typeMismatch(_, context) {
            throw .config("\(path): \(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type")
        } catch {
            throw .config("\(path): \(error)")
        }
    }

    /// Applies `QUILL_*` variables; a value that does not parse is an error naming the variable.
    public mutating func apply(environment env: [String: String]) throws(ServiceError) {
        for key in Self.keys {
            let name = "QUILL_" + key.uppercased()
            guard let value = env[name] else { continue }
            try set(key, value, source: name)
        }
    }

    /// Sets one key from text (environment and flags share this).
    public mutating func set(_ key: String, _ value: String, source: String) throws(ServiceError) {
        func int() throws(ServiceError) -> Int {
            guard let v = Int(value.trimmingSpaces) else { throw .config("\(source) must be an integer, not \"\(value)\"") }
            return v
        }
        func double() throws(ServiceError) -> Double {
            guard let v = Double(value.trimmingSpaces) else { throw .config("\(source) must be a number, not \"\(value)\"") }
            return v
        }
        switch key {
        case "host": host = value
        case "port": port = try int()
        case "checkpoint": checkpoint = value
        case "model_name": modelName = value.isEmpty ? nil : value
        case "api_key": apiKey = value.isEmpty ? nil : value
        case "max_tokens_limit": maxTokensLimit = try int()
        case "batch_capacity": batchCapacity = try int()
        case "queue_capacity": queueCapacity = try int()
        case "threads": threads = try int()
        case "weights": weights = value
        case "max_connections": maxConnections = try int()
        case "max_header_bytes": maxHeaderBytes = try int()
        case "max_body_bytes": maxBodyBytes = try int()
        case "request_timeout": requestTimeout = try double()
        case "idle_timeout": idleTimeout = try double()
        case "min_send_rate": minSendRate = try int()
        case "drain_seconds": drainSeconds = try double()
        case "log_level": logLevel = value
        case "openapi": openapi = value
        case "api_keys": apiKeys = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case "api_key_file": apiKeyFile = value.isEmpty ? nil : value
        case "cors_origins": corsOrigins = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case "chat_template": chatTemplate = value.isEmpty ? nil : value
        case "prompt_cache_mb": promptCacheMB = try int()
        case "prompt_cache_entries": promptCacheEntries = try int()
        case "reload_interval": reloadInterval = try double()
        case "tls_cert": tlsCert = value.isEmpty ? nil : value
        case "tls_key": tlsKey = value.isEmpty ? nil : value
        case "tls_port": tlsPort = try int()
        case "tls_handshake_timeout": tlsHandshakeTimeout = try double()
        default: throw .config("unknown setting \(key)")
        }
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
