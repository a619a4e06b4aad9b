// One test per transfer result code: what causes it, and what it leaves behind.
@testable import LedgerCore
import XCTest

final class TransferResultTests: XCTestCase {
    let usd: UInt32 = 840
    var test: TestLedger!

    override func setUp() {
        // Wallets 2...5 hold 10,000 each; account 1 funded them.
        test = TestLedger.withWallets(5, ledger: usd)
    }

    private func transfer(_ id: UInt128, _ debit: UInt128 = 2, _ credit: UInt128 = 3, amount: UInt128 = 100,
                          ledger: UInt32? = nil, flags: TransferFlags = [], pendingId: UInt128 = 0) -> Transfer {
        Transfer(id: id, debitAccountId: debit, creditAccountId: credit, amount: amount, ledger: ledger ?? usd, flags: flags, pendingId: pendingId)
    }

    func testOk() {
        XCTAssertEqual(test.apply(transfer(1)), .ok)
        XCTAssertEqual(test.balance(2).debitsPosted, 100)
        XCTAssertEqual(test.balance(3).creditsPosted, 10_100)
        XCTAssertEqual(test.ledger.transfer(id: 1)?.result, .ok)
        test.assertConserved()
    }

    func testExistsHasNoEffect() {
        XCTAssertEqual(test.apply(transfer(1)), .ok)
        XCTAssertEqual(test.apply(transfer(1)), .exists)
        XCTAssertEqual(test.balance(2).debitsPosted, 100)
    }

    func testExistsWithinTheSameBatch() {
        XCTAssertEqual(test.apply([transfer(1), transfer(1)]), [.ok, .exists])
        XCTAssertEqual(test.balance(2).debitsPosted, 100)
    }

    func testExistsWithDifferentFields() {
        XCTAssertEqual(test.apply(transfer(1)), .ok)
        XCTAssertEqual(test.apply(transfer(1, amount: 101)), .existsWithDifferentFields)
        XCTAssertEqual(test.balance(2).debitsPosted, 100)
    }

    func testIdAlreadyFailedIsNeverReevaluated() {
        XCTAssertEqual(test.apply(transfer(1, amount: 20_000)), .exceedsCredits)
        // Fund wallet 2 so the same transfer would now succeed: the id stays spent.
        XCTAssertEqual(test.apply(Transfer(id: 50, debitAccountId: 1, creditAccountId: 2, amount: 50_000, ledger: usd)), .ok)
        XCTAssertEqual(test.apply(transfer(1, amount: 20_000)), .idAlreadyFailed)
        XCTAssertEqual(test.apply(transfer(1, amount: 5)), .idAlreadyFailed)
        XCTAssertEqual(test.balance(2).debitsPosted, 0)
        XCTAssertEqual(test.ledger.transfer(id: 1)?.result, .exceedsCredits)
    }

    func testInvalidFieldsLeaveTheIdFree() {
        XCTAssertEqual(test.apply(transfer(1, amount: 0)), .amountMustNotBeZero)
        XCTAssertNil(test.ledger.transfer(id: 1))
        XCTAssertEqual(test.apply(transfer(1, amount: 7)), .ok)
    }

    func testIdMustNotBeZero() { XCTAssertEqual(test.apply(transfer(0)), .idMustNotBeZero) }
    func testIdMustNotBeIntMax() { XCTAssertEqual(test.apply(transfer(UInt128.max)), .idMustNotBeIntMax) }

    func testReservedField() {
        var bad = transfer(1)
        bad.reserved = 1
        XCTAssertEqual(test.apply(bad), .reservedField)
    }

    func testReservedFlag() {
        XCTAssertEqual(test.apply(transfer(1, flags: TransferFlags(rawValue: 1 << 9))), .reservedFlag)
    }

    func testFlagsAreMutuallyExclusive() {
        XCTAssertEqual(test.apply(transfer(1, flags: [.pending, .postPending], pendingId: 9)), .flagsAreMutuallyExclusive)
        XCTAssertEqual(test.apply(transfer(2, flags: [.postPending, .voidPending], pendingId: 9)), .flagsAreMutuallyExclusive)
    }

    func testTimestampMustBeZero() {
        var bad = transfer(1)
        bad.timestamp = 5
        XCTAssertEqual(test.apply(bad), .timestampMustBeZero)
    }

