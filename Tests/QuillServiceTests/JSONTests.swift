// The service's JSON parser and writer, and the request field checks built on them.
import QuillService
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
        let p = try Params(json: v)
        #expect(try p.uint64("seed") == UInt64.max)
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
        let p = Params(query: "max_tokens=7&echo=true&temperature=0.5&stop=a&stop=%20b&prompt=ROMEO%3A+hi")
        #expect(try p.int("max_tokens", default: 1, in: 1...10) == 7)
        #expect(try p.bool("echo", default: false))
        #expect(try p.double("temperature", default: 1, check: { $0 >= 0 }, range: ">= 0") == 0.5)
        #expect(try p.strings("stop") == ["a", " b"])
        #expect(try p.string("prompt") == "ROMEO: hi")
        #expect(throws: APIError.self) { try Params(query: "max_tokens=7.5").int("max_tokens", default: 1, in: 1...10) }
        do {
            _ = try Params(query: "top_k=0").int("top_k", default: 40, in: 1...100)
            Issue.record("top_k=0 was accepted")
        } catch {
            #expect(error.param == "top_k")
            #expect(error.message == "top_k must be between 1 and 100")
        }
    }
}
