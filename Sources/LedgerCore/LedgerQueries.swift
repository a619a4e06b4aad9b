// Read-side questions to the ledger: accounts, transfers, totals and the state digest.

/// Per-ledger (currency) sums over all accounts. Money is conserved when debits equal credits.
public struct LedgerTotals: Equatable, Sendable {
    public var debitsPosted: UInt128 = 0
    public var creditsPosted: UInt128 = 0
    public var debitsPending: UInt128 = 0
    public var creditsPending: UInt128 = 0

    public var isBalanced: Bool { debitsPosted == creditsPosted && debitsPending == creditsPending }
}

/// A stored transfer with what the ledger decided about it.
public struct StoredTransfer: Equatable, Sendable {
    public var transfer: Transfer
    public var result: TransferResult
    public var pendingState: PendingState
}

extension Ledger {
    public func account(id: UInt128) -> Account? {
        let index = state.accountIndex.find(id)
        return index == IdIndex.rowNone ? nil : state.account(at: Int(index))
    }

    public func account(atIndex index: Int) -> Account {
        precondition(index >= 0 && index < state.accountsCount)
        return state.account(at: index)
    }

    public func transfer(id: UInt128) -> StoredTransfer? {
        let row = state.findTransfer(id)
        guard row != IdIndex.rowNone else { return nil }
        return StoredTransfer(
            transfer: state.transfers[Int(row)],
            result: TransferResult(rawValue: state.transferResults[Int(row)])!,
            pendingState: PendingState(rawValue: state.transferPendingStates[Int(row)])!)
    }

    /// Sums balances per ledger code, modulo 2^128 (balances near `UInt128.max` could overflow a
    /// plain sum). Every transfer adds the same amount to one debit and one credit balance, so
    /// conservation holds exactly modulo 2^128 too.
    public func totalsByLedger() -> [UInt32: LedgerTotals] {
        var totals: [UInt32: LedgerTotals] = [:]
        for index in 0..<state.accountsCount {
            let balance = state.balances[index]
            let ledger = state.accountRules[index].ledger
            var sum = totals[ledger, default: LedgerTotals()]
            sum.debitsPosted &+= balance.debitsPosted
            sum.creditsPosted &+= balance.creditsPosted
            sum.debitsPending &+= balance.debitsPending
            sum.creditsPending &+= balance.creditsPending
            totals[ledger] = sum
        }
        return totals
    }

    /// SHA-256 over every column of the state, in index order: equal digests mean equal states.
    ///
    /// Covers account ids, rules, cold fields and balances; stored transfers with their results and
    /// pending states; and the last applied timestamp. Columns hold no padding, so raw bytes are
    /// deterministic. Cost: one pass over the state (about 2 GB/s with SHA extensions).
    public func digest() -> Hash256 {
        var hasher = StreamingHash()
        hasher.update(value: UInt64(state.accountsCount).littleEndian)
        hasher.update(value: UInt64(state.transfersCount).littleEndian)
        hasher.update(value: lastTimestampNs.littleEndian)
        hasher.update(state.accountIds.rawBytes)
        hasher.update(state.accountRules.rawBytes)
        hasher.update(state.accountCold.rawBytes)
        hasher.update(state.balances.rawBytes)
        hasher.update(state.transfers.rawBytes)
        hasher.update(state.transferResults.rawBytes)
        hasher.update(state.transferPendingStates.rawBytes)
        return hasher.finalize()
    }
}