    func testDebitAccountIdMustNotBeZeroOrIntMax() {
        XCTAssertEqual(test.apply(transfer(1, 0, 3)), .debitAccountIdMustNotBeZeroOrIntMax)
        XCTAssertEqual(test.apply(transfer(1, UInt128.max, 3)), .debitAccountIdMustNotBeZeroOrIntMax)
    }

    func testCreditAccountIdMustNotBeZeroOrIntMax() {
        XCTAssertEqual(test.apply(transfer(1, 2, 0)), .creditAccountIdMustNotBeZeroOrIntMax)
        XCTAssertEqual(test.apply(transfer(1, 2, UInt128.max)), .creditAccountIdMustNotBeZeroOrIntMax)
    }

    func testAccountsMustBeDifferent() { XCTAssertEqual(test.apply(transfer(1, 2, 2)), .accountsMustBeDifferent) }
    func testAmountMustNotBeZero() { XCTAssertEqual(test.apply(transfer(1, amount: 0)), .amountMustNotBeZero) }
    func testLedgerMustNotBeZero() { XCTAssertEqual(test.apply(transfer(1, ledger: 0)), .ledgerMustNotBeZero) }
    func testPendingIdMustBeZero() { XCTAssertEqual(test.apply(transfer(1, pendingId: 5)), .pendingIdMustBeZero) }

    func testPendingIdMustNotBeZero() {
        XCTAssertEqual(test.apply(transfer(1, flags: .postPending)), .pendingIdMustNotBeZero)
    }

    func testPendingIdMustBeDifferent() {
        XCTAssertEqual(test.apply(transfer(1, flags: .voidPending, pendingId: 1)), .pendingIdMustBeDifferent)
    }

    func testDebitAccountNotFoundSpendsTheId() {
        XCTAssertEqual(test.apply(transfer(1, 99, 3)), .debitAccountNotFound)
        XCTAssertEqual(test.ledger.transfer(id: 1)?.result, .debitAccountNotFound)
        XCTAssertEqual(test.apply(transfer(1, 99, 3)), .idAlreadyFailed)
    }

    func testCreditAccountNotFound() { XCTAssertEqual(test.apply(transfer(1, 2, 99)), .creditAccountNotFound) }

    func testAccountsMustHaveTheSameLedger() {
        test.create([Account(id: 20, ledger: 978)])
        XCTAssertEqual(test.apply(transfer(1, 2, 20)), .accountsMustHaveTheSameLedger)
    }

    func testTransferMustHaveTheSameLedgerAsAccounts() {
        XCTAssertEqual(test.apply(transfer(1, ledger: 978)), .transferMustHaveTheSameLedgerAsAccounts)
    }

    func testExceedsCreditsIsInsufficientFunds() {
        XCTAssertEqual(test.apply(transfer(1, amount: 10_000)), .ok)
        XCTAssertEqual(test.apply(transfer(2, amount: 1)), .exceedsCredits)
        XCTAssertEqual(test.balance(2).debitsPosted, 10_000)
        test.assertConserved()
    }

    func testExceedsCreditsCountsPendingDebits() {
        XCTAssertEqual(test.apply(transfer(1, amount: 9_000, flags: .pending)), .ok)
        XCTAssertEqual(test.apply(transfer(2, amount: 1_001)), .exceedsCredits)
        XCTAssertEqual(test.apply(transfer(3, amount: 1_000)), .ok)
    }

    func testExceedsDebits() {
        test.create([Account(id: 30, ledger: usd, flags: .creditsMustNotExceedDebits)])
        XCTAssertEqual(test.apply(transfer(1, 2, 30)), .exceedsDebits)
    }

    private func ledgerWithHugeBalances() -> TestLedger {
        let huge = TestLedger()
        huge.create([Account(id: 1, ledger: 1), Account(id: 2, ledger: 1), Account(id: 3, ledger: 1)])
        XCTAssertEqual(huge.apply(Transfer(id: 100, debitAccountId: 1, creditAccountId: 2, amount: UInt128.max, ledger: 1)), .ok)
        return huge
    }

    func testOverflowsDebitsPosted() {
        let huge = ledgerWithHugeBalances()
        XCTAssertEqual(huge.apply(Transfer(id: 1, debitAccountId: 1, creditAccountId: 3, amount: 1, ledger: 1)), .overflowsDebitsPosted)
        XCTAssertEqual(huge.balance(3).creditsPosted, 0)
    }

