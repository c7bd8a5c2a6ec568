// A running Quill server: the API on top of the HTTP layer, with one access-log line and the metrics of every
// request. The port opens before the model is loaded: until then /health answers 503 {"status":"loading"} and
// every other route 503 with Retry-After. quill-server and the service tests both start it this way.
import Foundation
import HTTPTypes
import Logging
import QuillHTTP
import Synchronization

public final class QuillServer: Sendable {
    public let http: HTTPServer
    public let config: ServerConfig
    public let metrics: ServiceMetrics
    private let state: APISlot

    /// A server with no model yet: call `start()`, then `load(_:)`.
    public init(config: ServerConfig, logger: Logger? = nil) {
        self.config = config
        let metrics = ServiceMetrics()
        self.metrics = metrics
        let state = APISlot()
        self.state = state
        self.http = HTTPServer(configuration: config.http, handler: { request in
            if let api = state.api { return await api.handle(request) }
            return QuillServer.loading(request)
        }, accessLog: { entry in
            let path = entry.target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? entry.target
            metrics.request(route: path, status: entry.status, seconds: entry.durationSeconds)
            let line = "\(entry.method) \(APIError.clip(entry.target, bytes: 200)) \(entry.status) \(entry.bytesSent)B \(String(format: "%.1f", entry.durationSeconds * 1000))ms \(entry.remoteAddress)"
            if let cut = entry.cut {
                logger?.warning("\(line) incomplete: \(cut)")
            } else {
                logger?.info("\(line)")
            }
        })
    }

    /// A server that serves `model` from the start.
    public convenience init(config: ServerConfig, model: LoadedModel, logger: Logger? = nil) {
        self.init(config: config, logger: logger)
        load(model)
    }

    /// Starts serving `model` (the routes answer 503 until this is called).
    public func load(_ model: LoadedModel) {
        let api = QuillAPI(model: model, config: config, metrics: metrics)
        state.api = api
    }

    /// The API, once a model is loaded.
    public var api: QuillAPI? { state.api }

    /// Binds and starts serving.
    public func start() throws(ServiceError) {
        do { try http.start() } catch { throw .config("cannot listen on \(config.host):\(config.port): \(error)") }
    }

    public var port: Int { http.port }

    /// Stops accepting, lets in-flight requests finish for up to drain_seconds, then closes everything.
    public func shutdown() async {
        await http.shutdown(gracePeriod: config.drainSeconds)
    }

    /// The answer while the model loads.
    static func loading(_ request: HTTPServerRequest) -> HTTPServerResponse {
        if request.path == "/health" {
            return QuillAPI.json(.object([("status", .string("loading"))]), status: .serviceUnavailable)
        }
        return QuillAPI.error(.overloaded("the model is still loading; retry shortly", retryAfter: 1))
    }
}

/// The API once loaded, read by every request.
final class APISlot: Sendable {
    private let value = Mutex<QuillAPI?>(nil)
    var api: QuillAPI? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
