// The service's JSON parser and writer, and the request field checks built on them.
@testable import QuillService
import Testing
import QuillJSON

@Suite("JSON and request fields")
struct JSONTests {
    @Test("parsing then writing keeps values, key order and exact big integers")
    func roundTrip() throws {
        let text = #"{"b":1,"a":[true,false,null,"x\"y\\z\n",-2.5e3],"seed":18446744073709551615,"u":"\u00e9\ud83d\ude00"}"#
        let v = try JSONValue.parse(Array(text.utf8))
        #expect(v["u"]?.string == "é😀")
        #expect(v.text == #"{"b":1,"a":[true,false,null,"x\"y\\z\n",-2.5e3],"seed":18446744073709551615,"u":"é😀"}"#)
        struct Seeded: Decodable { var seed: UInt64? }
        #expect(try Params(json: v).decode(Seeded.self).seed == UInt64.max)
    }

    @Test("malformed documents are rejected with the offending offset")
    func malformed() {
        for bad in ["{", "{\"a\":}", "[1,]", "01", "\"\\ud800\"", "{\"a\":1} x", "nul", "\"a\u{01}\"", "1."] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONValue.parse(Array(bad.utf8)) }
        }
    }

    @Test("attention weights are written with at most five significant digits")
    func rounding() {
        #expect(JSONValue.rounded(0.123456789, digits: 5).text == "0.12346")
        #expect(JSONValue.rounded(1, digits: 5).text == "1")
        #expect(JSONValue.rounded(0, digits: 5).text == "0")
        #expect(JSONValue.rounded(0.000012345678, digits: 5).text.hasPrefix("1.2346e-05"))
    }

    @Test("query-string values convert to the field's type and bad ones name the field")
    func queryParams() throws {
        struct Query: Decodable {
            var maxTokens: Int?, echo: Bool?, temperature: Double?, stop: StringOrList?, prompt: String?, topK: Int?
        }
        let q = try Params(query: "max_tokens=7&echo=true&temperature=0.5&stop=a&stop=%20b&prompt=ROMEO%3A+hi")
            .decode(Query.self)
        #expect(try Limits.int(q.maxTokens, "max_tokens", default: 1, in: 1...10) == 7)
        #expect(q.echo == true)
        #expect(try Limits.double(q.temperature, "temperature", default: 1, check: { $0 >= 0 }, range: ">= 0") == 0.5)
        #expect(q.stop?.values == ["a", " b"])
        #expect(q.prompt == "ROMEO: hi")
        #expect(throws: APIError.self) { try Params(query: "max_tokens=7.5").decode(Query.self) }
        do {
            _ = try Limits.int(Params(query: "top_k=0").decode(Query.self).topK, "top_k", default: 40, in: 1...100)
            Issue.record("top_k=0 was accepted")
        } catch {
            #expect(error.param == "top_k")
            #expect(error.message == "top_k must be between 1 and 100")
        }
    }
}
