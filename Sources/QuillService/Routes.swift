// The route table: every route of API.md in one place, with its method, path, access and handler. 404, 405 with
// `Allow`, the API key's exemptions and the metrics' route labels all come from it. To add a route, add a row.
import HTTPTypes
import QuillHTTP

struct Route: Sendable {
    enum Access: Sendable {
        /// Needs `Authorization: Bearer KEY` when the server has keys.
        case key
        /// Open to all: the health check, and the playground's page and files (the page asks for the key and
        /// sends it with its own calls).
        case open
    }
    typealias Handler = @Sendable (QuillAPI, HTTPServerRequest, _ parameter: String?) async throws(APIError)
        -> HTTPServerResponse

    let method: HTTPRequest.Method
    /// An exact path, or a prefix and `{id}` (`/v1/models/{id}`): the rest of the request's path is the parameter.
    let path: String
    let access: Access
    let handle: Handler

    init(_ method: HTTPRequest.Method, _ path: String, _ access: Access = .key, _ handle: @escaping Handler) {
        self.method = method
        self.path = path
        self.access = access
        self.handle = handle
    }

    static let table: [Route] = [
        Route(.get, "/", .open) { api, _, _ in QuillAPI.page(Playground.html(modelName: api.model.name)) },
        Route(.get, "/health", .open) { _, _, _ in QuillAPI.json(HealthAnswer(status: "ok")) },
        Route(.get, "/info") { api, _, _ in QuillAPI.json(await api.info()) },
        Route(.get, "/metrics") { api, _, _ in
            HTTPServerResponse(status: .ok, headerFields: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                               body: .bytes(api.metrics.exposition()))
        },
        Route(.get, "/openapi.yaml") { api, _, _ throws(APIError) in
            guard let doc = api.openAPIDocument else {
                throw .notFound("the OpenAPI document is not installed (\(api.config.openapi))")
            }
            return HTTPServerResponse(status: .ok, headerFields: [.contentType: "application/yaml; charset=utf-8"],
                                      body: .bytes(doc))
        },
        Route(.get, "/v1/models") { api, _, _ in QuillAPI.json(OpenAI.models(api)) },
        Route(.get, "/v1/models/{id}") { api, _, id throws(APIError) in
            guard id == api.model.name else { throw OpenAI.unknownModel(id ?? "") }
            return QuillAPI.json(OpenAI.modelObject(api))
        },
        Route(.post, "/complete") { api, request, _ throws(APIError) in try await api.complete(request) },
        Route(.post, "/tokenize") { api, request, _ throws(APIError) in try api.tokenize(request) },
        Route(.post, "/detokenize") { api, request, _ throws(APIError) in try api.detokenize(request) },
        Route(.post, "/attention") { api, request, _ throws(APIError) in try await api.attention(request) },
        Route(.post, "/v1/completions") { api, request, _ throws(APIError) in try await OpenAI.completions(api, request) },
        Route(.post, "/v1/chat/completions") { api, request, _ throws(APIError) in
            try await Chat.completions(api, request)
        },
        Route(.post, "/apply-template") { api, request, _ throws(APIError) in try Chat.applyTemplate(api, request) },
        Route(.post, "/admin/reload") { api, _, _ throws(APIError) in
            guard let reload = api.reload else { throw .notFound("this server cannot reload its model") }
            let outcome = try await reload()
            return QuillAPI.json(ReloadAnswer(reloaded: outcome.reloaded, checkpoint: outcome.model.path,
                                              sha256: outcome.model.fileSHA256, previousSha256: outcome.previousSHA256,
                                              step: outcome.model.training.steps))
        },
    ] + Playground.assets.keys.sorted().map { path in
        Route(.get, path, .open) { _, _, _ in
            let asset = Playground.assets[path]!
            return HTTPServerResponse(status: .ok, headerFields: [.contentType: asset.contentType,
                                                                  .cacheControl: "no-cache",
                                                                  HTTPField.Name("X-Content-Type-Options")!: "nosniff"],
                                      body: .bytes(asset.bytes))
        }
    }

    /// The routes of each path (pattern), in table order.
    static let byPath: [String: [Route]] = Dictionary(grouping: table, by: \.path)

    /// Every path of the table, in table order, once each.
    static let paths: [String] = {
        var seen = Set<String>()
        return table.map(\.path).filter { seen.insert($0).inserted }
    }()

    /// The table's path that `path` is (exactly, or by a `{id}` pattern), and the parameter; nil: no route.
    static func match(_ path: String) -> (pattern: String, parameter: String?)? {
        if byPath[path] != nil { return (path, nil) }
        for pattern in paths where pattern.hasSuffix("/{id}") {
            let prefix = pattern.dropLast("{id}".count)
            if path.hasPrefix(prefix), path.count > prefix.count { return (pattern, String(path.dropFirst(prefix.count))) }
        }
        return nil
    }
}

extension QuillAPI {
    /// The route table's paths, in its order (`/v1/models/{id}` as a pattern).
    public static var routePaths: [String] { Route.paths }
    /// The methods the table gives `path`, in its order.
    public static func routeMethods(_ path: String) -> [String] { (Route.byPath[path] ?? []).map(\.method.rawValue) }
    /// Whether `method path` needs the API key when the server has keys.
    public static func routeNeedsKey(_ path: String, method: String) -> Bool {
        Route.byPath[path]?.first { $0.method.rawValue == method }?.access == .key
    }
}
