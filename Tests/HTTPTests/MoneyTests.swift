// The API's exact conversions and its JSON writer, without a server.
import Foundation
@testable import HTTPShim
import LedgerCore
import XCTest

final class MoneyTests: XCTestCase {
    func testDecimalAmountsConvertExactlyByTheCurrencysExponent() {
        XCTAssertEqual(try Amount.minorUnits("12.34", exponent: 2).get(), 1234)
        XCTAssertEqual(try Amount.minorUnits("12", exponent: 2).get(), 1200)
        XCTAssertEqual(try Amount.minorUnits("12.3", exponent: 2).get(), 1230)
        XCTAssertEqual(try Amount.minorUnits("12.340", exponent: 2).get(), 1234, "trailing zeros lose nothing")
        XCTAssertEqual(try Amount.minorUnits("1000", exponent: 0).get(), 1000)
        XCTAssertEqual(try Amount.minorUnits("0.001", exponent: 3).get(), 1)
        XCTAssertEqual(try Amount.minorUnits("340282366920938463463374607431768211455", exponent: 0).get(), .max)
        XCTAssertEqual(Amount.minorUnits("12.345", exponent: 2), .failure(.tooManyDecimals(allowed: 2)))
        XCTAssertEqual(Amount.minorUnits("1.5", exponent: 0), .failure(.tooManyDecimals(allowed: 0)))
        XCTAssertEqual(Amount.minorUnits("0.00", exponent: 2), .failure(.zero))
        XCTAssertEqual(Amount.minorUnits("3402823669209384634633746074317682114.56", exponent: 2), .failure(.outOfRange))
        // 41 digits once said "not a decimal": it is one, too large for 128 bits.
        XCTAssertEqual(Amount.minorUnits(String(repeating: "9", count: 41), exponent: 0), .failure(.outOfRange))
        XCTAssertEqual(Amount.minorUnits(String(repeating: "1", count: 41) + ".00", exponent: 2), .failure(.outOfRange))
        XCTAssertEqual(try Amount.minorUnits(String(repeating: "0", count: 60) + "1.00", exponent: 2).get(), 100, "leading zeros fit")
        for bad in ["", ".5", "5.", "-1", "+1", "1e2", " 1", "1,00", "1.2.3", "0x10", "１２"] {
            XCTAssertEqual(Amount.minorUnits(bad, exponent: 2), .failure(.notADecimal), bad)
        }
        XCTAssertEqual(Amount.format(1234, exponent: 2), "12.34")
        XCTAssertEqual(Amount.format(5, exponent: 2), "0.05")
        XCTAssertEqual(Amount.format(5, exponent: 0), "5")
        XCTAssertEqual(Amount.formatDifference(1, minus: 301, exponent: 2), "-3.00")
    }

    func testIdsAndTransactionIds() {
        XCTAssertEqual(Identifier.account("42"), 42)
        XCTAssertNil(Identifier.account("0"))
        XCTAssertNil(Identifier.account("340282366920938463463374607431768211455"), "2^128-1 is reserved")
        XCTAssertNil(Identifier.account("340282366920938463463374607431768211456"))
        XCTAssertNil(Identifier.account("-1"))
        XCTAssertEqual(Identifier.transaction("00000000-0000-0000-0000-000000000102"), 0x102, "a UUID's bytes, big-endian")
        XCTAssertEqual(Identifier.transaction("5F0C6A8E-6F3B-4A51-9C55-0D7A1F2B3C4D"), Identifier.transaction("5f0c6a8e-6f3b-4a51-9c55-0d7a1f2b3c4d"))
        XCTAssertNil(Identifier.transaction("00000000-0000-0000-0000-000000000000"))
        XCTAssertNil(Identifier.transaction("5f0c6a8e-6f3b-4a51-9c55-0d7a1f2b3c4"))
        XCTAssertEqual(Identifier.transaction("77"), 77)
    }

    func testTheJSONWriterAgreesWithFoundationsParser() throws {
        let object: [String: Any] = ["b": "quote \" backslash \\ newline \n tab \t bell \u{7} é 한", "a": 12, "c": [true, false, NSNull()],
                                     "d": ["x": UInt64.max, "y": [] as [Any]], "e": -5]
        let text = JSONText.encode(object)
        XCTAssertTrue(text.hasPrefix(#"{"a":12,"b":"#), "keys sorted: \(text)")
        let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(parsed["b"] as? String, object["b"] as? String)
        XCTAssertEqual((parsed["d"] as? [String: Any])?["x"] as? UInt64, UInt64.max)
        XCTAssertEqual(parsed["e"] as? Int, -5)
    }
}

final class AccountTextTests: XCTestCase {
    /// The hand-written hot path says exactly what the general writer says.
    func testAccountTextEqualsTheGeneralWriter() {
        var account = Account(id: 340282366920938463463374607431768211454, ledger: CurrencyCode.parse("USD")!, flags: [.debitsMustNotExceedCredits, .creditsMustNotExceedDebits])
        account.creditsPosted = 123_456_789
        account.debitsPosted = 5
        account.debitsPending = 200_000_000
        var object = accountJSON(account)
        object["op"] = UInt64(77)
        object["consistency"] = "applied"
        XCTAssertEqual(accountText(account, op: 77), JSONText.encode(object))
        var plain = Account(id: 3, ledger: CurrencyCode.parse("JPY")!)
        plain.creditsPosted = 10
        var plainObject = accountJSON(plain)
        plainObject["op"] = UInt64(1)
        plainObject["consistency"] = "applied"
        XCTAssertEqual(accountText(plain, op: 1), JSONText.encode(plainObject))
    }
}

final class TransferTextTests: XCTestCase {
    func testTransferTextEqualsTheGeneralWriter() {
        let transfer = Transfer(id: 0x5f0c6a8e6f3b4a519c550d7a1f2b3c4d, debitAccountId: 1, creditAccountId: 340282366920938463463374607431768211454,
                                amount: 1234, ledger: CurrencyCode.parse("EUR")!, timestamp: 1_795_459_023_429_274_844)
        for (id, replayed) in [("5f0c6a8e-6f3b-4a51-9c55-0d7a1f2b3c4d", false), ("quote\"d", true)] {
            var object = transferJSON(transfer, transactionId: id)
            object["op"] = UInt64(9)
            object["replayed"] = replayed
            XCTAssertEqual(transferText(transfer, transactionId: id, op: 9, replayed: replayed), JSONText.encode(object))
        }
    }
}
