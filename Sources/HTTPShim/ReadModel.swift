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
        var all: [UInt128: Account] = [:]
        all.reserveCapacity(ledger.accountsCount)
        for index in 0..<ledger.accountsCount {
            let account = ledger.account(atIndex: index)
            all[account.id] = account
        }
        accounts = all
        appliedOp = op
        pthread_rwlock_init(&lock, nil)
    }

    deinit { pthread_rwlock_destroy(&lock) }

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
        var all: [UInt128: Account] = [:]
        all.reserveCapacity(ledger.accountsCount)
        for index in 0..<ledger.accountsCount {
            let account = ledger.account(atIndex: index)
            all[account.id] = account
        }
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
