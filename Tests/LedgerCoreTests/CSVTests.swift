// CSV input: the book's columns, two-phase extras, and errors that name their line.
import LedgerCore
import XCTest

final class CSVTests: XCTestCase {
    private func parse(_ text: String) -> Result<CSVRecords, CSVError> {
        Array(text.utf8).withUnsafeBytes { CSVRecords.parse($0) }
    }

    func testTransfers() throws {
        let records = try parse("transaction_id,from_account,to_account,amount,currency\n1,2,3,450,USD\r\n\n2,3,2,1,840\n").get()
        guard case .transfers(let transfers) = records else { return XCTFail() }
        XCTAssertEqual(transfers.count, 2)
        XCTAssertEqual(transfers[0], Transfer(id: 1, debitAccountId: 2, creditAccountId: 3, amount: 450, ledger: CurrencyCode.parse("USD")!))
        XCTAssertEqual(transfers[1].ledger, 840)
    }

    func testTwoPhaseColumns() throws {
        let text = "transaction_id,from_account,to_account,amount,currency,flags,pending_id\n1,2,3,5,USD,pending,\n2,0,0,0,USD,post_pending,1\n"
        guard case .transfers(let transfers) = try parse(text).get() else { return XCTFail() }
        XCTAssertEqual(transfers[0].flags, .pending)
        XCTAssertEqual(transfers[1].flags, .postPending)
        XCTAssertEqual(transfers[1].pendingId, 1)
    }

    func testAccounts() throws {
        guard case .accounts(let accounts) = try parse("account_id,currency,flags\n7,EUR,debits_must_not_exceed_credits\n8,EUR,\n").get() else { return XCTFail() }
        XCTAssertEqual(accounts, [Account(id: 7, ledger: CurrencyCode.parse("EUR")!, flags: .debitsMustNotExceedCredits), Account(id: 8, ledger: CurrencyCode.parse("EUR")!)])
    }

    func testLargestValues() throws {
        let max = "340282366920938463463374607431768211455"
        guard case .transfers(let transfers) = try parse("transaction_id,from_account,to_account,amount,currency\n1,2,3,\(max),USD\n").get() else { return XCTFail() }
        XCTAssertEqual(transfers[0].amount, UInt128.max)
    }

    func testErrorsNameTheLine() {
        let header = "transaction_id,from_account,to_account,amount,currency\n"
        let cases: [(String, Int, String)] = [
            ("1,2,3,4.50,USD\n", 2, "not a non-negative integer"),
            ("1,2,3,-5,USD\n", 2, "not a non-negative integer"),
            ("1,2,3,5\n", 2, "expected 5 fields"),
            ("1,2,3,5,USD\n2,2,3,340282366920938463463374607431768211456,USD\n", 3, "does not fit in 128 bits"),
            ("1,2,3,5,usd!\n", 2, "currency"),
            ("1,2,3,5,USD,bogus,\n", 2, "expected 5 fields"),
            ("\"1\",2,3,5,USD\n", 2, "quoted"),
            ("1,,3,5,USD\n", 2, "from_account is empty"),
        ]
        for (body, line, fragment) in cases {
            guard case .failure(let error) = parse(header + body) else { XCTFail("accepted: \(body)"); continue }
            XCTAssertEqual(error.line, line, body)
            XCTAssertTrue(error.message.contains(fragment), "\(error.message) lacks '\(fragment)'")
        }
    }

    func testUnknownHeaderAndEmptyFile() {
        guard case .failure(let error) = parse("id,amount\n1,2\n") else { return XCTFail() }
        XCTAssertEqual(error.line, 1)
        XCTAssertTrue(error.message.contains("unknown header"))
        guard case .failure(let empty) = parse("") else { return XCTFail() }
        XCTAssertTrue(empty.message.contains("empty"))
    }

    func testOverlongLineAndBadUTF8() {
        let long = "transaction_id,from_account,to_account,amount,currency\n" + String(repeating: "1", count: 5000) + "\n"
        guard case .failure(let error) = parse(long) else { return XCTFail() }
        XCTAssertEqual(error.line, 2)
        var bytes = Array("transaction_id,from_account,to_account,amount,currency\n1,2,3,4,USD\n".utf8)
        bytes.append(contentsOf: [0xFF, 0xFE, 0x0A])
        guard case .failure(let utf8) = bytes.withUnsafeBytes({ CSVRecords.parse($0) }) else { return XCTFail() }
        XCTAssertEqual(utf8.line, 3)
    }

    func testCurrencyCodes() {
        XCTAssertEqual(CurrencyCode.format(CurrencyCode.parse("USD")!), "USD")
        XCTAssertEqual(CurrencyCode.parse("840"), 840)
        XCTAssertEqual(CurrencyCode.format(840), "840")
        XCTAssertNil(CurrencyCode.parse("0"))
        XCTAssertNil(CurrencyCode.parse("TOOLONG"))
        XCTAssertNil(CurrencyCode.parse("4294967296"))
    }
}
