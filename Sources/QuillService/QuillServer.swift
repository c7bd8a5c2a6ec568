// A running Quill server: the API on top of the HTTP layer, with one access-log line and the metrics of every
// request. The port opens before the model is loaded: until then /health answers 503 {"status":"loading"} and
// every other route 503 with Retry-After. quill-server and the service tests both start it this way.
import Dispatch
import Foundation
import HTTPTypes
import Logging
import QuillHTTP
import QuillModel

public final class QuillServer: Sendable {
    public let http: HTTPServer
    /// The TLS listener beside `http`, made by `start()` when tls_cert and tls_key are set.
    private let https = Locked<HTTPServer?>(nil)
    private let handler: HTTPHandler
    private let accessLog: @Sendable (AccessLogEntry) -> Void
    public let config: ServerConfig
    public let metrics: ServiceMetrics
    private let state: APISlot
    private let logger: Logger?
    /// True while a reload runs (one at a time).
    private let reloading = Locked(false)
    /// The checkpoint file as last loaded or tried (live reload compares against it), and the watcher.
    private let watched = Locked<FileSignature?>(nil)
    private let watcher = Locked<Task<Void, Never>?>(nil)

    /// A server with no model yet: call `start()`, then `load(_:)`.
    public init(config: ServerConfig, logger: Logger? = nil) {
        self.config = config
        self.logger = logger
        let metrics = ServiceMetrics()
        self.metrics = metrics
        let state = APISlot()
        self.state = state
        let handler: HTTPHandler = { request in
            if let api = state.api { return await api.handle(request) }
            return QuillServer.loading(request)
        }
        let accessLog: @Sendable (AccessLogEntry) -> Void = { entry in
            let path = entry.target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? entry.target
            metrics.request(route: path, status: entry.status, seconds: entry.durationSeconds)
            let line = "\(entry.method) \(APIError.clip(entry.target, bytes: 200)) \(entry.status) \(entry.bytesSent)B \(String(format: "%.1f", entry.durationSeconds * 1000))ms \(entry.remoteAddress)"
            if let cut = entry.cut {
                logger?.warning("\(line) incomplete: \(cut)")
            } else {
                logger?.info("\(line)")
            }
        }
        self.handler = handler
        self.accessLog = accessLog
        self.http = HTTPServer(configuration: config.http, handler: handler, accessLog: accessLog)
    }

    /// A server that serves `model` from the start.
    public convenience init(config: ServerConfig, model: LoadedModel, logger: Logger? = nil) {
        self.init(config: config, logger: logger)
        load(model)
    }

    /// Starts serving `model` (the routes answer 503 until this is called), and with reload_interval > 0 starts
    /// watching its checkpoint file.
    public func load(_ model: LoadedModel) {
        state.api = makeAPI(model, actor: nil, reloads: 0, startedAt: Date())
        watched.withLock { $0 = FileSignature(path: model.watchedFile) }
        if config.reloadInterval > 0 { startWatching(model.watchedFile) }
    }

    private func makeAPI(_ model: LoadedModel, actor: ModelActor?, reloads: Int, startedAt: Date) -> QuillAPI {
        QuillAPI(model: model, config: config, metrics: metrics, actor: actor, startedAt: startedAt, reloads: reloads,
                 reload: { [weak self] () async throws(APIError) -> ReloadOutcome in
                     guard let self else { throw .server("the server is shutting down") }
                     return try await self.reload()
                 })
    }

