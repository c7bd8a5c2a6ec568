// JSONValue to Decodable types: the API's request bodies (and query strings) become Codable structs. Property
// names are read from snake-case keys (`maxTokens` ← "max_tokens"); integers are exact (a uint64 seed, and
// 2^63 - 1 never rounds up into a trap); a value of the wrong type is an error that names its JSON path
// (`messages[1].content`) and what it needed. With `textValues` (a query string, where everything is text),
// "5" reads as a number and "true", "1", "yes" or "" as true.

/// Why a value could not be read: its JSON path, what was needed, and what was there.
public struct JSONFieldError: Error, Sendable, CustomStringConvertible {
    /// `max_tokens`, `messages[1].content`, or "" for the whole body.
    public var path: String
    /// "a string", "an integer", …
    public var expected: String
    /// The JSON type that was there ("a number"), or "missing".
    public var got: String
    public var description: String { "\(path.isEmpty ? "the body" : path) must be \(expected), not \(got)" }

    public init(path: String, expected: String, got: String) {
        self.path = path
        self.expected = expected
        self.got = got
    }
}

extension JSONValue: Decodable {
    /// Inside a type JSONValueDecoder reads, the value as it was parsed (numbers keep their text).
    public init(from decoder: any Decoder) throws {
        if let d = decoder as? ValueDecoder {
            self = d.value
            return
        }
        if var a = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !a.isAtEnd { items.append(try a.decode(JSONValue.self)) }
            self = .array(items)
        } else if let o = try? decoder.container(keyedBy: AnyKey.self) {
            self = .object(try o.allKeys.map { ($0.stringValue, try o.decode(JSONValue.self, forKey: $0)) })
        } else {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let d = try? c.decode(Double.self) { self = .double(d) }
            else { self = .string(try c.decode(String.self)) }
        }
    }
}

public struct JSONValueDecoder {
    /// Every value is text (a query string): numbers and booleans are parsed from it.
    public var textValues = false

    public init(textValues: Bool = false) { self.textValues = textValues }

    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws(JSONFieldError) -> T {
        do {
            return try ValueDecoder(value: value, codingPath: [], textValues: textValues).decodeValue(T.self)
        } catch let e as JSONFieldError {
            throw e
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context) {
            throw JSONFieldError(path: Self.path(context.codingPath), expected: context.debugDescription, got: "valid")
        } catch let DecodingError.keyNotFound(key, context) {
            throw JSONFieldError(path: Self.path(context.codingPath + [key]), expected: "given", got: "missing")
        } catch {
            throw JSONFieldError(path: "", expected: "a valid request", got: "\(error)")
        }
    }

    /// `messages[1].content` from coding keys: names in snake case, indexes in brackets.
    public static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for k in keys {
            if let i = k.intValue {
                out += "[\(i)]"
            } else {
                out += (out.isEmpty ? "" : ".") + (k is AnyKey ? k.stringValue : snakeCase(k.stringValue))
            }
        }
        return out
    }
}

// MARK: - Implementation

struct IndexKey: CodingKey {
    var stringValue: String { String(index) }
    var intValue: Int? { index }
    let index: Int
    init(_ i: Int) { index = i }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { index = intValue }
}

/// Dictionaries with string keys read their keys as data (no snake case), e.g. logit_bias {"50256": -100}.
protocol StringKeyedDecodable {
    init(decoding pairs: [(String, JSONValue)], with decoder: ValueDecoder) throws
}

extension Dictionary: StringKeyedDecodable where Key == String, Value: Decodable {
    init(decoding pairs: [(String, JSONValue)], with decoder: ValueDecoder) throws {
        self.init()
        for (k, v) in pairs { self[k] = try decoder.child(v, AnyKey(k)).decodeValue(Value.self) }
    }
}

