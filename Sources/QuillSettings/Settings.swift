// One declaration per setting (key, type, default, help), for quill-server and quill-train alike. A table of them
// gives the file keys and their strict decoding, the QUILL_* environment variables, the command-line flags, the
// help text and the README's table; nothing else spells a setting's name.
//
//     static let table = SettingsTable(ServerConfig(), environmentPrefix: "QUILL_", [
//         Setting("port", \.port, "Port (0 picks a free one)."),
//     ])
import Foundation

// MARK: - Values

/// A type a setting can hold: read from JSON (Codable) and from a flag's or a variable's text.
public protocol SettingValue: Codable, Sendable {
    /// Parses the text of a flag or an environment variable; nil when it does not parse.
    init?(settingText: String)
    /// The value as help and docs show it.
    var settingText: String { get }
    /// The type's name in messages: "integer", "number", "boolean", "string", "list".
    static var settingTypeName: String { get }
    /// True for an unset optional, which files and checkpoints leave out.
    var isUnset: Bool { get }
}

extension SettingValue {
    public var isUnset: Bool { false }
}

extension Int: SettingValue {
    public init?(settingText t: String) { self.init(t.trimmingCharacters(in: .whitespaces)) }
    public var settingText: String { String(self) }
    public static var settingTypeName: String { "integer" }
}

extension UInt64: SettingValue {
    public init?(settingText t: String) { self.init(t.trimmingCharacters(in: .whitespaces)) }
    public var settingText: String { String(self) }
    public static var settingTypeName: String { "integer" }
}

/// Whole numbers print without a fraction ("10", not "10.0").
private func numberText(_ v: Double) -> String {
    v.rounded() == v && abs(v) < 1e15 ? String(Int(v)) : String(v)
}

extension Double: SettingValue {
    public init?(settingText t: String) {
        guard let v = Double(t.trimmingCharacters(in: .whitespaces)), v.isFinite else { return nil }
        self = v
    }
    public var settingText: String { numberText(self) }
    public static var settingTypeName: String { "number" }
}

extension Float: SettingValue {
    public init?(settingText t: String) {
        guard let v = Float(t.trimmingCharacters(in: .whitespaces)), v.isFinite else { return nil }
        self = v
    }
    public var settingText: String { rounded() == self && abs(self) < 1e7 ? String(Int(self)) : String(self) }
    public static var settingTypeName: String { "number" }
}

extension Bool: SettingValue {
    public init?(settingText t: String) {
        switch t.trimmingCharacters(in: .whitespaces) {
        case "true": self = true
        case "false": self = false
        default: return nil
        }
    }
    public var settingText: String { self ? "true" : "false" }
    public static var settingTypeName: String { "boolean" }
}

extension String: SettingValue {
    public init?(settingText t: String) { self = t }
    public var settingText: String { self }
    public static var settingTypeName: String { "string" }
}

/// Lists: comma-separated in flags and variables, spaces around the commas dropped, empty entries skipped.
extension Array: SettingValue where Element == String {
    public init?(settingText t: String) {
        self = t.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
    public var settingText: String { joined(separator: ",") }
    public static var settingTypeName: String { "list" }
}

/// Optional settings: an empty flag or variable unsets them; unset, they are left out of files.
extension Optional: SettingValue where Wrapped: SettingValue {
    public init?(settingText t: String) {
        if t.isEmpty { self = .none; return }
        guard let w = Wrapped(settingText: t) else { return nil }
        self = .some(w)
    }
    public var settingText: String { self?.settingText ?? "" }
    public static var settingTypeName: String { Wrapped.settingTypeName }
    public var isUnset: Bool { self == nil }
}

/// Enumerations of named values (their raw values) are settings as they are.
extension SettingValue where Self: RawRepresentable, RawValue == String {
    public init?(settingText t: String) { self.init(rawValue: t.trimmingCharacters(in: .whitespaces)) }
    public var settingText: String { rawValue }
    public static var settingTypeName: String { "string" }
}

// MARK: - One setting

/// A JSON key (settings files nest one level: "tokenizer.kind" is {"tokenizer": {"kind": …}}).
public struct SettingKey: CodingKey, Hashable {
    public let stringValue: String
    public init(_ s: String) { stringValue = s }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public var intValue: Int? { nil }
    public init?(intValue: Int) { nil }
}

/// A settings file, flag or variable that cannot be applied; the message names it.
public struct SettingsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One setting of a `Root` configuration: its file key, the property it sets, and its help.
public struct Setting<Root>: @unchecked Sendable {  // immutable; its closures capture only key paths
    /// The file key, snake_case; "group.name" for a key nested one level in files.
    public let key: String
    /// One sentence or two: what it does, for help and the README.
    public let help: String
    public let typeName: String
    let text: (Root) -> String
    let unset: (Root) -> Bool
    let parse: (inout Root, String) -> Bool
    let decode: (inout Root, KeyedDecodingContainer<SettingKey>, SettingKey) throws -> Void
    let encode: (Root, inout KeyedEncodingContainer<SettingKey>, SettingKey) throws -> Void

