// Request fields with the checks of API.md: from a JSON object, or from a query string (where every value is
// text and is converted to the field's type). A field of the wrong type or outside its range is a 400 that
// names it and its allowed range.

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

    public func has(_ name: String) -> Bool {
        if let v = values[name], v != .null { return true }
        return false
    }

    public subscript(name: String) -> JSONValue? { values[name] }

    // MARK: Typed accessors

    public func string(_ name: String) throws(APIError) -> String? {
        guard let v = values[name], v != .null else { return nil }
        guard case .string(let s) = v else { throw .wrongType(name, expected: "a string", got: v) }
        return s
    }

    public func bool(_ name: String, default d: Bool) throws(APIError) -> Bool {
        guard let v = values[name], v != .null else { return d }
        switch v {
        case .bool(let b): return b
        case .string(let s) where fromQuery:
            switch s.lowercased() {
            case "true", "1", "yes", "": return true
            case "false", "0", "no": return false
            default: throw .invalid("\(name) must be true or false", param: name, code: "invalid_type")
            }
        default: throw .wrongType(name, expected: "a boolean", got: v)
        }
    }

    private func number(_ name: String) throws(APIError) -> JSONNumber? {
        guard let v = values[name], v != .null else { return nil }
        switch v {
        case .number(let n): return n
        case .string(let s) where fromQuery:
            let t = s.trimmingSpaces
            guard !t.isEmpty, Double(t) != nil else {
                throw .invalid("\(name) must be a number", param: name, code: "invalid_type")
            }
            return JSONNumber(text: t)
        default: throw .wrongType(name, expected: "a number", got: v)
        }
    }

    public func int(_ name: String, default d: Int, in range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let n = try number(name) else { return d }
        guard n.isIntegral else { throw .invalid("\(name) must be an integer", param: name, code: "invalid_type") }
        // Int(exactly:) and not Int(_:): near Int.max a double rounds up to 2^63, which passes a <= test against
        // Double(Int.max) and then traps in the conversion (a request once took the server down that way).
        guard let x = n.int64.map({ Int($0) }) ?? Int(exactly: n.double), range.contains(x) else {
            throw .invalid("\(name) must be between \(range.lowerBound) and \(range.upperBound)", param: name)
        }
        return x
    }

    public func double(_ name: String, default d: Double, check: (Double) -> Bool, range: String)
        throws(APIError) -> Double {
        guard let n = try number(name) else { return d }
        let x = n.double
        guard x.isFinite, check(x) else { throw .invalid("\(name) must be \(range)", param: name) }
        return x
    }

    /// A uint64 (seeds): exact, from an integer literal 0 … 2^64-1.
    public func uint64(_ name: String) throws(APIError) -> UInt64? {
        guard let n = try number(name) else { return nil }
        if let u = n.uint64 { return u }
        if n.isIntegral, n.double >= 0, n.double < 18446744073709551616.0 { return UInt64(n.double) }
        throw .invalid("\(name) must be an integer between 0 and 18446744073709551615", param: name)
    }

    /// A string or an array of strings (`stop`, `prompt`).
    public func strings(_ name: String) throws(APIError) -> [String]? {
        guard let v = values[name], v != .null else { return nil }
        switch v {
        case .string(let s): return [s]
        case .array(let items):
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item else {
                    throw .invalid("\(name) must be a string or an array of strings", param: name, code: "invalid_type")
                }
                out.append(s)
            }
            return out
        default:
            throw .wrongType(name, expected: "a string or an array of strings", got: v)
        }
    }

    /// An array of integers (`tokens`).
    public func ints(_ name: String) throws(APIError) -> [Int]? {
        guard let v = values[name], v != .null else { return nil }
        guard case .array(let items) = v else { throw .wrongType(name, expected: "an array of integers", got: v) }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard case .number(let n) = item, n.isIntegral, abs(n.double) < 9e15 else {
                throw .invalid("\(name) must be an array of integers", param: name, code: "invalid_type")
            }
            out.append(Int(n.double))
        }
        return out
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

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
