// Decimal text ↔ 128-bit integers, for ids and amounts in CSV files and on the command line.

public enum DecimalParseError: Error, Equatable, Sendable {
    case empty
    case notADigit(Character)
    case tooLarge
}

extension UInt128 {
    /// Parses a non-negative decimal integer of up to 39 digits; rejects signs, spaces, points and
    /// exponents (money is integer minor units) and values past `UInt128.max`.
    public static func parseDecimal<S: StringProtocol>(_ text: S) -> Result<UInt128, DecimalParseError> {
        var value: UInt128 = 0
        var digits = 0
        for byte in text.utf8 {
            guard byte >= 0x30 && byte <= 0x39 else { return .failure(.notADigit(Character(UnicodeScalar(byte)))) }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt128(byte - 0x30))
            if overflow1 || overflow2 { return .failure(.tooLarge) }
            value = sum
            digits += 1
        }
        return digits == 0 ? .failure(.empty) : .success(value)
    }
}

/// Currency (ledger) codes: a number, or up to four letters packed as ASCII into the 32-bit code.
///
/// "USD" is stored as the bytes 'U','S','D',0 read little-endian, so it reads back as "USD".
public enum CurrencyCode {
    public static func parse<S: StringProtocol>(_ text: S) -> UInt32? {
        if let first = text.utf8.first, first >= 0x30 && first <= 0x39 {
            guard case .success(let value) = UInt128.parseDecimal(text), value > 0, value <= UInt128(UInt32.max) else { return nil }
            return UInt32(value)
        }
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 4, bytes.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else { return nil }
        var code: UInt32 = 0
        for (position, byte) in bytes.enumerated() { code |= UInt32(byte) << (8 * UInt32(position)) }
        return code
    }

    /// The letters if the code is packed letters, else the decimal number.
    public static func format(_ code: UInt32) -> String {
        var letters: [UInt8] = []
        var rest = code
        while rest != 0 {
            let byte = UInt8(rest & 0xff)
            guard byte >= 0x41 && byte <= 0x5A else { return String(code) }
            letters.append(byte)
            rest >>= 8
        }
        return letters.isEmpty ? "0" : String(decoding: letters, as: UTF8.self)
    }
}
