// The read side (CQRS): account balances as of the last applied batch, for readers on any thread.
import Foundation
import LedgerCore

/// Account balances fed by the writer after each applied (durable) batch, never by anything not
/// yet applied. Readers take a read lock for one dictionary look-up; the writer publishes the
/// accounts a batch touched under the write lock, so the applier never waits on a reader for more
/// than one such look-up, and a reader never sees half a batch. Every answer says its op.
public final class ReadModel: @unchecked Sendable {
    private var accounts: [UInt128: Account]
    private var appliedOp: UInt64
    private var lock = pthread_rwlock_t()

    /// Every account of `ledger`, as of `op` (the ledger must be at `op` and not change meanwhile).
    init(ledger: Ledger, op: UInt64) {
        accounts = ReadModel.allAccounts(of: ledger)
        appliedOp = op
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

    /// The whole state was replaced (a replica installed its leader's snapshot at `op`).
    func replaceAll(ledger: Ledger, op: UInt64) {
        let all = ReadModel.allAccounts(of: ledger)
        pthread_rwlock_wrlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        accounts = all
        appliedOp = op
    }

    /// The writer, after batch `op` is durable and applied: the accounts it changed, as they now are.
    func publish(_ changed: [Account], op: UInt64) {
        pthread_rwlock_wrlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        precondition(op > appliedOp, "the read model moves forward one applied batch at a time")
        for account in changed { accounts[account.id] = account }
        appliedOp = op
    }
}

/// The accounts `batch` may have changed (both sides of each transfer, and of the pending transfer
/// a post or void resolves; each account created), as they are in `ledger` right after it: what
/// the read model and the event streams are told after each applied batch.
func accountsChanged(by batch: BatchView, in ledger: Ledger) -> [Account] {
    var changed: [UInt128: Account] = [:]
    func touch(_ id: UInt128) {
        if changed[id] == nil, let account = ledger.account(id: id) { changed[id] = account }
    }
    switch batch.recordKind {
    case .transfers:
        for transfer in batch.transfers {
            touch(transfer.debitAccountId)
            touch(transfer.creditAccountId)
            if transfer.pendingId != 0, let pending = ledger.transfer(id: transfer.pendingId)?.transfer {
                touch(pending.debitAccountId)
                touch(pending.creditAccountId)
            }
        }
    case .accounts:
        for account in batch.accounts { touch(account.id) }
    case .noop:
        break
    }
    return Array(changed.values)
}