    /// Live reload: loads the configured checkpoint again and, when its SHA-256 differs, makes it the model of new
    /// requests. Requests in flight finish on the model they started with. A checkpoint that does not load leaves
    /// the current model serving and is a 500 `reload_failed` naming the problem.
    public func reload() async throws(APIError) -> ReloadOutcome {
        guard let current = state.api else { throw .overloaded("the model is still loading; retry shortly") }
        guard reloading.withLock({ busy in defer { busy = true }; return !busy }) else {
            throw APIError(status: 409, message: "a reload is already in progress", type: "invalid_request_error",
                           code: "reload_in_progress")
        }
        defer { reloading.withLock { $0 = false } }
        let config = self.config
        let signature = FileSignature(path: current.model.watchedFile)
        let workers = config.threads > 0 ? config.threads : ProcessInfo.processInfo.activeProcessorCount
        // Loading maps, checks and hashes the file: seconds of blocking work, so not on Swift's cooperative pool.
        let result: Result<LoadedModel, ServiceError> = await withCheckedContinuation { done in
            DispatchQueue.global().async {
                done.resume(returning: Result { () throws(ServiceError) -> LoadedModel in
                    try LoadedModel(path: config.checkpoint, name: config.modelName, workers: workers,
                                    precision: WeightPrecision(rawValue: config.weights) ?? .f32)
                })
            }
        }
        watched.withLock { $0 = signature }
        let next: LoadedModel
        switch result {
        case .success(let m): next = m
        case .failure(let e):
            metrics.reloaded(ok: false)
            logger?.warning("reload refused, still serving \(current.model.fileSHA256.prefix(12)): \(e.description)")
            throw APIError(status: 500, message: "the checkpoint did not load, and the previous model is still "
                + "serving: \(APIError.clip(e.description, bytes: 300))", type: "server_error", code: "reload_failed")
        }
        guard next.fileSHA256 != current.model.fileSHA256 else {
            return ReloadOutcome(reloaded: false, model: current.model, previousSHA256: current.model.fileSHA256)
        }
        await current.actor.use(next)
        state.api = makeAPI(next, actor: current.actor, reloads: current.reloads + 1, startedAt: current.startedAt)
        metrics.reloaded(ok: true)
        logger?.info("reloaded \(config.checkpoint): sha256 \(next.fileSHA256.prefix(12)) (was \(current.model.fileSHA256.prefix(12))), step \(next.training.steps)")
        return ReloadOutcome(reloaded: true, model: next, previousSHA256: current.model.fileSHA256)
    }

    /// Polls the checkpoint file every reload_interval seconds; a new version (another inode, size or modification
    /// time) that stays the same for one more poll is reloaded.
    private func startWatching(_ path: String) {
        let interval = config.reloadInterval
        let task = Task { [weak self] in
            var candidate: FileSignature? = nil
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                guard let self, !Task.isCancelled else { return }
                let now = FileSignature(path: path)
                guard let now, now != self.watched.withLock({ $0 }) else {
                    candidate = nil
                    continue
                }
                if candidate == now {
                    candidate = nil
                    _ = try? await self.reload()
                } else {
                    candidate = now  // still being written, perhaps: wait one more poll
                }
            }
        }
        watcher.withLock { $0 = task }
    }

    /// The API, once a model is loaded.
    public var api: QuillAPI? { state.api }

    /// Binds and starts serving: the plain listener, and the TLS one when tls_cert and tls_key are set (a
    /// certificate or key that does not load stops the start, naming the file).
    public func start() throws(ServiceError) {
        var tlsServer: HTTPServer? = nil
        if let cert = config.tlsCert, let key = config.tlsKey {
            var h = config.http
            h.port = config.tlsPort
            do { h.tls = try TLSContext(certificateChainFile: cert, privateKeyFile: key) } catch {
                throw .config("tls: \(error.description)")
            }
            tlsServer = HTTPServer(configuration: h, handler: handler, accessLog: accessLog)
        }
        do { try http.start() } catch { throw .config("cannot listen on \(config.host):\(config.port): \(error)") }
        if let tlsServer {
            do { try tlsServer.start() } catch {
                throw .config("cannot listen for TLS on \(config.host):\(config.tlsPort): \(error)")
            }
            https.withLock { $0 = tlsServer }
        }
    }

    public var port: Int { http.port }

    /// The TLS listener's port once started; nil without TLS.
    public var tlsPort: Int? { https.withLock { $0 }?.port }

    /// Stops accepting, lets in-flight requests finish for up to drain_seconds, then closes everything.
    public func shutdown() async {
        watcher.withLock { $0?.cancel() }
        let tlsServer = https.withLock { $0 }
        async let plain: Void = http.shutdown(gracePeriod: config.drainSeconds)
        if let tlsServer { await tlsServer.shutdown(gracePeriod: config.drainSeconds) }
        await plain
    }

    /// The answer while the model loads.
    static func loading(_ request: HTTPServerRequest) -> HTTPServerResponse {
        if request.path == "/health" {
            return QuillAPI.json(HealthAnswer(status: "loading"), status: .serviceUnavailable)
        }
        return QuillAPI.error(.overloaded("the model is still loading; retry shortly", retryAfter: 1))
    }
}

/// What a reload did: `reloaded` false when the file's SHA-256 was that of the model already serving.
public struct ReloadOutcome: Sendable {
    public var reloaded: Bool
    public var model: LoadedModel
    public var previousSHA256: String
}

/// What identifies one version of a file: its inode, size and modification time (a writer that renames a new file
/// into place changes the inode; one that rewrites it changes the size or time).
struct FileSignature: Equatable, Sendable {
    var inode: UInt64
    var size: Int64
    var mtimeNs: Int64

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        mtimeNs = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }
}

/// The API once loaded, read by every request.
final class APISlot: Sendable {
    private let value = Locked<QuillAPI?>(nil)
    var api: QuillAPI? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
