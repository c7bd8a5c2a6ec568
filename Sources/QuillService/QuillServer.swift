// A running Quill server: the API on top of the HTTP layer, with one access-log line and the metrics of every
// request. quill-server and the service tests both start it this way.
import Foundation
import Logging
import QuillHTTP

public final class QuillServer: Sendable {
    public let api: QuillAPI
    public let http: HTTPServer
    public let config: ServerConfig

    public init(config: ServerConfig, model: LoadedModel, logger: Logger? = nil) {
        self.config = config
        let api = QuillAPI(model: model, config: config)
        self.api = api
        let metrics = api.metrics
        self.http = HTTPServer(configuration: config.http, handler: { request in await api.handle(request) },
                               accessLog: { entry in
            let path = entry.target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? entry.target
            metrics.request(route: path, status: entry.status, seconds: entry.durationSeconds)
            logger?.info("\(entry.method) \(APIError.clip(entry.target, bytes: 200)) \(entry.status) \(entry.bytesSent)B \(String(format: "%.1f", entry.durationSeconds * 1000))ms \(entry.remoteAddress)")
        })
    }

    /// Binds and starts serving.
    public func start() throws(ServiceError) {
        do { try http.start() } catch { throw .config("cannot listen on \(config.host):\(config.port): \(error)") }
    }

    public var port: Int { http.port }

    /// Stops accepting, lets in-flight requests finish for up to drain_seconds, then closes everything.
    public func shutdown() async {
        await http.shutdown(gracePeriod: config.drainSeconds)
    }
}
