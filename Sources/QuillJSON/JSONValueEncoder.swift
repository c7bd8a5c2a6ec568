// Encodable types to JSONValue: the API's responses and streamed events are Codable structs, and this writes them
// with keys in declaration order (the synthesized encode's order), property names in snake_case
// (`finishReason` → "finish_reason"), integers exact, and numbers as JSONValue writes them. A nil Optional is
// left out, as synthesized code asks; a field that must be present as null is a `Nullable`.

/// A value that is written as null when nil, where a plain Optional would be left out (OpenAI's
/// `"finish_reason": null` in every chunk but the last).
public struct Nullable<Wrapped: Encodable & Sendable>: Encodable, Sendable, ExpressibleByNilLiteral {
    public var value: Wrapped?
    public init(_ value: Wrapped?) { self.value = value }
    public init(nilLiteral: ()) { value = nil }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let value { try c.encode(value) } else { try c.encodeNil() }
    }
}

/// An object whose keys are data (a token's alternatives, piece → log-probability), in the order given.
public struct OrderedFields<Value: Encodable & Sendable>: Encodable, Sendable {
    public var pairs: [(String, Value)]
    public init(_ pairs: [(String, Value)]) { self.pairs = pairs }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        for (k, v) in pairs { try c.encode(v, forKey: AnyKey(k)) }
    }
}

extension JSONValue: Encodable {
    /// A JSONValue inside an Encodable type is written as it is (JSONValueEncoder keeps its numbers' text).
    public func encode(to encoder: any Encoder) throws {
        if let e = encoder as? ValueEncoder {
            e.node.set(self)
            return
        }
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n.double)
        case .string(let s): try c.encode(s)
        case .array(let items): try c.encode(items)
        case .object(let pairs):
            var k = encoder.container(keyedBy: AnyKey.self)
            for (key, v) in pairs { try k.encode(v, forKey: AnyKey(key)) }
        }
    }
}

public struct JSONValueEncoder {
    public init() {}

    /// The JSON form of `value`. The encoders of plain data types do not fail; one that throws gives null.
    public func encode<T: Encodable>(_ value: T) -> JSONValue {
        let root = Node()
        do { try ValueEncoder(node: root, codingPath: []).encodeValue(value) } catch { return .null }
        return root.json
    }
}

extension JSONValue {
    /// `value` encoded (JSONValueEncoder).
    public init<T: Encodable>(encoding value: T) { self = JSONValueEncoder().encode(value) }
}

// MARK: - Implementation

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { stringValue = String(intValue) }
}

/// "finishReason" → "finish_reason"; "topLogprobs" → "top_logprobs"; a name in snake case stays as it is.
func snakeCase(_ name: String) -> String {
    var out = ""
    out.reserveCapacity(name.count + 4)
    for ch in name {
        if ch.isUppercase {
            if !out.isEmpty { out.append("_") }
            out.append(contentsOf: ch.lowercased())
        } else {
            out.append(ch)
        }
    }
    return out
}

/// A value under construction: set once, or an object or array that grows in order.
final class Node {
    private enum Kind {
        case unset
        case value(JSONValue)
        case object([(String, Node)])
        case array([Node])
    }
    private var kind = Kind.unset

    func set(_ v: JSONValue) { kind = .value(v) }

    func child(_ key: String) -> Node {
        var pairs: [(String, Node)] = []
        if case .object(let p) = kind { pairs = p }
        if let existing = pairs.first(where: { $0.0 == key }) { return existing.1 }
        let n = Node()
        pairs.append((key, n))
        kind = .object(pairs)
        return n
    }

    func makeObject() { if case .object = kind { return }; kind = .object([]) }
    func makeArray() { if case .array = kind { return }; kind = .array([]) }

    func append() -> Node {
        var items: [Node] = []
        if case .array(let a) = kind { items = a }
        let n = Node()
        items.append(n)
        kind = .array(items)
        return n
    }

    var count: Int {
        switch kind {
        case .array(let a): a.count
        case .object(let o): o.count
        default: 0
        }
    }

    var json: JSONValue {
        switch kind {
        case .unset: .null
        case .value(let v): v
        case .object(let pairs): .object(pairs.map { ($0.0, $0.1.json) })
        case .array(let items): .array(items.map(\.json))
        }
    }
}

final class ValueEncoder: Encoder {
    let node: Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(node: Node, codingPath: [any CodingKey]) {
        self.node = node
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(Keyed<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.makeArray()
        return Unkeyed(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { Single(encoder: self) }

    /// Scalars straight to JSONValue (exact integers, JSONValue's number text); the rest through their encode.
    func encodeValue<T: Encodable>(_ value: T) throws {
        switch value {
        case let v as JSONValue: node.set(v)
        case let v as String: node.set(.string(v))
        case let v as Bool: node.set(.bool(v))
        case let v as Int: node.set(.int(v))
        // Every other integer type: their own encode(to:) would call back into the single-value container.
        case let v as any BinaryInteger: node.set(.number(JSONNumber(text: "\(v)")))
        case let v as Float: node.set(.float(v))
        case let v as Double: node.set(.double(v))
        default: try value.encode(to: self)
        }
    }

    func nested(_ key: any CodingKey, _ n: Node) -> ValueEncoder {
        ValueEncoder(node: n, codingPath: codingPath + [key])
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }
        /// Property names in snake case; the keys of an `OrderedFields` or a dictionary are data and stay as given.
        func name(_ key: Key) -> String {
            key is AnyKey || String(describing: Key.self).contains("Dictionary") ? key.stringValue : snakeCase(key.stringValue)
        }

        mutating func encodeNil(forKey key: Key) throws { encoder.node.child(name(key)).set(.null) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try encoder.nested(key, encoder.node.child(name(key))).encodeValue(value)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
            -> KeyedEncodingContainer<NestedKey> {
            encoder.nested(key, encoder.node.child(name(key))).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            encoder.nested(key, encoder.node.child(name(key))).unkeyedContainer()
        }
        mutating func superEncoder() -> any Encoder { encoder.nested(AnyKey("super"), encoder.node.child("super")) }
        mutating func superEncoder(forKey key: Key) -> any Encoder { encoder.nested(key, encoder.node.child(name(key))) }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }
        var count: Int { encoder.node.count }
        private func next() -> ValueEncoder { encoder.nested(AnyKey("\(count)"), encoder.node.append()) }

        mutating func encodeNil() throws { next().node.set(.null) }
        mutating func encode<T: Encodable>(_ value: T) throws { try next().encodeValue(value) }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
            -> KeyedEncodingContainer<NestedKey> { next().container(keyedBy: keyType) }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { next().unkeyedContainer() }
        mutating func superEncoder() -> any Encoder { next() }
    }

    struct Single: SingleValueEncodingContainer {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }
        mutating func encodeNil() throws { encoder.node.set(.null) }
        mutating func encode<T: Encodable>(_ value: T) throws { try encoder.encodeValue(value) }
    }
}
