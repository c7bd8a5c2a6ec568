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