    public init<V: SettingValue>(_ key: String, _ path: WritableKeyPath<Root, V>, _ help: String) {
        self.key = key
        self.help = help
        typeName = V.settingTypeName
        text = { $0[keyPath: path].settingText }
        unset = { $0[keyPath: path].isUnset }
        parse = { root, t in
            guard let v = V(settingText: t) else { return false }
            root[keyPath: path] = v
            return true
        }
        decode = { root, c, k in
            if let v = try c.decodeIfPresent(V.self, forKey: k) { root[keyPath: path] = v }
        }
        encode = { root, c, k in
            let v = root[keyPath: path]
            if !v.isUnset { try c.encode(v, forKey: k) }
        }
    }

    /// The flag: `--` and the key with dashes (`--max-tokens-limit`); `--max_tokens_limit` is accepted too.
    public var flag: String { "--" + key.replacingOccurrences(of: "_", with: "-") }

    /// The environment variable under `prefix` (QUILL_MAX_TOKENS_LIMIT), dots as underscores.
    public func variable(prefix: String) -> String {
        prefix + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    var group: String? { key.firstIndex(of: ".").map { String(key[..<$0]) } }
    var leaf: String { key.firstIndex(of: ".").map { String(key[key.index(after: $0)...]) } ?? key }
}

// MARK: - The table

extension CodingUserInfoKey {
    /// Set to true in a decoder's userInfo for files, where unknown keys are errors. Checkpoints and saved run
    /// states decode leniently: a key from another version of Quill is skipped.
    public static let strictSettings = CodingUserInfoKey(rawValue: "quill.strictSettings")!
}

/// Every setting of a configuration, in the order help and docs list them.
public struct SettingsTable<Root>: @unchecked Sendable {  // immutable
    public let settings: [Setting<Root>]
    /// The values an empty file gives.
    public let defaults: Root
    /// QUILL_ for quill-server's variables; nil where a program reads none.
    public let environmentPrefix: String?

    public init(_ defaults: Root, environmentPrefix: String?, _ settings: [Setting<Root>]) {
        self.defaults = defaults
        self.environmentPrefix = environmentPrefix
        self.settings = settings
    }

    /// Every file key, in table order.
    public var keys: [String] { settings.map(\.key) }

    /// The setting a key or a flag's name names: `max_tokens_limit` or `max-tokens-limit`.
    public func setting(named name: String) -> Setting<Root>? {
        let key = name.replacingOccurrences(of: "-", with: "_")
        return settings.first { $0.key == key }
    }

    // MARK: Text: flags and variables

    /// Sets one setting from text; `source` names where it came from in the error (a flag, a variable).
    public func set(_ root: inout Root, _ name: String, _ text: String, source: String) throws(SettingsError) {
        guard let s = setting(named: name) else {
            throw SettingsError("unknown key \(source) (known: \(keys.sorted().joined(separator: ", ")))")
        }
        guard s.parse(&root, text) else {
            throw SettingsError("\(source) must be of type \(s.typeName), not \"\(text)\"")
        }
    }

    /// Applies every variable of the environment prefix that names a setting.
    public func apply(environment env: [String: String], to root: inout Root) throws(SettingsError) {
        guard let prefix = environmentPrefix else { return }
        for s in settings {
            let name = s.variable(prefix: prefix)
            if let value = env[name] { try set(&root, s.key, value, source: name) }
        }
    }

    /// `--key value` and `--key=value` pairs, in order; a key may have dashes or underscores. An argument that is
    /// no flag, a flag with no value, or a flag no setting has, is an error naming it.
    public func parseFlags(_ args: [String]) throws(SettingsError) -> [(key: String, value: String)] {
        var out: [(key: String, value: String)] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            guard a.hasPrefix("--"), a.count > 2 else {
                throw SettingsError("unexpected argument \(a): settings are --key value")
            }
            let body = String(a.dropFirst(2))
            let name: String, value: String
            if let eq = body.firstIndex(of: "=") {
                name = String(body[..<eq])
                value = String(body[body.index(after: eq)...])
                i += 1
            } else {
                guard i + 1 < args.count else { throw SettingsError("--\(body) needs a value") }
                name = body
                value = args[i + 1]
                i += 2
            }
            guard let s = setting(named: name) else {
                throw SettingsError("unknown key --\(name) (known: \(keys.sorted().joined(separator: ", ")))")
            }
            out.append((s.key, value))
        }
        return out
    }

    /// Applies flags from `parseFlags`, each named in its error as the flag was.
    public func apply(flags: [(key: String, value: String)], to root: inout Root) throws(SettingsError) {
        for (key, value) in flags { try set(&root, key, value, source: "--\(key)") }
    }

