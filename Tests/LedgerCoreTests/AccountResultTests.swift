// One test per account result code.
import LedgerCore
import XCTest

final class AccountResultTests: XCTestCase {
    private func create(_ account: Account, into test: TestLedger = TestLedger()) -> AccountResult { test.create([account])[0] }

    func testOk() {
        let test = TestLedger()
        XCTAssertEqual(create(Account(id: 1, ledger: 840, code: 3, flags: .debitsMustNotExceedCredits), into: test), .ok)
        let stored = test.balance(1)
        XCTAssertEqual(stored.code, 3)
        XCTAssertEqual(stored.flags, .debitsMustNotExceedCredits)
        XCTAssertGreaterThan(stored.timestamp, 0)
    }

    func testExists() {
        let test = TestLedger()
        XCTAssertEqual(create(Account(id: 1, ledger: 840), into: test), .ok)
        XCTAssertEqual(create(Account(id: 1, ledger: 840), into: test), .exists)
        XCTAssertEqual(test.ledger.accountsCount, 1)
    }

    func testExistsWithDifferentFields() {
        let test = TestLedger()
        XCTAssertEqual(create(Account(id: 1, ledger: 840), into: test), .ok)
        XCTAssertEqual(create(Account(id: 1, ledger: 978), into: test), .existsWithDifferentFields)
        XCTAssertEqual(create(Account(id: 1, ledger: 840, flags: .debitsMustNotExceedCredits), into: test), .existsWithDifferentFields)
    }

    func testIdMustNotBeZero() { XCTAssertEqual(create(Account(id: 0, ledger: 1)), .idMustNotBeZero) }
    func testIdMustNotBeIntMax() { XCTAssertEqual(create(Account(id: UInt128.max, ledger: 1)), .idMustNotBeIntMax) }

    func testReservedField() {
        var account = Account(id: 1, ledger: 1)
        account.reserved = 9
        XCTAssertEqual(create(account), .reservedField)
    }

    func testReservedFlag() { XCTAssertEqual(create(Account(id: 1, ledger: 1, flags: AccountFlags(rawValue: 1 << 5))), .reservedFlag) }

    func testFlagsAreMutuallyExclusive() {
        XCTAssertEqual(create(Account(id: 1, ledger: 1, flags: [.debitsMustNotExceedCredits, .creditsMustNotExceedDebits])), .flagsAreMutuallyExclusive)
    }

    func testTimestampMustBeZero() {
        var account = Account(id: 1, ledger: 1)
        account.timestamp = 1
        XCTAssertEqual(create(account), .timestampMustBeZero)
    }

    func testLedgerMustNotBeZero() { XCTAssertEqual(create(Account(id: 1, ledger: 0)), .ledgerMustNotBeZero) }

    func testBalancesMustBeZero() {
        var account = Account(id: 1, ledger: 1)
        account.creditsPosted = 100
        XCTAssertEqual(create(account), .balancesMustBeZero)
    }
}