    func testOverflowsCreditsPosted() {
        let huge = ledgerWithHugeBalances()
        XCTAssertEqual(huge.apply(Transfer(id: 1, debitAccountId: 3, creditAccountId: 2, amount: 1, ledger: 1)), .overflowsCreditsPosted)
        XCTAssertEqual(huge.balance(3).debitsPosted, 0)
    }

    func testOverflowsDebitsPending() {
        let huge = TestLedger()
        huge.create([Account(id: 1, ledger: 1), Account(id: 2, ledger: 1), Account(id: 3, ledger: 1)])
        XCTAssertEqual(huge.apply(Transfer(id: 100, debitAccountId: 1, creditAccountId: 2, amount: UInt128.max, ledger: 1, flags: .pending)), .ok)
        XCTAssertEqual(huge.apply(Transfer(id: 1, debitAccountId: 1, creditAccountId: 3, amount: 1, ledger: 1, flags: .pending)), .overflowsDebitsPending)
    }

    func testOverflowsCreditsPending() {
        let huge = TestLedger()
        huge.create([Account(id: 1, ledger: 1), Account(id: 2, ledger: 1), Account(id: 3, ledger: 1)])
        XCTAssertEqual(huge.apply(Transfer(id: 100, debitAccountId: 1, creditAccountId: 2, amount: UInt128.max, ledger: 1, flags: .pending)), .ok)
        XCTAssertEqual(huge.apply(Transfer(id: 1, debitAccountId: 3, creditAccountId: 2, amount: 1, ledger: 1, flags: .pending)), .overflowsCreditsPending)
    }

    func testOverflowsDebits() {
        let huge = TestLedger()
        huge.create([Account(id: 1, ledger: 1), Account(id: 2, ledger: 1), Account(id: 3, ledger: 1)])
        XCTAssertEqual(huge.apply(Transfer(id: 100, debitAccountId: 1, creditAccountId: 2, amount: UInt128.max, ledger: 1, flags: .pending)), .ok)
        // Posted debits fit, but pending + posted would not.
        XCTAssertEqual(huge.apply(Transfer(id: 1, debitAccountId: 1, creditAccountId: 3, amount: 1, ledger: 1)), .overflowsDebits)
    }

    func testOverflowsCredits() {
        let huge = TestLedger()
        huge.create([Account(id: 1, ledger: 1), Account(id: 2, ledger: 1), Account(id: 3, ledger: 1)])
        XCTAssertEqual(huge.apply(Transfer(id: 100, debitAccountId: 1, creditAccountId: 2, amount: UInt128.max, ledger: 1, flags: .pending)), .ok)
        XCTAssertEqual(huge.apply(Transfer(id: 1, debitAccountId: 3, creditAccountId: 2, amount: 1, ledger: 1)), .overflowsCredits)
    }

    // MARK: Two-phase

    func testPendingThenPostInFull() {
        XCTAssertEqual(test.apply(transfer(1, amount: 500, flags: .pending)), .ok)
        XCTAssertEqual(test.balance(2).debitsPending, 500)
        XCTAssertEqual(test.balance(3).creditsPending, 500)
        XCTAssertEqual(test.apply(transfer(2, 0, 0, amount: 0, ledger: 0, flags: .postPending, pendingId: 1)), .ok)
        XCTAssertEqual(test.balance(2).debitsPending, 0)
        XCTAssertEqual(test.balance(2).debitsPosted, 500)
        XCTAssertEqual(test.balance(3).creditsPosted, 10_500)
        XCTAssertEqual(test.ledger.transfer(id: 1)?.pendingState, .posted)
        test.assertConserved()
    }

    func testPostASmallerAmountReleasesTheRest() {
        XCTAssertEqual(test.apply(transfer(1, amount: 500, flags: .pending)), .ok)
        XCTAssertEqual(test.apply(transfer(2, amount: 200, flags: .postPending, pendingId: 1)), .ok)
        XCTAssertEqual(test.balance(2).debitsPending, 0)
        XCTAssertEqual(test.balance(2).debitsPosted, 200)
        XCTAssertEqual(test.balance(3).creditsPending, 0)
        test.assertConserved()
    }

