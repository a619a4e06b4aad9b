// The past, rebuilt from the log: the state at any op or instant, and one account's history.
import LedgerCore
import Storage

/// A point in the log: after the first `records` records of batch `op` (all of them, or fewer when
/// the point is an instant that falls inside the batch).
public struct HistoryPoint: Equatable, Sendable {
    public var op: UInt64
    /// Records of batch `op` that are at or before the point (`recordCount` of the batch when whole).
    public var records: Int
    /// Whether every record of batch `op` is included.
    public var isWholeBatch: Bool
    /// The timestamp of the last record included (0 at genesis).
    public var timestampNs: UInt64

    public init(op: UInt64, records: Int, isWholeBatch: Bool, timestampNs: UInt64) {
        self.op = op
        self.records = records
        self.isWholeBatch = isWholeBatch
        self.timestampNs = timestampNs
    }
}

/// Why a past state cannot be given.
public struct HistoryError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// One change to an account: a successful transfer that moved one of its four balances.
/// Where an account's history continues: a record of an op.
public struct HistoryPosition: Equatable, Sendable {
    public var op: UInt64
    public var record: Int
}

/// One page of an account's history.
public struct AccountHistory: Sendable {
    public var entries: [AccountHistoryEntry]
    /// Where the next page starts; nil when the range holds no more changes.
    public var next: HistoryPosition?
    /// Whether the account exists at the end of the scanned range.
    public var accountExists: Bool
    /// The op the next page starts at (a page of whole batches starts at record 0).
    public var continueFromOp: UInt64? { next?.op }
}

public struct AccountHistoryEntry: Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// Posted at once.
        case posted
        /// Reserved (pending).
        case pending
        /// A pending transfer posted (fully or partly) by this transfer.
        case postPending = "post_pending"
        /// A pending transfer voided by this transfer.
        case voidPending = "void_pending"
    }

    public var op: UInt64
    /// The record's index in its batch.
    public var recordIndex: Int
    public var timestampNs: UInt64
    public var transferId: UInt128
    public var kind: Kind
    /// Whether the account is the debit side (money leaves it) or the credit side.
    public var isDebit: Bool
    /// The other account of the transfer (for post/void: of the pending transfer).
    public var counterpartyId: UInt128
    /// What moved: the amount for posted and pending; for post_pending the amount posted (the
    /// rest of the reservation is released); for void_pending the reservation released.
    public var amount: UInt128
    /// The account's four balances right after this transfer.
    public var after: Account
}

/// Rebuilds past states from the newest snapshot at or before the point plus a replay of the log.
///
/// Records are applied in order, one after the other, inside a batch too; so applying the first
/// `k` records of a batch gives exactly the state right after its `k`-th record, and a state "at an
/// instant" is exact to the record. Everything here reads the log and snapshots only.
public enum History {
    /// The point covering every record with a timestamp at or before `timestampNs` (nil when the
    /// log's first record is later). Batch timestamps increase with op, so this is a binary search.
    public static func point(atTimeNs timestampNs: UInt64, in log: SegmentLog) throws -> HistoryPoint? {
        if let base = log.base {
            guard timestampNs >= base.baseRecordTimestampNs else {
                throw HistoryError(message: "instant \(timestampNs) ns is before the log's first batch: the log was pruned through op \(base.baseOp) (last record at \(base.baseRecordTimestampNs) ns)")
            }
            if log.lastOp == log.baseOp || log.header(op: log.firstOp).timestampNs > timestampNs {
                return HistoryPoint(op: base.baseOp, records: 0, isWholeBatch: true, timestampNs: base.baseRecordTimestampNs)
            }
        }
        guard log.lastOp >= log.firstOp, log.header(op: log.firstOp).timestampNs <= timestampNs else { return nil }
        var low = log.firstOp  // batch(low) starts at or before the instant
        var high = log.lastOp
        while low < high {
            let middle = low + (high - low + 1) / 2
            if log.header(op: middle).timestampNs <= timestampNs { low = middle } else { high = middle - 1 }
        }
        let header = log.header(op: low)
        let count = Int(header.recordCount)
        // Records stamped header.timestampNs + 0, 1, ...: those at or before the instant (no +1 that could overflow at UInt64.max).
        let sinceBatchNs = timestampNs - header.timestampNs
        let included = sinceBatchNs >= UInt64(count) ? count : Int(sinceBatchNs) + 1
        return HistoryPoint(op: low, records: included, isWholeBatch: included == count,
                            timestampNs: header.timestampNs + UInt64(max(included, 1) - 1))
    }

