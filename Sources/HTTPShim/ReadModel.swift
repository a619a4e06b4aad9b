// The read side (CQRS): account balances as of the last applied batch, for readers on any thread.
import Foundation
import LedgerCore
import Replica

/// Account balances fed by the writer after each applied (durable) batch, never by anything not
/// yet applied. Readers take a read lock for one dictionary look-up; the writer publishes the
/// accounts a batch touched under the write lock, so the applier never waits on a reader for more
/// than one such look-up, and a reader never sees half a batch. Every answer says its op.
public final class ReadModel: @unchecked Sendable {
    private var accounts: [UInt128: Account]
    private var appliedOp: UInt64
    /// Past balances over a window of recent ops (answers `?at_op` and `?at_time` without a replay).
    private var history: BalanceHistory
    private var lock = pthread_rwlock_t()

    /// Every account of `ledger`, as of `op` (the ledger must be at `op` and not change meanwhile);
    /// `opBatch`: the time of batch `op`, when known (past reads at exactly `op` need it).
    init(ledger: Ledger, op: UInt64, opBatch: BalanceHistory.BatchTime? = nil, historyEntriesMax: Int = HTTPLimits().balanceHistoryEntriesMax) {
        accounts = ReadModel.allAccounts(of: ledger)
        appliedOp = op
        history = BalanceHistory(entriesMax: historyEntriesMax, startOp: op, startBatch: opBatch)
        pthread_rwlock_init(&lock, nil)
    }

    deinit { pthread_rwlock_destroy(&lock) }

    private static func allAccounts(of ledger: Ledger) -> [UInt128: Account] {
        var all: [UInt128: Account] = [:]
        all.reserveCapacity(ledger.accountsCount)
        for index in 0..<ledger.accountsCount {
            let account = ledger.account(atIndex: index)
            all[account.id] = account
        }
        return all
    }

    /// The account as of the returned op (nil: no such account at that op).
    public func account(id: UInt128) -> (account: Account?, op: UInt64) {
        pthread_rwlock_rdlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return (accounts[id], appliedOp)
    }

    public var op: UInt64 {
        pthread_rwlock_rdlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return appliedOp
    }

    /// The whole state was replaced (a replica installed its leader's snapshot at `op`): the
    /// balance history starts again there.
    func replaceAll(ledger: Ledger, op: UInt64) {
        let all = ReadModel.allAccounts(of: ledger)
        pthread_rwlock_wrlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        accounts = all
        appliedOp = op
        history = BalanceHistory(entriesMax: history.entriesMax, startOp: op, startBatch: nil)
    }

    /// The writer, after batch `op` is durable and applied: the accounts it changed, as they now are.
    func publish(_ changed: [Account], op: UInt64, batch: BalanceHistory.BatchTime) {
        pthread_rwlock_wrlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        precondition(op == appliedOp + 1, "the read model moves forward one applied batch at a time")
        var changes: [(before: Account?, after: Account)] = []
        changes.reserveCapacity(changed.count)
        for account in changed {
            changes.append((accounts.updateValue(account, forKey: account.id), account))
        }
        history.record(op: op, batch: batch, changes: changes)
        appliedOp = op
    }

    /// Entries the balance history holds, and the oldest op it reaches (nil: none kept).
    public var historyState: (entries: Int, windowStartOp: UInt64?) {
        pthread_rwlock_rdlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return (history.entriesCount, history.windowStartOp)
    }

    /// A past balance from the balance history, exact to the record: the account right after op
    /// `atOp`, or at instant `atTimeNs`. Nil when the history cannot say (the point is before its
    /// window, or an instant inside a batch that changed this account): `History` replays it instead.
    /// Never past the applied op: a later op or instant is answered as of the applied op.
    func pastAccount(id: UInt128, atOp: UInt64?, atTimeNs: UInt64?) -> (account: Account?, point: HistoryPoint)? {
        pthread_rwlock_rdlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        guard let windowStart = history.windowStartOp else { return nil }
        let point: HistoryPoint
        if let atOp {
            guard atOp >= windowStart, atOp <= appliedOp, let time = history.batchTime(op: atOp) else { return nil }
            point = HistoryPoint(op: atOp, records: time.recordCount, isWholeBatch: true, timestampNs: time.lastRecordTimestampNs)
        } else {
            guard let op = history.lastOp(startingAtOrBefore: atTimeNs!), let time = history.batchTime(op: op) else { return nil }
            let included = time.recordCount == 0 ? 0 : Int(min(UInt64(time.recordCount), atTimeNs! - time.timestampNs + 1))
            point = HistoryPoint(op: op, records: included, isWholeBatch: included == time.recordCount,
                                 timestampNs: time.timestampNs + UInt64(max(included, 1) - 1))
        }
        // Accounts are never removed, so one that does not exist now never did; one created after
        // the point has a later timestamp than every record the point includes.
        guard let current = accounts[id], current.timestamp <= point.timestampNs else { return (nil, point) }
        if point.isWholeBatch { return history.account(current, atOp: point.op).map { ($0, point) } }
        // Inside batch `op`: the history knows balances only after whole batches, which is enough
        // when the batch left this account alone.
        guard point.op > windowStart, !history.changed(id, inOp: point.op) else { return nil }
        return history.account(current, atOp: point.op - 1).map { ($0, point) }
    }
}

/// The accounts `batch` may have changed (both sides of each transfer, and of the pending transfer
/// a post or void resolves; each account created), as they are in `ledger` right after it: what
/// the read model and the event streams are told after each applied batch.
func accountsChanged(by batch: BatchView, in ledger: Ledger) -> [Account] {
    // Ids gathered, sorted and deduplicated: cheaper than a dictionary for a batch's few hundred.
    var ids: [UInt128] = []
    switch batch.recordKind {
    case .transfers:
        ids.reserveCapacity(batch.recordCount * 2)
        for transfer in batch.transfers {
            ids.append(transfer.debitAccountId)
            ids.append(transfer.creditAccountId)
            if transfer.pendingId != 0, let pending = ledger.transfer(id: transfer.pendingId)?.transfer {
                ids.append(pending.debitAccountId)
                ids.append(pending.creditAccountId)
            }
        }
    case .accounts:
        ids = batch.accounts.map(\.id)
    case .noop:
        return []
    }
    ids.sort()
    var changed: [Account] = []
    changed.reserveCapacity(ids.count)
    var previous: UInt128?
    for id in ids where id != previous {
        previous = id
        if let account = ledger.account(id: id) { changed.append(account) }
    }
    return changed
}
