// The deterministic ledger state machine: applies batches of accounts and transfers to the columns.
import CSupport

/// The ledger: state columns plus the rules that change them.
///
/// Deterministic by construction: it reads no clock (each record's timestamp is the batch's leader
/// timestamp plus the record's index), no randomness, no environment; the same batches in the same
/// order give the same results and the same `digest()` on every replica and every replay.
/// Not thread-safe: one applier owns it.
public final class Ledger {
    /// The version of the rules below; recorded in each batch header. Bump it when any outcome changes.
    public static let rulesVersion: UInt32 = 1

    /// How far ahead (in records) the applier hashes ids and prefetches their index slots.
    static let prefetchSlotsDistance = 16
    /// How far ahead it resolves account indexes and prefetches balance rows (slots are cached by then).
    static let prefetchRowsDistance = 8

    @exclusivity(unchecked) var state: LedgerState
    /// Seeds the id indexes (recorded in snapshots: a restored table is only valid with its seed).
    public let hashSeed: UInt64
    private let scratch: ApplyScratch
    /// Timestamp of the last record applied; batches must move it forward.
    public private(set) var lastTimestampNs: UInt64 = 0

    /// - Parameters:
    ///   - hashSeed: seeds the id indexes; every replica of a cluster must use the same (the cluster id's).
    ///   - accountsCapacity, transfersCapacity: initial sizes; tables grow beyond them.
    public init(hashSeed: UInt64 = 0, accountsCapacity: Int = 1024, transfersCapacity: Int = 1 << 16) {
        self.hashSeed = hashSeed
        state = LedgerState(accountsCapacity: accountsCapacity, transfersCapacity: transfersCapacity, hashSeed: hashSeed)
        scratch = ApplyScratch(recordsMax: Limits.batchRecordsMax)
    }

    /// A ledger with tables sized and counted per `meta`, whose bytes the caller then writes
    /// through `sectionDestination` (every section, before any other use). `meta.problem` must be nil.
    public init(restoring meta: LedgerSnapshotMeta, spareTransfers: Int = 1 << 16) {
        precondition(meta.problem == nil, "invalid snapshot meta: \(meta.problem!)")
        hashSeed = meta.hashSeed
        state = LedgerState(restoring: meta, spareTransfers: spareTransfers)
        scratch = ApplyScratch(recordsMax: Limits.batchRecordsMax)
        lastTimestampNs = meta.lastTimestampNs
    }

    deinit {
        state.deallocate()
        scratch.deallocate()
    }

    public var accountsCount: Int { state.accountsCount }
    public var transfersCount: Int { state.transfersCount }

    /// Applies a whole batch; `results` receives one result code per record (raw `TransferResult` or
    /// `AccountResult` values). The batch's timestamp must be past every timestamp applied so far.
    public func apply(_ batch: BatchView, results: UnsafeMutableBufferPointer<UInt8>) {
        let header = batch.header
        precondition(results.count >= batch.recordCount)
        switch batch.recordKind {
        case .noop:
            advanceTimestamp(header.timestampNs, count: 0)
        case .accounts:
            createAccounts(batch.accounts, timestampNs: header.timestampNs, results: results)
        case .transfers:
            createTransfers(batch.transfers, timestampNs: header.timestampNs, results: results)
        }
    }

    /// Records get `timestampNs + index`; a batch must start after the previous batch's last record
    /// (a batch with no records takes its own timestamp as its last).
    private func advanceTimestamp(_ timestampNs: UInt64, count: Int) {
        precondition(timestampNs > lastTimestampNs, "batch timestamps must increase")
        lastTimestampNs = timestampNs + UInt64(max(count, 1) - 1)
    }

    // MARK: Accounts

    public func createAccounts(_ accounts: UnsafeBufferPointer<Account>, timestampNs: UInt64, results: UnsafeMutableBufferPointer<UInt8>) {
        precondition(results.count >= accounts.count)
        advanceTimestamp(timestampNs, count: accounts.count)
        state.reserveAccounts(additional: accounts.count)
        for index in 0..<accounts.count {
            let result = createAccount(accounts[index], timestamp: timestampNs + UInt64(index))
            results[index] = result.rawValue
        }
        // The transfer store was written with non-temporal stores: order them before anything else.
        wallet_store_fence()
    }

