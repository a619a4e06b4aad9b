// Request bodies parsed as RFC 8259 says, and no more leniently: a body that means two things is refused.
import Foundation

/// A JSON value, objects keeping their members in order.
enum JSONValue: Equatable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number's text as written (RFC 8259 grammar checked); money never goes through a Double.
    case number(String)
    case bool(Bool)
    case null

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.array(let x), .array(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// What a field holds, in words, for problems ("must be a string, not a number").
    var kindName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

/// Why a body is not one JSON value.
enum JSONError: Error, Equatable {
    case notUTF8
    case byteOrderMark
    /// A key repeated in one object: which value is meant is ambiguous (parsers disagree), so it is refused.
    case duplicateKey(String)
    case tooDeep(limit: Int)
    case syntax(offset: Int, what: String)

    var detail: String {
        switch self {
        case .notUTF8: return "the body is not valid UTF-8"
        case .byteOrderMark: return "the body starts with a byte order mark (RFC 8259 forbids one)"
        case .duplicateKey(let key): return "field '\(key.prefix(64))' appears more than once"
        case .tooDeep(let limit): return "the body nests more than json_depth_max (\(limit)) arrays and objects"
        case .syntax(let offset, let what): return "at byte \(offset): \(what)"
        }
    }
}

/// A strict RFC 8259 parser: UTF-8 only, no byte order mark, no trailing commas, no comments,
/// no repeated key in an object, no lone surrogate in an escape, nothing after the value, and at
/// most `depthMax` levels of nesting (the parser recurses once per level).
enum StrictJSON {
    /// json_depth_max: levels of arrays and objects in one body.
    static let depthMax = 32

    static func parse(_ bytes: some Collection<UInt8>) throws(JSONError) -> JSONValue {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer throws(JSONError) -> JSONValue in try parse(buffer) }
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONError) -> JSONValue {
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { throw .byteOrderMark }
        guard String(validating: bytes, as: UTF8.self) != nil else { throw .notUTF8 }
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.index == bytes.count else { throw .syntax(offset: parser.index, what: "unexpected data after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        var current: UInt8 { bytes[index] }

        mutating func skipSpace() {
            while !atEnd, current == 0x20 || current == 0x09 || current == 0x0A || current == 0x0D { index += 1 }
        }

        func fail(_ what: String) -> JSONError { .syntax(offset: index, what: what) }

        mutating func value(depth: Int) throws(JSONError) -> JSONValue {
            guard !atEnd else { throw fail("a value was expected, the body ended") }
            switch current {
            case 0x7B: return try object(depth: depth + 1)
            case 0x5B: return try array(depth: depth + 1)
            case 0x22: return .string(try string())
            case 0x74: try literal("true"); return .bool(true)
            case 0x66: try literal("false"); return .bool(false)
            case 0x6E: try literal("null"); return .null
            case 0x2D, 0x30...0x39: return .number(try number())
            default: throw fail("a value was expected (an object, array, string, number, true, false or null)")
            }
        }

        mutating func object(depth: Int) throws(JSONError) -> JSONValue {
            guard depth <= StrictJSON.depthMax else { throw .tooDeep(limit: StrictJSON.depthMax) }
            index += 1
            var members: [(key: String, value: JSONValue)] = []
            var seen = Set<[UInt8]>()
            skipSpace()
            if !atEnd && current == 0x7D {
                index += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard !atEnd, current == 0x22 else { throw fail(members.isEmpty ? "a field name in quotes was expected" : "a field name in quotes was expected (no trailing comma)") }
                let key = try string()
                guard seen.insert(Array(key.utf8)).inserted else { throw .duplicateKey(key) }
                skipSpace()
                guard !atEnd, current == 0x3A else { throw fail("':' was expected after a field name") }
                index += 1
                skipSpace()
                let member = try value(depth: depth)
                members.append((key, member))
                skipSpace()
                guard !atEnd else { throw fail("',' or '}' was expected, the body ended") }
                if current == 0x2C { index += 1; continue }
                guard current == 0x7D else { throw fail("',' or '}' was expected") }
                index += 1
                return .object(members)
            }
        }

        mutating func array(depth: Int) throws(JSONError) -> JSONValue {
            guard depth <= StrictJSON.depthMax else { throw .tooDeep(limit: StrictJSON.depthMax) }
            index += 1
            var elements: [JSONValue] = []
            skipSpace()
            if !atEnd && current == 0x5D {
                index += 1
                return .array(elements)
            }
            while true {
                skipSpace()
                if !atEnd && current == 0x5D { throw fail("a value was expected (no trailing comma)") }
                elements.append(try value(depth: depth))
                skipSpace()
                guard !atEnd else { throw fail("',' or ']' was expected, the body ended") }
                if current == 0x2C { index += 1; continue }
                guard current == 0x5D else { throw fail("',' or ']' was expected") }
                index += 1
                return .array(elements)
            }
        }

        mutating func literal(_ word: StaticString) throws(JSONError) {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count, memcmp(bytes.baseAddress! + index, word.utf8Start, count) == 0 else {
                throw fail("a value was expected (an object, array, string, number, true, false or null)")
            }
            index += count
        }

        /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        mutating func number() throws(JSONError) -> String {
            let start = index
            if current == 0x2D { index += 1 }
            guard !atEnd, current >= 0x30 && current <= 0x39 else { throw fail("a digit was expected") }
            if current == 0x30 {
                index += 1
            } else {
                while !atEnd, current >= 0x30 && current <= 0x39 { index += 1 }
            }
            if !atEnd && current == 0x2E {
                index += 1
                guard !atEnd, current >= 0x30 && current <= 0x39 else { throw fail("a digit was expected after '.'") }
                while !atEnd, current >= 0x30 && current <= 0x39 { index += 1 }
            }
            if !atEnd && (current == 0x65 || current == 0x45) {
                index += 1
                if !atEnd && (current == 0x2B || current == 0x2D) { index += 1 }
                guard !atEnd, current >= 0x30 && current <= 0x39 else { throw fail("a digit was expected in the exponent") }
                while !atEnd, current >= 0x30 && current <= 0x39 { index += 1 }
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }

        /// A string (the input is valid UTF-8, checked before parsing), its escapes decoded.
        mutating func string() throws(JSONError) -> String {
            index += 1
            var decoded: [UInt8] = []
            while true {
                guard !atEnd else { throw fail("the string is not closed") }
                let byte = current
                if byte == 0x22 {
                    index += 1
                    return String(decoding: decoded, as: UTF8.self)
                }
                guard byte >= 0x20 else { throw fail("a control character must be escaped in a string") }
                guard byte == 0x5C else {
                    decoded.append(byte)
                    index += 1
                    continue
                }
                index += 1
                guard !atEnd else { throw fail("the string is not closed") }
                let escape = current
                index += 1
                switch escape {
                case 0x22, 0x5C, 0x2F: decoded.append(escape)
                case 0x62: decoded.append(0x08)
                case 0x66: decoded.append(0x0C)
                case 0x6E: decoded.append(0x0A)
                case 0x72: decoded.append(0x0D)
                case 0x74: decoded.append(0x09)
                case 0x75:
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar <= 0xDBFF {
                        guard bytes.count - index >= 6, bytes[index] == 0x5C, bytes[index + 1] == 0x75 else { throw fail("a lone surrogate in a \\u escape") }
                        index += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low <= 0xDFFF else { throw fail("a lone surrogate in a \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                        throw fail("a lone surrogate in a \\u escape")
                    }
                    decoded.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                default:
                    throw fail("an unknown escape in a string")
                }
            }
        }

        mutating func hex4() throws(JSONError) -> UInt32 {
            guard bytes.count - index >= 4 else { throw fail("\\u needs four hex digits") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = current
                let digit: UInt32
                switch byte {
                case 0x30...0x39: digit = UInt32(byte - 0x30)
                case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
                default: throw fail("\\u needs four hex digits")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }
    }
}