    // MARK: JSON: files, checkpoints, saved runs

    /// Fills `root` from a decoder's keyed container. Strict (userInfo `.strictSettings`): a key no setting has
    /// is an error naming it. A value of the wrong type is an error naming its key and the type it needs.
    public func decode(_ root: inout Root, from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: SettingKey.self)
        let strict = decoder.userInfo[.strictSettings] as? Bool ?? false
        let groups = Set(settings.compactMap(\.group))
        if strict {
            for k in c.allKeys.map(\.stringValue).sorted() where !groups.contains(k) && setting(named: k)?.key != k {
                throw SettingsError("unknown key \(k)")
            }
        }
        var nested: [String: KeyedDecodingContainer<SettingKey>] = [:]
        for g in groups.sorted() where c.contains(SettingKey(g)) {
            guard let n = try? c.nestedContainer(keyedBy: SettingKey.self, forKey: SettingKey(g)) else {
                throw SettingsError("\(g) must be an object")
            }
            if strict {
                for k in n.allKeys.map(\.stringValue).sorted() where !keys.contains(g + "." + k) {
                    throw SettingsError("unknown key \(g).\(k)")
                }
            }
            nested[g] = n
        }
        for s in settings {
            let container: KeyedDecodingContainer<SettingKey>
            if let g = s.group {
                guard let n = nested[g] else { continue }
                container = n
            } else {
                container = c
            }
            do {
                try s.decode(&root, container, SettingKey(s.leaf))
            } catch is DecodingError {
                throw SettingsError("\(s.key) must be of type \(s.typeName)")
            }
        }
    }

    /// Writes every setting that is set, groups as nested objects.
    public func encode(_ root: Root, to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: SettingKey.self)
        for s in settings where s.group == nil { try s.encode(root, &c, SettingKey(s.key)) }
        var seen: [String] = []
        for g in settings.compactMap(\.group) where !seen.contains(g) {
            seen.append(g)
            var n = c.nestedContainer(keyedBy: SettingKey.self, forKey: SettingKey(g))
            for s in settings where s.group == g { try s.encode(root, &n, SettingKey(s.leaf)) }
        }
    }

    /// Decodes a settings file strictly: unknown keys and wrong types are errors that name them.
    public func load<T: Decodable>(_ type: T.Type, json data: Data) throws(SettingsError) -> T {
        let decoder = JSONDecoder()
        decoder.userInfo[.strictSettings] = true
        do {
            return try decoder.decode(T.self, from: data)
        } catch let e as SettingsError {
            throw e
        } catch {
            throw SettingsError("not a JSON object of settings")
        }
    }

    // MARK: Docs

    /// A setting's default as docs show it ("none" for an unset optional, "\"\"" for an empty string).
    public func defaultText(_ s: Setting<Root>) -> String {
        if s.unset(defaults) { return "none" }
        let t = s.text(defaults)
        return t.isEmpty ? (s.typeName == "list" ? "none" : "\"\"") : t
    }

    /// The lines `--help` shows after the program's own options.
    public var helpText: String {
        var lines = ["SETTINGS (each a config file key, a flag as below\(environmentPrefix.map { ", and \($0)KEY in the environment" } ?? "")):"]
        for s in settings {
            lines.append("  \(s.flag) <\(s.typeName)>   [default: \(defaultText(s))]")
            lines.append("      \(s.help)")
        }
        return lines.joined(separator: "\n")
    }

    /// The README's table: file key, variable, flag, type, default, what.
    public var markdownTable: String {
        let env = environmentPrefix != nil
        var lines = [env ? "| setting (file key) | environment | flag | type | default | what |"
                         : "| setting (file key) | flag | type | default | what |",
                     env ? "|---|---|---|---|---|---|" : "|---|---|---|---|---|"]
        for s in settings {
            let help = s.help.replacingOccurrences(of: "|", with: "\\|")
            let cells = ["`\(s.key)`"] + (env ? ["`\(s.variable(prefix: environmentPrefix!))`"] : [])
                + ["`\(s.flag)`", s.typeName, "`\(defaultText(s))`", help]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }
}

/// The table between `<!-- settings: COMMAND --settings-table … -->` and `<!-- end settings -->` in a document
/// (the README), as scripts/update-settings-tables.sh writes it; nil when the markers are missing.
public func documentedSettingsTable(for command: String, in text: String) -> String? {
    let start = "<!-- settings: \(command) --settings-table (scripts/update-settings-tables.sh) -->\n"
    guard let a = text.range(of: start),
          let b = text.range(of: "\n<!-- end settings -->", range: a.upperBound..<text.endIndex) else { return nil }
    return String(text[a.upperBound..<b.lowerBound])
}