    private func createAccount(_ account: Account, timestamp: UInt64) -> AccountResult {
        if account.flags.rawValue & ~AccountFlags.known.rawValue != 0 { return .reservedFlag }
        if account.reserved != 0 { return .reservedField }
        if account.timestamp != 0 { return .timestampMustBeZero }
        if account.id == 0 { return .idMustNotBeZero }
        if account.id == UInt128.max { return .idMustNotBeIntMax }
        if account.flags.contains(.debitsMustNotExceedCredits) && account.flags.contains(.creditsMustNotExceedDebits) {
            return .flagsAreMutuallyExclusive
        }
        if account.ledger == 0 { return .ledgerMustNotBeZero }
        if account.debitsPending != 0 || account.debitsPosted != 0 || account.creditsPending != 0 || account.creditsPosted != 0 {
            return .balancesMustBeZero
        }
        let hash = state.accountIndex.hash(account.id)
        let existing = state.accountIndex.find(account.id, hash: hash)
        if existing != IdIndex.rowNone {
            return state.account(at: Int(existing)).hasSameFields(as: account) ? .exists : .existsWithDifferentFields
        }
        state.appendAccount(account, hash: hash, timestamp: timestamp)
        return .ok
    }

    // MARK: Transfers

    /// Applies transfers in order, as a software pipeline of three stages: record `i + 16` has its
    /// ids hashed and its index slots prefetched, record `i + 8` has its account indexes resolved and
    /// its balance rows prefetched, and record `i` is applied. A bounded distance keeps the number of
    /// prefetches in flight within what the core tracks (a burst of hundreds gets dropped).
    public func createTransfers(_ transfers: UnsafeBufferPointer<Transfer>, timestampNs: UInt64, results: UnsafeMutableBufferPointer<UInt8>) {
        precondition(results.count >= transfers.count)
        precondition(transfers.count <= Limits.batchRecordsMax)
        advanceTimestamp(timestampNs, count: transfers.count)
        // Reserve first: no table grows while prefetched slots are in flight.
        state.reserveTransfers(additional: transfers.count)
        let count = transfers.count
        let slotsDistance = Ledger.prefetchSlotsDistance
        let rowsDistance = Ledger.prefetchRowsDistance
        for index in 0..<min(slotsDistance, count) { hashAndPrefetchSlots(transfers, index) }
        for index in 0..<min(rowsDistance, count) { resolveAccountsAndPrefetchRows(transfers, index) }
        for index in 0..<count {
            if index + slotsDistance < count { hashAndPrefetchSlots(transfers, index + slotsDistance) }
            if index + rowsDistance < count { resolveAccountsAndPrefetchRows(transfers, index + rowsDistance) }
            let result = createTransfer(
                transfers[index], transferHash: scratch.transferHashes[index],
                debitIndex: scratch.debitIndexes[index], creditIndex: scratch.creditIndexes[index],
                debitRules: AccountRules(packed: scratch.debitRules[index]), creditRules: AccountRules(packed: scratch.creditRules[index]),
                timestamp: timestampNs + UInt64(index))
            results[index] = result.rawValue
        }
    }

    @inline(__always)
    private func hashAndPrefetchSlots(_ transfers: UnsafeBufferPointer<Transfer>, _ index: Int) {
        let accountIndex = state.accountIndex
        let transferIndex = state.transferIndex
        let transferHasher = state.transferHasher
        do {
            let transfer = transfers[index]
            let debitHash = accountIndex.hash(transfer.debitAccountId)
            let creditHash = accountIndex.hash(transfer.creditAccountId)
            let transferHash = transferHasher.hash(transfer.id)
            scratch.debitHashes[index] = debitHash
            scratch.creditHashes[index] = creditHash
            scratch.transferHashes[index] = transferHash
            accountIndex.prefetch(hash: debitHash)
            accountIndex.prefetch(hash: creditHash)
            transferIndex.prefetch(hash: transferHash)
        }
    }

    @inline(__always)
    private func resolveAccountsAndPrefetchRows(_ transfers: UnsafeBufferPointer<Transfer>, _ index: Int) {
        let accountIndex = state.accountIndex
        let balances = state.balances
        do {
            let transfer = transfers[index]
            let debit = accountIndex.findSlot(transfer.debitAccountId, hash: scratch.debitHashes[index])
            let credit = accountIndex.findSlot(transfer.creditAccountId, hash: scratch.creditHashes[index])
            scratch.debitIndexes[index] = debit.row
            scratch.creditIndexes[index] = credit.row
            scratch.debitRules[index] = debit.payload
            scratch.creditRules[index] = credit.payload
            if debit.row != IdIndex.rowNone { wallet_prefetch_write(balances.base + Int(debit.row)) }
            if credit.row != IdIndex.rowNone { wallet_prefetch_write(balances.base + Int(credit.row)) }
        }
    }