final class ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    let textValues: Bool
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(value: JSONValue, codingPath: [any CodingKey], textValues: Bool) {
        self.value = value
        self.codingPath = codingPath
        self.textValues = textValues
    }

    func child(_ v: JSONValue, _ key: any CodingKey) -> ValueDecoder {
        ValueDecoder(value: v, codingPath: codingPath + [key], textValues: textValues)
    }

    func mismatch(_ expected: String) -> JSONFieldError {
        JSONFieldError(path: JSONValueDecoder.path(codingPath), expected: expected, got: value.typeName)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let pairs) = value else { throw mismatch("an object") }
        return KeyedDecodingContainer(Keyed<Key>(decoder: self, pairs: pairs))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch("an array") }
        return Unkeyed(decoder: self, items: items)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { Single(decoder: self) }

    // MARK: Scalars

    private var number: JSONNumber? {
        switch value {
        case .number(let n): return n
        case .string(let s) where textValues:
            let t = s.trimmingCharacters(in: " \t")
            return !t.isEmpty && Double(t) != nil ? JSONNumber(text: t) : nil
        default: return nil
        }
    }

    func decodeInt<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        guard let n = number else { throw mismatch("an integer") }
        if let exact = T(n.text) { return exact }
        // 4e3 and 10.0 are integers too; Int(exactly:) and not Int(_:), which traps near Int.max.
        let d = n.double
        guard d.isFinite, d == d.rounded(), let v = T(exactly: d) else {
            throw JSONFieldError(path: JSONValueDecoder.path(codingPath),
                                 expected: "an integer between \(T.min) and \(T.max)", got: n.text)
        }
        return v
    }

    func decodeDouble() throws -> Double {
        guard let n = number else { throw mismatch("a number") }
        return n.double
    }

    func decodeBool() throws -> Bool {
        switch value {
        case .bool(let b): return b
        case .string(let s) where textValues:
            switch s.lowercased() {
            case "true", "1", "yes", "": return true
            case "false", "0", "no": return false
            default: throw mismatch("true or false")
            }
        default: throw mismatch("a boolean")
        }
    }

    func decodeString() throws -> String {
        guard case .string(let s) = value else { throw mismatch("a string") }
        return s
    }

    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is JSONValue.Type: return value as! T
        case is String.Type: return try decodeString() as! T
        case is Bool.Type: return try decodeBool() as! T
        case is Int.Type: return try decodeInt(Int.self) as! T
        case is Int32.Type: return try decodeInt(Int32.self) as! T
        case is Int64.Type: return try decodeInt(Int64.self) as! T
        case is UInt64.Type: return try decodeInt(UInt64.self) as! T
        case is UInt32.Type: return try decodeInt(UInt32.self) as! T
        case is Double.Type: return try decodeDouble() as! T
        case is Float.Type: return Float(try decodeDouble()) as! T
        // Every other integer type: its own init(from:) would call back into the single-value container.
        case let i as any FixedWidthInteger.Type: return try decodeInt(i) as! T
        case let d as StringKeyedDecodable.Type:
            guard case .object(let pairs) = value else { throw mismatch("an object") }
            return try d.init(decoding: pairs, with: self) as! T
        default: return try T(from: self)
        }
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let decoder: ValueDecoder
        /// The last value of each key (a repeated key: the last wins, as JSONValue's subscript).
        let values: [String: JSONValue]
        let order: [String]

        init(decoder: ValueDecoder, pairs: [(String, JSONValue)]) {
            self.decoder = decoder
            var v: [String: JSONValue] = [:]
            var o: [String] = []
            for (k, x) in pairs {
                if v[k] == nil { o.append(k) }
                v[k] = x
            }
            values = v
            order = o
        }

        var codingPath: [any CodingKey] { decoder.codingPath }
        var allKeys: [Key] { order.compactMap { Key(stringValue: $0) } }
        func name(_ key: Key) -> String { key is AnyKey ? key.stringValue : snakeCase(key.stringValue) }
        func contains(_ key: Key) -> Bool { values[name(key)] != nil }

        func get(_ key: Key) throws -> ValueDecoder {
            guard let v = values[name(key)] else {
                throw JSONFieldError(path: JSONValueDecoder.path(codingPath + [key]), expected: "given", got: "missing")
            }
            return decoder.child(v, key)
        }

        func decodeNil(forKey key: Key) throws -> Bool { (values[name(key)] ?? .null) == .null }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try get(key).decodeValue(T.self) }
        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey> { try get(key).container(keyedBy: type) }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try get(key).unkeyedContainer()
        }
        func superDecoder() throws -> any Decoder { decoder }
        func superDecoder(forKey key: Key) throws -> any Decoder { try get(key) }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let decoder: ValueDecoder
        let items: [JSONValue]
        var currentIndex = 0

        init(decoder: ValueDecoder, items: [JSONValue]) {
            self.decoder = decoder
            self.items = items
        }

        var codingPath: [any CodingKey] { decoder.codingPath }
        var count: Int? { items.count }
        var isAtEnd: Bool { currentIndex >= items.count }

        mutating func next() throws -> ValueDecoder {
            guard !isAtEnd else {
                throw JSONFieldError(path: JSONValueDecoder.path(codingPath + [IndexKey(currentIndex)]),
                                     expected: "given", got: "missing")
            }
            defer { currentIndex += 1 }
            return decoder.child(items[currentIndex], IndexKey(currentIndex))
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, items[currentIndex] == .null else { return false }
            currentIndex += 1
            return true
        }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeValue(T.self) }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
            -> KeyedDecodingContainer<NestedKey> { try next().container(keyedBy: type) }
        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
        mutating func superDecoder() throws -> any Decoder { try next() }
    }

    struct Single: SingleValueDecodingContainer {
        let decoder: ValueDecoder
        var codingPath: [any CodingKey] { decoder.codingPath }
        func decodeNil() -> Bool { decoder.value == .null }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(T.self) }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