    /// The op of the batch holding the record stamped `timestampNs` (a record's timestamp is its
    /// batch's plus its index), or nil when no batch the log still holds has it (pruned, or never
    /// written). Batches' timestamps increase with their ops, so this is a binary search.
    public static func op(ofRecordTimestampNs timestampNs: UInt64, in log: SegmentLog) -> UInt64? {
        guard log.lastOp >= log.firstOp, log.header(op: log.firstOp).timestampNs <= timestampNs else { return nil }
        var low = log.firstOp
        var high = log.lastOp
        while low < high {
            let middle = low + (high - low + 1) / 2
            if log.header(op: middle).timestampNs <= timestampNs { low = middle } else { high = middle - 1 }
        }
        let header = log.header(op: low)
        return timestampNs - header.timestampNs < UInt64(header.recordCount) ? low : nil
    }

    /// The point after the whole batch `op`.
    public static func point(afterOp op: UInt64, in log: SegmentLog) throws -> HistoryPoint {
        guard op <= log.lastOp else { throw HistoryError(message: "op \(op) is past the log's end (op \(log.lastOp))") }
        guard op >= log.baseOp else {
            throw HistoryError(message: "op \(op) is before the log's first op \(log.firstOp): the log was pruned through op \(log.baseOp)")
        }
        if op == log.baseOp {
            return HistoryPoint(op: op, records: 0, isWholeBatch: true, timestampNs: log.base?.baseRecordTimestampNs ?? 0)
        }
        let header = log.header(op: op)
        let count = Int(header.recordCount)
        return HistoryPoint(op: op, records: count, isWholeBatch: true, timestampNs: header.lastRecordTimestampNs)
    }

    /// The state at `point`, from the newest valid snapshot at or before it (damaged ones are added
    /// to `problems` and skipped) plus a replay. Returns the ledger and the snapshot op used (0: genesis).
    public static func ledger(at point: HistoryPoint, dataPath: String, log: SegmentLog, clusterId: UInt128,
                              problems: inout [String]) throws -> (ledger: Ledger, snapshotOp: UInt64) {
        let hashSeed = LocalNode.hashSeed(clusterId: clusterId)
        let wholeThrough = point.isWholeBatch ? point.op : point.op - 1
        let ledger: Ledger
        var snapshotOp: UInt64 = 0
        if let restored = LocalNode.newestValidSnapshot(dataPath: dataPath, log: log, clusterId: clusterId, hashSeed: hashSeed,
                                                        spareTransfers: 1 << 16, atOrBefore: wholeThrough, problems: &problems) {
            ledger = restored.ledger
            snapshotOp = restored.op
        } else {
            guard log.baseOp == 0 else {
                throw HistoryError(message: "no valid snapshot between the log's base (op \(log.baseOp): the ops before it were pruned) and op \(wholeThrough): that state cannot be rebuilt"
                    + (problems.isEmpty ? "" : " (" + problems.joined(separator: "; ") + ")"))
            }
            ledger = LocalNode.genesisLedger(for: log, hashSeed: hashSeed, through: point.op)
        }
        try LocalNode.replay(log, into: ledger, from: snapshotOp + 1, through: wholeThrough)
        if !point.isWholeBatch {
            try log.loadArchives(from: point.op, through: point.op)
            applyPrefix(of: log.batch(op: point.op), records: point.records, to: ledger)
        }
        return (ledger, snapshotOp)
    }

