// Helpers: a ledger with a clock of its own, applying records one batch at a time.
import LedgerCore
import XCTest

final class TestLedger {
    let ledger: Ledger
    private var timestampNs: UInt64 = 1_000

    init(seed: UInt64 = 7) { ledger = Ledger(hashSeed: seed, accountsCapacity: 16, transfersCapacity: 16) }

    @discardableResult
    func create(_ accounts: [Account]) -> [AccountResult] {
        var results = [UInt8](repeating: 255, count: accounts.count)
        accounts.withUnsafeBufferPointer { records in
            results.withUnsafeMutableBufferPointer { ledger.createAccounts(records, timestampNs: timestampNs, results: $0) }
        }
        timestampNs += UInt64(max(accounts.count, 1))
        return results.map { AccountResult(rawValue: $0)! }
    }

    @discardableResult
    func apply(_ transfers: [Transfer]) -> [TransferResult] {
        var results = [UInt8](repeating: 255, count: transfers.count)
        transfers.withUnsafeBufferPointer { records in
            results.withUnsafeMutableBufferPointer { ledger.createTransfers(records, timestampNs: timestampNs, results: $0) }
        }
        timestampNs += UInt64(max(transfers.count, 1))
        return results.map { TransferResult(rawValue: $0)! }
    }

    func apply(_ transfer: Transfer) -> TransferResult { apply([transfer])[0] }

    func balance(_ id: UInt128) -> Account { ledger.account(id: id)! }

    /// Funding account 1 (no limits) and wallets 2...count (cannot go negative), on `ledger`.
    static func withWallets(_ count: Int, ledger code: UInt32 = 840, funding: UInt128 = 10_000) -> TestLedger {
        let test = TestLedger()
        var accounts = [Account(id: 1, ledger: code)]
        for id in 2...count { accounts.append(Account(id: UInt128(id), ledger: code, flags: .debitsMustNotExceedCredits)) }
        XCTAssertEqual(Set(test.create(accounts)), [.ok])
        var id: UInt128 = 1_000_000
        for wallet in 2...count {
            id += 1
            XCTAssertEqual(test.apply(Transfer(id: id, debitAccountId: 1, creditAccountId: UInt128(wallet), amount: funding, ledger: code)), .ok)
        }
        return test
    }

    func assertConserved(file: StaticString = #filePath, line: UInt = #line) {
        for (code, totals) in ledger.totalsByLedger() {
            XCTAssertTrue(totals.isBalanced, "ledger \(code) not balanced: \(totals)", file: file, line: line)
        }
    }
}
