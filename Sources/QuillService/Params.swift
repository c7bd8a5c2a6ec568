// A request's fields as they arrived: a JSON object, or a query string (where every value is text), or both merged
// (the body wins). Routes read them as their Decodable request type (`decode`, Requests.swift).

import QuillJSON

/// The fields of one request.
public struct Params: Sendable {
    /// The JSON object, or the query items as strings.
    let values: [String: JSONValue]
    /// Values came from the query string: "5" is an int, "true" a bool, "a,b" is not split.
    let fromQuery: Bool

    public init(json: JSONValue) throws(APIError) {
        guard case .object(let pairs) = json else {
            throw APIError.invalid("the request body must be a JSON object, not \(json.typeName)", code: "invalid_json")
        }
        var v: [String: JSONValue] = [:]
        for (k, x) in pairs { v[k] = x }
        values = v
        fromQuery = false
    }

    public init(query: String?) {
        var v: [String: JSONValue] = [:]
        for item in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = Params.percentDecode(String(kv[0]))
            let value = kv.count > 1 ? Params.percentDecode(String(kv[1])) : ""
            if key == "stop", case .array(let existing)? = v[key] {
                v[key] = .array(existing + [.string(value)])
            } else if key == "stop" {
                v[key] = .array([.string(value)])
            } else {
                v[key] = .string(value)
            }
        }
        values = v
        fromQuery = true
    }

    /// A query string merged under a JSON body's fields (the body wins): `?stream=true` with a JSON body works.
    func merging(_ other: Params) -> Params {
        var v = other.values
        for (k, x) in values { v[k] = x }
        return Params(values: v, fromQuery: fromQuery)
    }

    private init(values: [String: JSONValue], fromQuery: Bool) {
        self.values = values
        self.fromQuery = fromQuery
    }

    static func percentDecode(_ s: String) -> String {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "+") { bytes.append(0x20); continue }
            if b == UInt8(ascii: "%"), it.count >= 2,
               let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                it = it.dropFirst(2)
                continue
            }
            bytes.append(b)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

