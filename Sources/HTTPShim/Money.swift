// Amounts and ids as the REST API spells them: decimal strings, converted exactly, never via floating point.
import Foundation
import LedgerCore
import NIOCore

/// ISO 4217 currencies the API accepts, with their minor-unit exponents ("12.34" USD is 1234
/// cents; JPY and KRW have no minor unit; BHD, KWD, OMR and TND have three decimals).
public enum Currency {
    public static let exponents: [String: Int] = [
        "USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "NZD": 2, "SGD": 2, "HKD": 2, "CNY": 2,
        "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "INR": 2, "BRL": 2, "MXN": 2, "ZAR": 2, "TRY": 2,
        "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0,
        "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3, "JOD": 3,
    ]

    /// How a ledger number is shown: its code and its currency's exponent (0 for a ledger that is
    /// not one of these currencies, such as a number given on the CLI).
    public static func display(_ ledger: UInt32) -> (code: String, exponent: Int) {
        let code = CurrencyCode.format(ledger)
        return (code, exponents[code] ?? 0)
    }

    /// The ledger number a currency's accounts live in (the code's letters packed, as the CLI does).
    public static func ledger(of code: String) -> UInt32? {
        guard exponents[code] != nil else { return nil }
        return CurrencyCode.parse(code)
    }
}

/// Why a decimal amount was refused: each has its own problem type.
public enum AmountError: Error, Equatable {
    case notADecimal
    case tooManyDecimals(allowed: Int)
    case zero
    case outOfRange
}

public enum Amount {
    /// "12.34" in a currency with `exponent` decimals → minor units. Digits and at most one dot;
    /// no sign, exponent, spaces or leading dot; at most `exponent` decimals; more than zero;
    /// at most 2^128 - 1 minor units.
    public static func minorUnits(_ text: String, exponent: Int) -> Result<UInt128, AmountError> {
        var text = text
        return text.withUTF8 { minorUnits(bytes: UnsafeRawBufferPointer($0), exponent: exponent) }
    }

    /// `minorUnits` over the text's UTF-8 bytes, in two passes and no allocation (the fast path
    /// parses request bodies with it; the String form above is this too).
    static func minorUnits(bytes: UnsafeRawBufferPointer, exponent: Int) -> Result<UInt128, AmountError> {
        // The shape first: digits, then optionally a dot and at least one digit.
        var wholeDigits = 0
        var fractionDigits = 0
        var sawDot = false
        for byte in bytes {
            if byte == 0x2E {
                guard !sawDot else { return .failure(.notADecimal) }
                sawDot = true
            } else {
                guard byte >= 0x30 && byte <= 0x39 else { return .failure(.notADecimal) }
                if sawDot { fractionDigits += 1 } else { wholeDigits += 1 }
            }
        }
        // Any number of digits is well formed (leading zeros included); what does not fit in 128
        // bits is found by the overflow checks below, and the body's size bounds the work.
        guard wholeDigits >= 1, !sawDot || fractionDigits >= 1 else { return .failure(.notADecimal) }
        // The value; decimals past the exponent must be zeros ("12.340" USD is 1234), others would be lost.
        var value: UInt128 = 0
        var overflow = false
        var decimals = 0
        var inFraction = false
        func push(_ digit: UInt8) {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt128(digit))
            overflow = overflow || overflow1 || overflow2
            value = sum
        }
        for byte in bytes {
            if byte == 0x2E { inFraction = true; continue }
            if inFraction {
                decimals += 1
                if decimals > exponent {
                    guard byte == 0x30 else { return .failure(.tooManyDecimals(allowed: exponent)) }
                    continue
                }
            }
            push(byte - 0x30)
        }
        for _ in min(decimals, exponent)..<exponent { push(0) }
        guard !overflow else { return .failure(.outOfRange) }
        return value == 0 ? .failure(.zero) : .success(value)
    }

    /// Minor units → "12.34" (always with the currency's decimals).
    public static func format(_ minor: UInt128, exponent: Int) -> String {
        guard exponent > 0 else { return String(minor) }
        var digits = String(minor)
        if digits.count <= exponent { digits = String(repeating: "0", count: exponent - digits.count + 1) + digits }
        digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -exponent))
        return digits
    }

    /// A signed difference a - b of minor units, formatted, with "-" when negative.
    public static func formatDifference(_ a: UInt128, minus b: UInt128, exponent: Int) -> String {
        a >= b ? format(a - b, exponent: exponent) : "-" + format(b - a, exponent: exponent)
    }
}

public enum Identifier {
    /// An account id: the decimal digits of a 128-bit integer, not 0 and not 2^128 - 1.
    public static func account(_ text: String) -> UInt128? {
        var text = text
        return text.withUTF8 { account(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// `account` over UTF-8 bytes (the fast path's form; the String form is this too).
    static func account(bytes: UnsafeRawBufferPointer) -> UInt128? {
        guard !bytes.isEmpty, bytes.count <= 39 else { return nil }
        var value: UInt128 = 0
        for byte in bytes {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt128(byte - 0x30))
            guard !overflow1 && !overflow2 else { return nil }
            value = sum
        }
        return ReservedIds.contains(value) ? nil : value
    }

    /// A transaction id (the idempotency key): a UUID (its 16 bytes, big-endian, as the transfer
    /// id) or the decimal digits of a 128-bit integer; never 0 or 2^128 - 1.
    public static func transaction(_ text: String) -> UInt128? {
        guard let value = transactionValue(text), !ReservedIds.contains(value) else { return nil }
        return value
    }

    /// The value a transaction id's text stands for, reserved or not (nil if it is neither form).
    static func transactionValue(_ text: String) -> UInt128? {
        if text.utf8.count == 36, text.contains("-") {
            guard let uuid = UUID(uuidString: text) else { return nil }
            return withUnsafeBytes(of: uuid.uuid) { bytes in bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) } }
        }
        guard case .success(let value) = UInt128.parseDecimal(text), text.utf8.count <= 39, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return value
    }
}

/// Minor units as decimal text written into a buffer, exactly as `Amount.format` writes them, for
/// the hot answers: digits are made in a stack buffer, 64-bit division when the value fits.
enum DecimalText {
    static func write(_ minor: UInt128, exponent: Int, into buffer: inout ByteBuffer) {
        // 39 digits at most, a point, and up to `exponent` leading zeros ("0.00…").
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48 + exponent) { digits in
            var end = digits.count
            var value = minor
            var written = 0
            func put(_ byte: UInt8) {
                end -= 1
                digits[end] = byte
            }
            while value > UInt128(UInt64.max) {
                let (quotient, remainder) = value.quotientAndRemainder(dividingBy: 10)
                put(0x30 + UInt8(remainder))
                value = quotient
                written += 1
                if written == exponent { put(0x2E) }
            }
            var small = UInt64(value)
            repeat {
                put(0x30 + UInt8(small % 10))
                small /= 10
                written += 1
                if written == exponent { put(0x2E) }
            } while small != 0
            // Pad to "0.xx": zeros up to the point, the point, and the leading zero.
            while written < exponent {
                put(0x30)
                written += 1
                if written == exponent { put(0x2E) }
            }
            if exponent > 0 && written == exponent { put(0x30) }
            buffer.writeBytes(UnsafeBufferPointer(rebasing: digits[end...]))
        }
    }

    static func writeDifference(_ a: UInt128, minus b: UInt128, exponent: Int, into buffer: inout ByteBuffer) {
        if a >= b {
            write(a - b, exponent: exponent, into: &buffer)
        } else {
            buffer.writeStaticString("-")
            write(b - a, exponent: exponent, into: &buffer)
        }
    }
}