    /// Applies the first `records` records of `batch`, exactly as the whole batch applies them.
    static func applyPrefix(of batch: BatchView, records: Int, to ledger: Ledger) {
        precondition(records >= 0 && records <= batch.recordCount)
        let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(records, 1))
        defer { results.deallocate() }
        let timestampNs = batch.header.timestampNs
        switch batch.recordKind {
        case .noop: ledger.apply(batch, results: results)
        case .accounts: ledger.createAccounts(UnsafeBufferPointer(rebasing: batch.accounts[0..<records]), timestampNs: timestampNs, results: results)
        case .transfers: ledger.createTransfers(UnsafeBufferPointer(rebasing: batch.transfers[0..<records]), timestampNs: timestampNs, results: results)
        }
    }

    /// The account's changes from record `start.record` of op `start.op` through op `lastOp`, with
    /// its balances after each, at most `entriesMax` of them. When the limit cuts the list short,
    /// the scan goes on to the next change and returns its position, where the next call starts
    /// (nil when there is none in the range). `wholeBatches`: instead list every change of the
    /// batch in which the limit is reached, and continue at the next op (pages of whole batches).
    ///
    /// Each batch is applied whole; the running balances come from the results of its transfers and
    /// are checked against the ledger's own after every batch, so a history that disagrees with the
    /// state is an error, never a silent answer. `accountExists`: whether the account exists at the
    /// end of the scan (a caller refuses an unknown account as `balance` does).
    public static func account(_ accountId: UInt128, ops range: ClosedRange<UInt64>, fromRecord: Int = 0, entriesMax: Int,
                               wholeBatches: Bool = false, dataPath: String, log: SegmentLog, clusterId: UInt128,
                               problems: inout [String]) throws -> AccountHistory {
        precondition(entriesMax >= 1 && fromRecord >= 0)
        guard range.lowerBound >= log.firstOp, range.upperBound <= log.lastOp else {
            throw HistoryError(message: "ops \(range.lowerBound)...\(range.upperBound) are not all in the log (ops \(log.firstOp)...\(log.lastOp))")
        }
        let start = try point(afterOp: range.lowerBound - 1, in: log)
        let (ledger, _) = try History.ledger(at: start, dataPath: dataPath, log: log, clusterId: clusterId, problems: &problems)
        let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Limits.batchRecordsMax)
        defer { results.deallocate() }
        var running = ledger.account(id: accountId)
        var entries: [AccountHistoryEntry] = []
        var next: HistoryPosition?
        try log.streamBatches(from: range.lowerBound, through: range.upperBound) { batch in
            let op = batch.header.op
            ledger.apply(batch, results: results)
            switch batch.recordKind {
            case .noop: break
            case .accounts:
                if running == nil, let created = ledger.account(id: accountId),
                   let index = batch.accounts.firstIndex(where: { $0.id == accountId }),
                   results[index] == AccountResult.ok.rawValue {
                    running = created
                }
            case .transfers:
                guard var balances = running else { break }
                let transfers = batch.transfers
                let first = op == range.lowerBound ? fromRecord : 0
                for index in 0..<transfers.count where results[index] == TransferResult.ok.rawValue {
                    guard var entry = effect(of: transfers[index], on: &balances, ledger: ledger), index >= first, next == nil else { continue }
                    if entries.count >= entriesMax && !wholeBatches {
                        next = HistoryPosition(op: op, record: index)
                        continue
                    }
                    entry.op = op
                    entry.recordIndex = index
                    entry.timestampNs = batch.header.timestampNs + UInt64(index)
                    entries.append(entry)
                }
                running = balances
            }
            if let running, let actual = ledger.account(id: accountId), actual != running {
                throw HistoryError(message: "history of account \(accountId) disagrees with the state after op \(op): "
                    + "computed \(running.debitsPosted)/\(running.creditsPosted)/\(running.debitsPending)/\(running.creditsPending), "
                    + "state \(actual.debitsPosted)/\(actual.creditsPosted)/\(actual.debitsPending)/\(actual.creditsPending)")
            }
            if next != nil { return false }
            if wholeBatches && entries.count >= entriesMax && op < range.upperBound {
                next = HistoryPosition(op: op + 1, record: 0)
                return false
            }
            return true
        }
        return AccountHistory(entries: entries, next: next, accountExists: running != nil || ledger.account(id: accountId) != nil)
    }

    /// What a successful transfer did to `account` (updating it), or nil when it did not touch it.
    /// Mirrors the applier's rules for ok results; the per-batch check above proves the mirror.
    private static func effect(of transfer: Transfer, on account: inout Account, ledger: Ledger) -> AccountHistoryEntry? {
        let id = account.id
        var entry = AccountHistoryEntry(op: 0, recordIndex: 0, timestampNs: 0, transferId: transfer.id, kind: .posted,
                                        isDebit: false, counterpartyId: 0, amount: transfer.amount, after: account)
        if transfer.flags.contains(.postPending) || transfer.flags.contains(.voidPending) {
            guard let pending = ledger.transfer(id: transfer.pendingId)?.transfer,
                  pending.debitAccountId == id || pending.creditAccountId == id else { return nil }
            let isPost = transfer.flags.contains(.postPending)
            let posted: UInt128 = isPost ? (transfer.amount == 0 ? pending.amount : transfer.amount) : 0
            entry.kind = isPost ? .postPending : .voidPending
            entry.amount = isPost ? posted : pending.amount
            if pending.debitAccountId == id {
                account.debitsPending -= pending.amount
                account.debitsPosted += posted
                entry.isDebit = true
                entry.counterpartyId = pending.creditAccountId
            } else {
                account.creditsPending -= pending.amount
                account.creditsPosted += posted
                entry.counterpartyId = pending.debitAccountId
            }
        } else {
            guard transfer.debitAccountId == id || transfer.creditAccountId == id else { return nil }
            let isPending = transfer.flags.contains(.pending)
            entry.kind = isPending ? .pending : .posted
            if transfer.debitAccountId == id {
                if isPending { account.debitsPending += transfer.amount } else { account.debitsPosted += transfer.amount }
                entry.isDebit = true
                entry.counterpartyId = transfer.creditAccountId
            } else {
                if isPending { account.creditsPending += transfer.amount } else { account.creditsPosted += transfer.amount }
                entry.counterpartyId = transfer.debitAccountId
            }
        }
        entry.after = account
        return entry
    }
}