    /// Checks the fields that need no state. A failure here leaves the id free.
    @inline(__always)
    private func validateFields(_ transfer: Transfer) -> TransferResult {
        if transfer.flags.rawValue & ~TransferFlags.known.rawValue != 0 { return .reservedFlag }
        if transfer.reserved != 0 { return .reservedField }
        if transfer.timestamp != 0 { return .timestampMustBeZero }
        if transfer.id == 0 { return .idMustNotBeZero }
        if transfer.id == UInt128.max { return .idMustNotBeIntMax }
        let phaseFlags = transfer.flags.intersection(TransferFlags.known).rawValue
        if phaseFlags & (phaseFlags &- 1) != 0 { return .flagsAreMutuallyExclusive }
        if transfer.flags.contains(.postPending) || transfer.flags.contains(.voidPending) {
            if transfer.pendingId == 0 { return .pendingIdMustNotBeZero }
            if transfer.pendingId == transfer.id { return .pendingIdMustBeDifferent }
            if transfer.debitAccountId == UInt128.max { return .debitAccountIdMustNotBeZeroOrIntMax }
            if transfer.creditAccountId == UInt128.max { return .creditAccountIdMustNotBeZeroOrIntMax }
            if transfer.debitAccountId != 0 && transfer.debitAccountId == transfer.creditAccountId {
                return .accountsMustBeDifferent
            }
            return .ok
        }
        if transfer.debitAccountId == 0 || transfer.debitAccountId == UInt128.max { return .debitAccountIdMustNotBeZeroOrIntMax }
        if transfer.creditAccountId == 0 || transfer.creditAccountId == UInt128.max { return .creditAccountIdMustNotBeZeroOrIntMax }
        if transfer.debitAccountId == transfer.creditAccountId { return .accountsMustBeDifferent }
        if transfer.pendingId != 0 { return .pendingIdMustBeZero }
        if transfer.amount == 0 { return .amountMustNotBeZero }
        if transfer.ledger == 0 { return .ledgerMustNotBeZero }
        return .ok
    }

    @inline(__always)
    private func createTransfer(
        _ transfer: Transfer, transferHash: UInt64, debitIndex: UInt32, creditIndex: UInt32,
        debitRules: AccountRules, creditRules: AccountRules, timestamp: UInt64
    ) -> TransferResult {
        let fieldsResult = validateFields(transfer)
        if fieldsResult != .ok { return fieldsResult }
        let existingRow = state.findTransfer(transfer.id, hash: transferHash)
        if existingRow != IdIndex.rowNone { return resultForExisting(transfer, row: Int(existingRow)) }

        let result: TransferResult
        if transfer.flags.contains(.postPending) || transfer.flags.contains(.voidPending) {
            result = resolvePending(transfer)
        } else {
            result = applyDirect(transfer, debitIndex: debitIndex, creditIndex: creditIndex, debitRules: debitRules, creditRules: creditRules)
        }
        if result == .ok || result.spendsId {
            _ = state.appendTransfer(transfer, hash: transferHash, result: result, timestamp: timestamp)
        }
        return result
    }

    private func resultForExisting(_ transfer: Transfer, row: Int) -> TransferResult {
        if state.transferResults[row] != TransferResult.ok.rawValue { return .idAlreadyFailed }
        return state.transfers[row].hasSameFields(as: transfer) ? .exists : .existsWithDifferentFields
    }

    /// A plain transfer (posted at once) or a pending one (reserved).
    @inline(__always)
    private func applyDirect(_ transfer: Transfer, debitIndex: UInt32, creditIndex: UInt32,
                             debitRules: AccountRules, creditRules: AccountRules) -> TransferResult {
        if debitIndex == IdIndex.rowNone { return .debitAccountNotFound }
        if creditIndex == IdIndex.rowNone { return .creditAccountNotFound }
        assert(debitRules == state.accountRules[Int(debitIndex)] && creditRules == state.accountRules[Int(creditIndex)])
        if debitRules.ledger != creditRules.ledger { return .accountsMustHaveTheSameLedger }
        if transfer.ledger != debitRules.ledger { return .transferMustHaveTheSameLedgerAsAccounts }

        let amount = transfer.amount
        var debit = state.balances[Int(debitIndex)]
        var credit = state.balances[Int(creditIndex)]
        if transfer.flags.contains(.pending) {
            let (debitsPending, debitOverflow) = debit.debitsPending.addingReportingOverflow(amount)
            if debitOverflow { return .overflowsDebitsPending }
            let (creditsPending, creditOverflow) = credit.creditsPending.addingReportingOverflow(amount)
            if creditOverflow { return .overflowsCreditsPending }
            debit.debitsPending = debitsPending
            credit.creditsPending = creditsPending
        } else {
            let (debitsPosted, debitOverflow) = debit.debitsPosted.addingReportingOverflow(amount)
            if debitOverflow { return .overflowsDebitsPosted }
            let (creditsPosted, creditOverflow) = credit.creditsPosted.addingReportingOverflow(amount)
            if creditOverflow { return .overflowsCreditsPosted }
            debit.debitsPosted = debitsPosted
            credit.creditsPosted = creditsPosted
        }
        let (debitsTotal, debitsOverflow) = debit.debitsPending.addingReportingOverflow(debit.debitsPosted)
        if debitsOverflow { return .overflowsDebits }
        let (creditsTotal, creditsOverflow) = credit.creditsPending.addingReportingOverflow(credit.creditsPosted)
        if creditsOverflow { return .overflowsCredits }
        if debitRules.flags.contains(.debitsMustNotExceedCredits) && debitsTotal > debit.creditsPosted {
            return .exceedsCredits
        }
        if creditRules.flags.contains(.creditsMustNotExceedDebits) && creditsTotal > credit.debitsPosted {
            return .exceedsDebits
        }
        state.balances[Int(debitIndex)] = debit
        state.balances[Int(creditIndex)] = credit
        return .ok
    }

