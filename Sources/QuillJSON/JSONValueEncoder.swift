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

/// "finishReason" → "finish_reason"; "topLogprobs" → "top_logprobs"; a name in snake case stays as it is (and
/// costs one pass over its bytes: every key of every streamed event comes through here).
func snakeCase(_ name: String) -> String {
    guard name.utf8.contains(where: { $0 >= 65 && $0 <= 90 }) else { return name }
    var out: [UInt8] = []
    out.reserveCapacity(name.utf8.count + 4)
    for b in name.utf8 {
        if b >= 65 && b <= 90 {
            if !out.isEmpty { out.append(UInt8(ascii: "_")) }
            out.append(b + 32)
        } else {
            out.append(b)
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Dictionaries with string keys: their keys are data, written as given, in sorted order (a dictionary has none
/// of its own; OrderedFields keeps one).
protocol StringKeyedDictionary {
    var sortedPairs: [(String, any Encodable)] { get }
}

extension Dictionary: StringKeyedDictionary where Key == String, Value: Encodable {
    var sortedPairs: [(String, any Encodable)] { keys.sorted().map { ($0, self[$0]!) } }
}

/// A value under construction: set once, or an object or array that grows in order. Children live in the node's
/// own arrays, so appending never copies them.
final class Node {
    private enum Kind { case unset, value, object, array }
    private var kind = Kind.unset
    private var value = JSONValue.null
    private var keys: [String] = []
    private var children: [Node] = []

    func set(_ v: JSONValue) {
        kind = .value
        value = v
    }

    /// A new member of this object (synthesized encoders write each key once).
    func child(_ key: String) -> Node {
        makeObject()
        let n = Node()
        keys.append(key)
        children.append(n)
        return n
    }

    func makeObject() { if kind != .object { kind = .object; keys = []; children = [] } }
    func makeArray() { if kind != .array { kind = .array; keys = []; children = [] } }

    func append() -> Node {
        makeArray()
        let n = Node()
        children.append(n)
        return n
    }

    var count: Int { children.count }

    var json: JSONValue {
        switch kind {
        case .unset: .null
        case .value: value
        case .object: .object(zip(keys, children).map { ($0, $1.json) })
        case .array: .array(children.map(\.json))
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
        // Arrays of scalars at once (token ids, pieces, offsets: /tokenize lists up to 32768 of each).
        case let a as [Int]: node.set(.array(a.map { .int($0) }))
        case let a as [Int32]: node.set(.array(a.map { .int($0) }))
        case let a as [String]: node.set(.array(a.map { .string($0) }))
        case let a as [Float]: node.set(.array(a.map { .float($0) }))
        // Every other integer type: their own encode(to:) would call back into the single-value container.
        case let v as any BinaryInteger: node.set(.number(JSONNumber(text: "\(v)")))
        case let v as Float: node.set(.float(v))
        case let v as Double: node.set(.double(v))
        case let d as any StringKeyedDictionary:
            node.makeObject()
            for (k, v) in d.sortedPairs { try nested(AnyKey(k), node.child(k)).encodeValue(v) }
        default: try value.encode(to: self)
        }
    }

    func nested(_ key: any CodingKey, _ n: Node) -> ValueEncoder {
        ValueEncoder(node: n, codingPath: codingPath + [key])
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }
        /// Property names in snake case; the keys of an `OrderedFields` or a dictionary (AnyKey) stay as given.
        func name(_ key: Key) -> String { key is AnyKey ? key.stringValue : snakeCase(key.stringValue) }

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
