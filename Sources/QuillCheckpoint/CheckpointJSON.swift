// The JSON coders for metadata values (sorted keys, so the same record always gives the same bytes; non-finite
// floats as strings, since a diverged run's NaN loss must still be saved) and a one-line account of decode errors.
import Foundation

enum CheckpointJSON {
    /// JSON text of `value`, or a one-line reason it cannot be encoded.
    static func encode<T: Encodable>(_ value: T) -> Result<String, Failure> {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return .success(String(decoding: try encoder.encode(value), as: UTF8.self))
        } catch {
            return .failure(Failure(reason: "\(error)"))
        }
    }

    /// Decodes `text`, or a one-line reason naming the field that was wrong.
    static func decode<T: Decodable>(_ type: T.Type, from text: String) -> Result<T, Failure> {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return .success(try decoder.decode(type, from: Data(text.utf8)))
        } catch let error as DecodingError {
            return .failure(Failure(reason: describe(error)))
        } catch {
            return .failure(Failure(reason: "\(error)"))
        }
    }

    struct Failure: Error {
        var reason: String
    }

    /// "missing field "n_head" at the top level", "expected Int at shape.1", …
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "the top level" : keys.joined(separator: ".")
        }
        switch error {
        case let .keyNotFound(key, context):
            return "missing field \"\(key.stringValue)\" at \(path(context))"
        case let .typeMismatch(type, context):
            return "expected \(type) at \(path(context))"
        case let .valueNotFound(type, context):
            return "expected \(type) at \(path(context)), found null"
        case let .dataCorrupted(context):
            let underlying = context.underlyingError.map { ": \($0)" } ?? ""
            return "\(context.debugDescription) at \(path(context))\(underlying)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// A coding key built from any string: for JSON objects whose keys are data (tensor names, RNG names).
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
