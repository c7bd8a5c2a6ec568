// Encodable types to JSONValue: order, snake case, exact integers, nulls where asked, data keys untouched.
import QuillJSON
import Testing

private struct Choice: Encodable {
    var text: String
    var index: Int
    var logprobs: Nullable<[Float?]>
    var finishReason: Nullable<String>
    var extra: String?
}

private struct Answer: Encodable {
    var id = "cmpl-1"
    var created = 1_700_000_000
    var seed = UInt64.max
    var choices: [Choice]
    var top: OrderedFields<Float>
    var raw: JSONValue
}

@Suite("JSONValueEncoder")
struct JSONValueEncoderTests {
    @Test("keys come in declaration order and snake case; nil optionals are left out, Nullable writes null")
    func shape() {
        let a = Answer(choices: [Choice(text: "hi\n\"x\"", index: 0, logprobs: Nullable([nil, -0.5]),
                                        finishReason: nil, extra: nil)],
                       top: OrderedFields([("Hello", -0.25), (" world", -1), ("a_b", 0.5)]),
                       raw: .object([("n", .number(JSONNumber(text: "1e3")))]))
        #expect(JSONValue(encoding: a).text ==
            #"{"id":"cmpl-1","created":1700000000,"seed":18446744073709551615,"choices":[{"text":"hi\n\"x\"","index":0,"logprobs":[null,-0.5],"finish_reason":null}],"top":{"Hello":-0.25," world":-1.0,"a_b":0.5},"raw":{"n":1e3}}"#)
    }

    @Test("numbers are written as JSONValue writes them: exact integers, shortest floats, non-finite as null")
    func numbers() {
        #expect(JSONValue(encoding: [Int.max]).text == "[9223372036854775807]")
        #expect(JSONValue(encoding: [Float(0.1), Float.nan]).text == "[0.1,null]")
        #expect(JSONValue(encoding: [2.5, 3.0]).text == "[2.5,3]")
        #expect(JSONValue(encoding: [UInt8(7), UInt8(255)]).text == "[7,255]")
    }

    @Test("snake case converts property names only")
    func snake() {
        struct S: Encodable { var promptTokensDetails = 1; var already_snake = 2; var x = 3 }
        #expect(JSONValue(encoding: S()).text == #"{"prompt_tokens_details":1,"already_snake":2,"x":3}"#)
        #expect(JSONValue(encoding: ["camelKey": 1, "aKey": 2]).text == #"{"aKey":2,"camelKey":1}"#)
    }
}

private struct Req: Decodable, Equatable {
    struct Opt: Decodable, Equatable { var includeUsage: Bool? }
    var maxTokens: Int?
    var seed: UInt64?
    var temperature: Double?
    var stream: Bool?
    var streamOptions: Opt?
    var stop: [String]?
    var logitBias: [String: Double]?
}

@Suite("JSONValueDecoder")
struct JSONValueDecoderTests {
    func parse(_ s: String) -> JSONValue { try! JSONValue.parse(Array(s.utf8)) }

    @Test("snake-case keys fill camel-case properties; integers are exact; nulls and absent keys are nil")
    func fields() throws {
        let r = try JSONValueDecoder().decode(Req.self, from: parse(
            #"{"max_tokens": 4e3, "seed": 18446744073709551615, "temperature": null, "stream_options": {"include_usage": true}, "logit_bias": {"50256": -100, "Ab": 1}}"#))
        #expect(r == Req(maxTokens: 4000, seed: .max, temperature: nil, stream: nil, streamOptions: .init(includeUsage: true),
                         stop: nil, logitBias: ["50256": -100, "Ab": 1]))
    }

    @Test("a value of the wrong type names its JSON path, what it needed and what it got")
    func errors() {
        func message(_ s: String) -> String {
            do { _ = try JSONValueDecoder().decode(Req.self, from: parse(s)); return "" } catch { return error.description }
        }
        #expect(message(#"{"max_tokens": "ten"}"#) == "max_tokens must be an integer, not a string")
        #expect(message(#"{"stream_options": {"include_usage": 1}}"#) == "stream_options.include_usage must be a boolean, not a number")
        #expect(message(#"{"stop": ["a", 3]}"#) == "stop[1] must be a string, not a number")
        #expect(message(#"{"max_tokens": 9223372036854775808}"#).hasPrefix("max_tokens must be an integer between"))
        #expect(message(#"{"max_tokens": 2.5}"#).hasPrefix("max_tokens must be an integer between"))
        #expect(message("[1]") == "the body must be an object, not an array")
    }

    @Test("in a query string every value is text: numbers and booleans are read from it")
    func queryText() throws {
        let q = JSONValue.object([("max_tokens", .string("5")), ("stream", .string("")), ("temperature", .string(" 0.5"))])
        let r = try JSONValueDecoder(textValues: true).decode(Req.self, from: q)
        #expect(r.maxTokens == 5 && r.stream == true && r.temperature == 0.5)
        #expect(throws: JSONFieldError.self) {
            try JSONValueDecoder().decode(Req.self, from: q)  // the same strings in a JSON body are type errors
        }
    }
}
