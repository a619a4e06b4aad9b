// The reserved ids 0 and 2^128-1: never found by a look-up, refused by every write and every parser.
import LedgerCore
import XCTest

final class ReservedIdTests: XCTestCase {
    /// The id index marks an empty slot with key 0: a look-up of 0 once landed on an empty slot
    /// and answered with its row, 0, account 1's values.
    func testLookUpsOfReservedIdsFindNothing() {
        let test = TestLedger.withWallets(40)
        let before = test.balance(1).debitsPosted
        XCTAssertEqual(test.apply(Transfer(id: 9_001, debitAccountId: 1, creditAccountId: 2, amount: 5, ledger: 840)), .ok)
        XCTAssertNil(test.ledger.account(id: 0))
        XCTAssertNil(test.ledger.account(id: .max))
        XCTAssertNil(test.ledger.transfer(id: 0))
        XCTAssertNil(test.ledger.transfer(id: .max))
        XCTAssertEqual(test.ledger.account(id: 1)?.debitsPosted, before + 5)
    }

    func testWritesWithReservedIdsAreRefusedByTheLedger() {
        let test = TestLedger.withWallets(3)
        let before = test.balance(1)
        XCTAssertEqual(test.create([Account(id: 0, ledger: 840), Account(id: .max, ledger: 840)]), [.idMustNotBeZero, .idMustNotBeIntMax])
        XCTAssertEqual(test.apply([
            Transfer(id: 0, debitAccountId: 1, creditAccountId: 2, amount: 1, ledger: 840),
            Transfer(id: .max, debitAccountId: 1, creditAccountId: 2, amount: 1, ledger: 840),
            Transfer(id: 5, debitAccountId: 0, creditAccountId: 2, amount: 1, ledger: 840),
            Transfer(id: 6, debitAccountId: 1, creditAccountId: .max, amount: 1, ledger: 840),
        ]), [.idMustNotBeZero, .idMustNotBeIntMax, .debitAccountIdMustNotBeZeroOrIntMax, .creditAccountIdMustNotBeZeroOrIntMax])
        XCTAssertEqual(test.balance(1), before)
    }

    func testParsersRefuseReservedIdsInTheSameWords() {
        XCTAssertEqual(ReservedIds.parse("0", "account id"), .failure(IdError(message: "account id 0 is reserved: no account or transfer has id 0 or 2^128-1")))
        XCTAssertEqual(ReservedIds.parse("340282366920938463463374607431768211455", "account id"),
                       .failure(IdError(message: "account id 2^128-1 is reserved: no account or transfer has id 0 or 2^128-1")))
        XCTAssertEqual(ReservedIds.parse("000", "account id"), .failure(IdError(message: "account id 0 is reserved: no account or transfer has id 0 or 2^128-1")))
        XCTAssertEqual(ReservedIds.parse("340282366920938463463374607431768211454", "x"), .success(UInt128.max - 1))
        XCTAssertEqual(ReservedIds.parse("1", "x"), .success(1))
        guard case .failure(let tooLarge) = ReservedIds.parse("340282366920938463463374607431768211456", "account id") else { return XCTFail() }
        XCTAssertTrue(tooLarge.message.contains("does not fit in 128 bits"))
    }

    func testCSVRefusesReservedIdsNamingTheLineAndField() {
        let transfers = "transaction_id,from_account,to_account,amount,currency,flags,pending_id\n"
        let max = "340282366920938463463374607431768211455"
        let cases: [(String, String)] = [
            (transfers + "0,1,2,5,USD,,\n", "transaction_id 0 is reserved"),
            (transfers + "\(max),1,2,5,USD,,\n", "transaction_id 2^128-1 is reserved"),
            (transfers + "7,0,2,5,USD,,\n", "from_account 0 is reserved"),
            (transfers + "7,1,\(max),5,USD,,\n", "to_account 2^128-1 is reserved"),
            (transfers + "7,\(max),0,0,USD,post_pending,3\n", "from_account 2^128-1 is reserved"),
            (transfers + "7,0,0,0,USD,void_pending,\(max)\n", "pending_id 2^128-1 is reserved"),
            ("account_id,currency\n0,USD\n", "account_id 0 is reserved"),
            ("account_id,currency\n\(max),USD\n", "account_id 2^128-1 is reserved"),
        ]
        for (text, fragment) in cases {
            let result = Array(text.utf8).withUnsafeBytes { CSVRecords.parse($0) }
            guard case .failure(let error) = result else { XCTFail("accepted: \(text)"); continue }
            XCTAssertEqual(error.line, 2, text)
            XCTAssertTrue(error.message.contains(fragment), "\(error.message) lacks '\(fragment)'")
        }
        // Posting a pending transfer may leave its accounts 0: "the pending transfer's".
        let post = Array((transfers + "8,0,0,0,USD,post_pending,3\n").utf8).withUnsafeBytes { CSVRecords.parse($0) }
        guard case .success(.transfers(let parsed)) = post else { return XCTFail("\(post)") }
        XCTAssertEqual(parsed[0].debitAccountId, 0)
    }
}
