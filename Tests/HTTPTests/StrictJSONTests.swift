// The strict request-body parser: RFC 8259 and nothing looser, because a body two parsers read
// differently (a repeated key, a trailing comma) could move money the client did not mean.
@testable import HTTPShim
import XCTest

final class StrictJSONTests: XCTestCase {
    private func parse(_ text: String) throws -> JSONValue { try StrictJSON.parse(Array(text.utf8)) }

    private func error(_ bytes: [UInt8]) -> JSONError? {
        do {
            _ = try StrictJSON.parse(bytes)
            return nil
        } catch {
            return error
        }
    }

    func testValidDocumentsParseToTheirValues() throws {
        XCTAssertEqual(try parse(#" {"a" : "x", "b":[1, -2.5e+3, 0.0, true, false, null], "c":{}} "#), .object([
            ("a", .string("x")),
            ("b", .array([.number("1"), .number("-2.5e+3"), .number("0.0"), .bool(true), .bool(false), .null])),
            ("c", .object([])),
        ]))
        XCTAssertEqual(try parse(#""\u00e9\n\"\\\/\ud83d\ude00""#), .string("é\n\"\\/😀"))
        XCTAssertEqual(try parse(#"{"k":"é"}"#), .object([("k", .string("é"))]))
        XCTAssertEqual(try parse("[]"), .array([]))
    }

    func testARepeatedKeyIsRefusedNamingIt() {
        XCTAssertEqual(error(Array(#"{"amount":"1.00","amount":"999999.00"}"#.utf8)), .duplicateKey("amount"))
        // The same key spelled with an escape is the same key.
        XCTAssertEqual(error(Array(#"{"amount":"1.00","\u0061mount":"2.00"}"#.utf8)), .duplicateKey("amount"))
        XCTAssertEqual(error(Array(#"{"a":{"b":1,"b":2}}"#.utf8)), .duplicateKey("b"))
        // Not a repeat: the same key in two different objects.
        XCTAssertNil(error(Array(#"[{"b":1},{"b":2}]"#.utf8)))
    }

    func testWhatLenientParsersTakeIsRefused() {
        let refused: [(String, [UInt8])] = [
            ("trailing comma in an object", Array(#"{"a":"1",}"#.utf8)),
            ("trailing comma in an array", Array("[1,]".utf8)),
            ("byte order mark", [0xEF, 0xBB, 0xBF] + Array(#"{"a":"1"}"#.utf8)),
            ("Latin-1 byte", Array(#"{"a":""#.utf8) + [0xE9] + Array(#""}"#.utf8)),
            ("overlong UTF-8", Array(#"{"a":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8)),
            ("UTF-8 surrogate", Array(#"{"a":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8)),
            ("lone high surrogate escape", Array(#""\ud83d""#.utf8)),
            ("lone low surrogate escape", Array(#""\ude00""#.utf8)),
            ("comment", Array(#"{"a":"1"} // x"#.utf8)),
            ("single quotes", Array("{'a':'1'}".utf8)),
            ("leading zero", Array("[01]".utf8)),
            ("bare dot", Array("[1.]".utf8)),
            ("NaN", Array("[NaN]".utf8)),
            ("plus sign", Array("[+1]".utf8)),
            ("raw control character", Array("[\"a\u{01}b\"]".utf8)),
            ("unknown escape", Array(#"["\x41"]"#.utf8)),
            ("two values", Array(#"{"a":"1"}{"b":"2"}"#.utf8)),
            ("unquoted key", Array(#"{a:"1"}"#.utf8)),
            ("unclosed", Array(#"{"a":"1""#.utf8)),
            ("empty", []),
            ("nested past json_depth_max", Array((String(repeating: "[", count: StrictJSON.depthMax + 1) + String(repeating: "]", count: StrictJSON.depthMax + 1)).utf8)),
        ]
        for (name, bytes) in refused {
            XCTAssertNotNil(error(bytes), name)
        }
        XCTAssertEqual(error([0xEF, 0xBB, 0xBF, 0x7B, 0x7D]), .byteOrderMark)
        XCTAssertEqual(error([0x22, 0xFF, 0x22]), .notUTF8)
        XCTAssertNil(error(Array((String(repeating: "[", count: StrictJSON.depthMax) + String(repeating: "]", count: StrictJSON.depthMax)).utf8)))
    }

    /// Random bytes and random cuts of valid documents: always an answer (a value or an error), never a trap.
    func testArbitraryBytesNeverTrap() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return seed >> 33
        }
        let valid = Array(#"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"\u0037","x":[1,2.5e3,{"y":null}]}"#.utf8)
        let alphabet = Array(#"{}[]":,\u0123456789.eE+-tfnrl"a "#.utf8) + [0x00, 0x0A, 0xC3, 0xA9, 0xFF]
        for round in 0..<20_000 {
            var bytes = valid
            switch round % 3 {
            case 0: bytes = Array(bytes.prefix(Int(next()) % (bytes.count + 1)))
            case 1:
                for _ in 0..<(1 + Int(next() % 4)) { bytes[Int(next()) % bytes.count] = alphabet[Int(next()) % alphabet.count] }
            default: bytes = (0..<Int(next() % 40)).map { _ in alphabet[Int(next()) % alphabet.count] }
            }
            _ = error(bytes)
        }
    }
}