    func testVoidPending() {
        XCTAssertEqual(test.apply(transfer(1, amount: 500, flags: .pending)), .ok)
        XCTAssertEqual(test.apply(transfer(2, 0, 0, amount: 0, flags: .voidPending, pendingId: 1)), .ok)
        XCTAssertEqual(test.balance(2).debitsPending, 0)
        XCTAssertEqual(test.balance(2).debitsPosted, 0)
        XCTAssertEqual(test.ledger.transfer(id: 1)?.pendingState, .voided)
    }

    func testPendingTransferNotFound() {
        XCTAssertEqual(test.apply(transfer(2, flags: .postPending, pendingId: 77)), .pendingTransferNotFound)
        XCTAssertEqual(test.apply(transfer(2, flags: .postPending, pendingId: 77)), .idAlreadyFailed)
    }

    func testPendingTransferNotFoundWhenThePendingFailed() {
        XCTAssertEqual(test.apply(transfer(1, amount: 1_000_000, flags: .pending)), .exceedsCredits)
        XCTAssertEqual(test.apply(transfer(2, flags: .postPending, pendingId: 1)), .pendingTransferNotFound)
    }

    func testPendingTransferNotPending() {
        XCTAssertEqual(test.apply(transfer(1)), .ok)
        XCTAssertEqual(test.apply(transfer(2, flags: .postPending, pendingId: 1)), .pendingTransferNotPending)
    }

    func testPendingTransferAlreadyPosted() {
        XCTAssertEqual(test.apply(transfer(1, flags: .pending)), .ok)
        XCTAssertEqual(test.apply(transfer(2, flags: .postPending, pendingId: 1)), .ok)
        XCTAssertEqual(test.apply(transfer(3, amount: 0, flags: .voidPending, pendingId: 1)), .pendingTransferAlreadyPosted)
    }

    func testPendingTransferAlreadyVoided() {
        XCTAssertEqual(test.apply(transfer(1, flags: .pending)), .ok)
        XCTAssertEqual(test.apply(transfer(2, amount: 0, flags: .voidPending, pendingId: 1)), .ok)
        XCTAssertEqual(test.apply(transfer(3, flags: .postPending, pendingId: 1)), .pendingTransferAlreadyVoided)
    }

    func testPendingTransferHasDifferentDebitAccount() {
        XCTAssertEqual(test.apply(transfer(1, flags: .pending)), .ok)
        XCTAssertEqual(test.apply(transfer(2, 4, 3, flags: .postPending, pendingId: 1)), .pendingTransferHasDifferentDebitAccount)
    }

    func testPendingTransferHasDifferentCreditAccount() {
        XCTAssertEqual(test.apply(transfer(1, flags: .pending)), .ok)
        XCTAssertEqual(test.apply(transfer(2, 2, 4, flags: .postPending, pendingId: 1)), .pendingTransferHasDifferentCreditAccount)
    }

    func testPendingTransferHasDifferentLedger() {
        XCTAssertEqual(test.apply(transfer(1, flags: .pending)), .ok)
        XCTAssertEqual(test.apply(transfer(2, ledger: 978, flags: .postPending, pendingId: 1)), .pendingTransferHasDifferentLedger)
    }

    func testExceedsPendingTransferAmount() {
        XCTAssertEqual(test.apply(transfer(1, amount: 100, flags: .pending)), .ok)
        XCTAssertEqual(test.apply(transfer(2, amount: 101, flags: .postPending, pendingId: 1)), .exceedsPendingTransferAmount)
    }

    func testPendingTransferHasDifferentAmount() {
        XCTAssertEqual(test.apply(transfer(1, amount: 100, flags: .pending)), .ok)
        XCTAssertEqual(test.apply(transfer(2, amount: 99, flags: .voidPending, pendingId: 1)), .pendingTransferHasDifferentAmount)
    }

    func testResultNumbersAreFixed() {
        // Guards the numbering: these values are part of the client protocol.
        XCTAssertEqual(TransferResult.allCases.count, 39)
        XCTAssertEqual(TransferResult.exceedsCredits.rawValue, 36)
        XCTAssertEqual(TransferResult.exceedsCredits.name, "exceeds_credits")
        XCTAssertTrue(TransferResult.debitAccountNotFound.spendsId)
        XCTAssertFalse(TransferResult.pendingIdMustBeDifferent.spendsId)
        XCTAssertFalse(TransferResult.exists.spendsId)
    }
}