    /// Posts or voids the pending transfer named by `transfer.pendingId`.
    private func resolvePending(_ transfer: Transfer) -> TransferResult {
        let pendingRow = state.findTransfer(transfer.pendingId)
        if pendingRow == IdIndex.rowNone { return .pendingTransferNotFound }
        let row = Int(pendingRow)
        if state.transferResults[row] != TransferResult.ok.rawValue { return .pendingTransferNotFound }
        let pending = state.transfers[row]
        if !pending.flags.contains(.pending) { return .pendingTransferNotPending }
        switch PendingState(rawValue: state.transferPendingStates[row]) {
        case .posted: return .pendingTransferAlreadyPosted
        case .voided: return .pendingTransferAlreadyVoided
        case .pending: break
        case .some(.none), nil: preconditionFailure("an ok pending transfer has a pending state")
        }
        if transfer.debitAccountId != 0 && transfer.debitAccountId != pending.debitAccountId {
            return .pendingTransferHasDifferentDebitAccount
        }
        if transfer.creditAccountId != 0 && transfer.creditAccountId != pending.creditAccountId {
            return .pendingTransferHasDifferentCreditAccount
        }
        if transfer.ledger != 0 && transfer.ledger != pending.ledger { return .pendingTransferHasDifferentLedger }
        let isPost = transfer.flags.contains(.postPending)
        let postedAmount: UInt128
        if isPost {
            postedAmount = transfer.amount == 0 ? pending.amount : transfer.amount
            if postedAmount > pending.amount { return .exceedsPendingTransferAmount }
        } else {
            if transfer.amount != 0 && transfer.amount != pending.amount { return .pendingTransferHasDifferentAmount }
            postedAmount = 0
        }
        let debitIndex = Int(state.accountIndex.find(pending.debitAccountId))
        let creditIndex = Int(state.accountIndex.find(pending.creditAccountId))
        precondition(debitIndex != Int(IdIndex.rowNone) && creditIndex != Int(IdIndex.rowNone), "a pending transfer's accounts exist")
        var debit = state.balances[debitIndex]
        var credit = state.balances[creditIndex]
        precondition(debit.debitsPending >= pending.amount && credit.creditsPending >= pending.amount, "pending amounts are reserved")
        let (debitsPosted, debitOverflow) = debit.debitsPosted.addingReportingOverflow(postedAmount)
        if debitOverflow { return .overflowsDebitsPosted }
        let (creditsPosted, creditOverflow) = credit.creditsPosted.addingReportingOverflow(postedAmount)
        if creditOverflow { return .overflowsCreditsPosted }
        debit.debitsPending -= pending.amount
        credit.creditsPending -= pending.amount
        debit.debitsPosted = debitsPosted
        credit.creditsPosted = creditsPosted
        state.balances[debitIndex] = debit
        state.balances[creditIndex] = credit
        state.transferPendingStates[row] = isPost ? PendingState.posted.rawValue : PendingState.voided.rawValue
        return .ok
    }
}

/// Per-batch scratch columns, allocated once for the largest batch.
final class ApplyScratch {
    let debitHashes: UnsafeMutablePointer<UInt64>
    let creditHashes: UnsafeMutablePointer<UInt64>
    let transferHashes: UnsafeMutablePointer<UInt64>
    let debitIndexes: UnsafeMutablePointer<UInt32>
    let creditIndexes: UnsafeMutablePointer<UInt32>
    let debitRules: UnsafeMutablePointer<UInt64>
    let creditRules: UnsafeMutablePointer<UInt64>

    init(recordsMax: Int) {
        debitHashes = .allocate(capacity: recordsMax)
        creditHashes = .allocate(capacity: recordsMax)
        transferHashes = .allocate(capacity: recordsMax)
        debitIndexes = .allocate(capacity: recordsMax)
        creditIndexes = .allocate(capacity: recordsMax)
        debitRules = .allocate(capacity: recordsMax)
        creditRules = .allocate(capacity: recordsMax)
    }

    func deallocate() {
        debitHashes.deallocate()
        creditHashes.deallocate()
        transferHashes.deallocate()
        debitIndexes.deallocate()
        creditIndexes.deallocate()
        debitRules.deallocate()
        creditRules.deallocate()
    }
}
