// GET /: the playground, and the files it loads. The page lives in Resources/ as HTML, CSS, JS and two icons;
// SwiftPM compiles them into the binary (Package.swift's embedInCode), so the server needs no files beside it.

enum Playground {
    struct Asset: Sendable {
        let contentType: String
        let bytes: [UInt8]
    }

    /// Every path the playground is made of, each with its body. `/` is the page with the model's name in it.
    static let assets: [String: Asset] = [
        "/playground.css": Asset(contentType: "text/css; charset=utf-8", bytes: PackageResources.playground_css),
        "/playground.js": Asset(contentType: "text/javascript; charset=utf-8", bytes: PackageResources.playground_js),
        "/favicon.svg": Asset(contentType: "image/svg+xml", bytes: PackageResources.favicon_svg),
        "/favicon.ico": Asset(contentType: "image/x-icon", bytes: PackageResources.favicon_ico),
    ]

    /// The page may load only what this server serves: a browser refuses any other origin, inline script or
    /// inline style, so the page cannot make a request beyond the server even by mistake.
    static let contentSecurityPolicy =
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func html(modelName: String) -> [UInt8] {
        let escaped = modelName.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        return Array(String(decoding: PackageResources.playground_html, as: UTF8.self)
            .replacingOccurrences(of: "{{MODEL}}", with: escaped).utf8)
    }
}
