// The read model's balance history against the ledger itself: every account at every op.
import Foundation
@testable import HTTPShim
import LedgerCore
import Randomness
import XCTest

final class BalanceHistoryTests: XCTestCase {
    /// Random transfers (posted, pending, posts and voids of pending ones, amounts past 64 bits) in
    /// 300 batches. After each, the ledger's accounts are kept as the truth; then every past read
    /// the history answers must equal it, every op in its window must be answered, and a small
    /// `balance_history_entries_max` must move the window forward rather than grow.
    func testPastBalancesEqualTheLedgerAtEveryOp() {
        let ledger = Ledger()
        let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Limits.batchRecordsMax)
        defer { results.deallocate() }
        let buffer = BatchBuffer(recordKind: .accounts)
        let usd = CurrencyCode.parse("USD")!
        let unbounded = ReadModel(ledger: ledger, op: 0, historyEntriesMax: 1 << 20)
        let bounded = ReadModel(ledger: ledger, op: 0, historyEntriesMax: 400)
        var truth: [UInt64: [UInt128: Account]] = [:]
        var times: [UInt64: (timestampNs: UInt64, count: Int)] = [:]
        var random = SplitMix64(seed: 7)
        var pendingIds: [UInt128] = []
        var nextTransferId: UInt128 = 1

        func commit(op: UInt64) {
            let timestampNs = op * 1_000_000
            let batch = buffer.seal(op: op, timestampNs: timestampNs)
            ledger.apply(batch, results: results)
            let changed = accountsChanged(by: batch, in: ledger)
            unbounded.publish(changed, op: op, batch: BalanceHistory.BatchTime(batch.header))
            bounded.publish(changed, op: op, batch: BalanceHistory.BatchTime(batch.header))
            var accounts: [UInt128: Account] = [:]
            for index in 0..<ledger.accountsCount { let account = ledger.account(atIndex: index); accounts[account.id] = account }
            truth[op] = accounts
            times[op] = (timestampNs, batch.recordCount)
        }

        // Accounts 1...12 at op 1; 13...16 at op 40 (so existence changes inside the window).
        buffer.reset(recordKind: .accounts)
        for id in 1...12 { buffer.append(Account(id: UInt128(id), ledger: usd)) }
        commit(op: 1)
        for op in UInt64(2)...300 {
            if op == 40 {
                buffer.reset(recordKind: .accounts)
                for id in 13...16 { buffer.append(Account(id: UInt128(id), ledger: usd)) }
                commit(op: op)
                continue
            }
            buffer.reset(recordKind: .transfers)
            let accountsNow = op < 40 ? 12 : 16
            for _ in 0..<(1 + Int(random.next() % 6)) {
                let debit = UInt128(1 + random.next() % UInt64(accountsNow))
                var credit = UInt128(1 + random.next() % UInt64(accountsNow))
                if credit == debit { credit = debit % UInt128(accountsNow) + 1 }
                let amount = random.next() % 4 == 0 ? UInt128(random.next()) << 6 : UInt128(1 + random.next() % 10_000)
                let id = nextTransferId
                nextTransferId += 1
                switch random.next() % 5 {
                case 0:
                    buffer.append(Transfer(id: id, debitAccountId: debit, creditAccountId: credit, amount: amount, ledger: usd, flags: .pending))
                    pendingIds.append(id)
                case 1 where !pendingIds.isEmpty:
                    let pending = pendingIds.removeFirst()
                    let flags: TransferFlags = random.next() % 2 == 0 ? .postPending : .voidPending
                    buffer.append(Transfer(id: id, debitAccountId: 0, creditAccountId: 0, amount: 0, ledger: usd, flags: flags, pendingId: pending))
                default:
                    buffer.append(Transfer(id: id, debitAccountId: debit, creditAccountId: credit, amount: amount, ledger: usd))
                }
            }
            commit(op: op)
        }

        for (model, name) in [(unbounded, "unbounded"), (bounded, "bounded")] {
            let windowStart = try! XCTUnwrap(model.historyState.windowStartOp)
            if model === bounded {
                XCTAssertGreaterThan(windowStart, 100, "400 entries cannot reach back over 300 busy batches")
                XCTAssertLessThanOrEqual(model.historyState.entries, 400)
            } else {
                XCTAssertEqual(windowStart, 0)
            }
            for op in UInt64(1)...300 {
                for id in UInt128(1)...17 {
                    let answer = model.pastAccount(id: id, atOp: op, atTimeNs: nil)
                    guard op >= windowStart else {
                        XCTAssertNil(answer, "\(name): op \(op) is before the window")
                        continue
                    }
                    let past = try! XCTUnwrap(answer, "\(name): op \(op) is in the window")
                    XCTAssertEqual(past.point.op, op)
                    XCTAssertTrue(past.point.isWholeBatch)
                    XCTAssertEqual(past.account, truth[op]![id], "\(name): account \(id) at op \(op)")
                }
                // An instant inside the batch: answered only for accounts the batch left alone, and then
                // as they were before it (which is what they were at the instant).
                let (timestampNs, count) = times[op]!
                guard count > 1, op > windowStart + 1 else { continue }
                let instant = timestampNs + UInt64(count / 2) - 1
                for id in UInt128(1)...17 {
                    guard let past = model.pastAccount(id: id, atOp: nil, atTimeNs: instant) else {
                        XCTAssertNotEqual(truth[op - 1]![id], truth[op]![id], "\(name): only a changed account needs the replay")
                        continue
                    }
                    XCTAssertEqual(past.point.op, op)
                    XCTAssertEqual(past.point.records, count / 2)
                    // Created by then (its record is among the first count / 2), with the balances
                    // it had before the batch; or not yet created.
                    let created = truth[op]![id].flatMap { $0.timestamp <= instant ? $0 : nil }
                    XCTAssertEqual(past.account, created.map { truth[op - 1]![id] ?? $0 }, "\(name): account \(id) inside op \(op)")
                }
            }
        }
    }
}

