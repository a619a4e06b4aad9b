// Random batches, valid and invalid mixed: money is conserved after every batch, and replaying the
// same batches gives the same results and the same digest.
import LedgerCore
import Workload
import XCTest

final class PropertyTests: XCTestCase {
    /// A random transfer over `accounts` ids in two currencies, often invalid, sometimes two-phase.
    private func randomTransfer(_ random: inout SplitMix64, id: UInt128, recentIds: [UInt128]) -> Transfer {
        let accounts = 12
        func account() -> UInt128 { UInt128(1 + random.below(accounts + 2)) }  // ids 13, 14 do not exist
        let ledger: UInt32 = random.below(10) == 0 ? 978 : 840
        let amounts: [UInt128] = [0, 1, 7, 100, 5_000, 1 << 100, UInt128.max]
        var transfer = Transfer(id: id, debitAccountId: account(), creditAccountId: account(),
                                amount: amounts[random.below(amounts.count)], ledger: ledger)
        switch random.below(10) {
        case 0: transfer.flags = .pending
        case 1, 2:
            transfer.flags = random.below(2) == 0 ? .postPending : .voidPending
            transfer.pendingId = recentIds.isEmpty ? 1 : recentIds[random.below(recentIds.count)]
            if random.below(2) == 0 { transfer.debitAccountId = 0; transfer.creditAccountId = 0 }
            if random.below(2) == 0 { transfer.amount = 0 }
        case 3 where !recentIds.isEmpty:
            transfer.id = recentIds[random.below(recentIds.count)]  // a retry, same or different fields
        default: break
        }
        if random.below(50) == 0 { transfer.reserved = 1 }
        return transfer
    }

    private func accounts() -> [Account] {
        (1...12).map { id in
            let ledger: UInt32 = id > 10 ? 978 : 840
            let flags: AccountFlags = id == 1 || id == 11 ? [] : (id % 3 == 0 ? .creditsMustNotExceedDebits : .debitsMustNotExceedCredits)
            return Account(id: UInt128(id), ledger: ledger, flags: flags)
        }
    }

    func testRandomBatchesConserveMoneyAndReplayIdentically() {
        for seed in UInt64(1)...25 {
            var random = SplitMix64(seed: seed)
            var batches: [[Transfer]] = []
            var recentIds: [UInt128] = []
            var nextId: UInt128 = 1
            for _ in 0..<20 {
                var batch: [Transfer] = []
                for _ in 0..<(1 + random.below(60)) {
                    let transfer = randomTransfer(&random, id: nextId, recentIds: recentIds)
                    nextId += 1
                    batch.append(transfer)
                    recentIds.append(transfer.id)
                    if recentIds.count > 40 { recentIds.removeFirst() }
                }
                batches.append(batch)
            }
            // Funding first, so some transfers succeed.
            let funding = (2...10).map { Transfer(id: UInt128(1_000_000 + $0), debitAccountId: 1, creditAccountId: UInt128($0), amount: 10_000, ledger: 840) }
                + [Transfer(id: 2_000_000, debitAccountId: 11, creditAccountId: 12, amount: 10_000, ledger: 978)]

            let first = TestLedger(seed: seed)
            first.create(accounts())
            first.apply(funding)
            var firstResults: [[TransferResult]] = []
            for batch in batches {
                firstResults.append(first.apply(batch))
                first.assertConserved()
                for id in 1...12 {
                    let account = first.balance(UInt128(id))
                    if account.flags.contains(.debitsMustNotExceedCredits) {
                        XCTAssertLessThanOrEqual(account.debitsPosted + account.debitsPending, account.creditsPosted, "seed \(seed)")
                    }
                    if account.flags.contains(.creditsMustNotExceedDebits) {
                        XCTAssertLessThanOrEqual(account.creditsPosted + account.creditsPending, account.debitsPosted, "seed \(seed)")
                    }
                }
            }
            let okCount = firstResults.joined().filter { $0 == .ok }.count
            XCTAssertGreaterThan(okCount, 0, "seed \(seed) exercised no successful transfer")

            let replay = TestLedger(seed: seed)
            replay.create(accounts())
            replay.apply(funding)
            let replayResults = batches.map { replay.apply($0) }
            XCTAssertEqual(replayResults, firstResults, "seed \(seed)")
            XCTAssertEqual(replay.ledger.digest(), first.ledger.digest(), "seed \(seed)")
        }
    }

    func testDigestDependsOnEveryBalance() {
        let one = TestLedger.withWallets(3)
        let two = TestLedger.withWallets(3)
        XCTAssertEqual(one.ledger.digest(), two.ledger.digest())
        XCTAssertEqual(two.apply(Transfer(id: 5, debitAccountId: 2, creditAccountId: 3, amount: 1, ledger: 840)), .ok)
        XCTAssertNotEqual(one.ledger.digest(), two.ledger.digest())
    }

    func testTablesGrowWithoutChangingResults() {
        // Start tiny so both id indexes and all columns grow many times.
        let ledger = Ledger(hashSeed: 3, accountsCapacity: 1, transfersCapacity: 1)
        let accounts = (1...3_000).map { Account(id: UInt128($0), ledger: 1) }
        var results = [UInt8](repeating: 0, count: Limits.batchRecordsMax)
        accounts.withUnsafeBufferPointer { records in
            results.withUnsafeMutableBufferPointer { ledger.createAccounts(records, timestampNs: 1, results: $0) }
        }
        let transfers = (1...8_000).map { (index: Int) -> Transfer in
            let debit = UInt128(1 + index % 3_000)
            let credit = UInt128(1 + (index * 7 + 1) % 3_000)
            return Transfer(id: UInt128(index) << 64 | 5, debitAccountId: debit, creditAccountId: credit, amount: 3, ledger: 1)
        }
        transfers.withUnsafeBufferPointer { records in
            results.withUnsafeMutableBufferPointer { ledger.createTransfers(records, timestampNs: 10_000, results: $0) }
        }
        XCTAssertEqual(ledger.accountsCount, 3_000)
        for id in stride(from: 1, through: 8_000, by: 97) {
            XCTAssertEqual(ledger.transfer(id: UInt128(id) << 64 | 5)?.result, .ok)
        }
        XCTAssertNil(ledger.transfer(id: 12345))
        XCTAssertTrue(ledger.totalsByLedger()[1]!.isBalanced)
    }
}
