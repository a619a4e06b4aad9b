// The ledger's state as columns: accounts by dense index, transfers by row, and their id indexes.

/// The four balances of one account, kept together as one 64-byte row (one cache line).
///
/// The design brief names four balance columns. Under random access (transfers hit accounts at
/// random) four separate columns cost four cache misses per account side instead of one; measured
/// here as 15-20% of the applier's speed, so the balance columns are interleaved into one row per
/// account. The cold account fields live in their own columns.
public struct BalanceRow: Equatable {
    public var debitsPending: UInt128
    public var debitsPosted: UInt128
    public var creditsPending: UInt128
    public var creditsPosted: UInt128

    static let zero = BalanceRow(debitsPending: 0, debitsPosted: 0, creditsPending: 0, creditsPosted: 0)
}

/// The fields the applier checks on every transfer, 8 bytes per account. Immutable once created,
/// so they are also kept in the account index's slot payload, where a look-up finds them for free.
public struct AccountRules: Equatable {
    public var ledger: UInt32
    public var code: UInt16
    public var flags: AccountFlags

    var packed: UInt64 { UInt64(ledger) | UInt64(code) << 32 | UInt64(flags.rawValue) << 48 }

    init(ledger: UInt32, code: UInt16, flags: AccountFlags) {
        self.ledger = ledger
        self.code = code
        self.flags = flags
    }

    @inline(__always)
    init(packed: UInt64) {
        ledger = UInt32(truncatingIfNeeded: packed)
        code = UInt16(truncatingIfNeeded: packed >> 32)
        flags = AccountFlags(rawValue: UInt16(truncatingIfNeeded: packed >> 48))
    }
}

/// Account fields the applier never reads on the hot path.
public struct AccountCold: Equatable {
    public var userData128: UInt128
    public var userData64: UInt64
    public var timestamp: UInt64
}

/// What became of a stored pending transfer.
public enum PendingState: UInt8, Sendable {
    case none = 0
    case pending = 1
    case posted = 2
    case voided = 3
}

/// All columns of the state. A value of pointers: the owner (`Ledger`) frees it once, in `deinit`.
///
/// Invariants: every column of a table has the same count; `accountIndex` maps each stored account
/// id to its dense index and `transferIndex` each stored transfer id to its row; a stored transfer's
/// `transferResults` entry is `ok` or a result that spends the id; only rows whose transfer has
/// the `pending` flag and result `ok` have a `transferPendingStates` other than `.none`.
struct LedgerState {
    var accountIds: Column<UInt128>
    var accountRules: Column<AccountRules>
    var accountCold: Column<AccountCold>
    var balances: Column<BalanceRow>
    var accountIndex: IdIndex

    var transfers: Column<Transfer>
    var transferResults: Column<UInt8>
    var transferPendingStates: Column<UInt8>
    var transferIndex: FingerprintIndex
    /// Hashes transfer ids for `transferIndex` (same function as the account index, another seed).
    let transferHasher: IdHasher

    init(accountsCapacity: Int, transfersCapacity: Int, hashSeed: UInt64) {
        accountIds = Column(capacity: accountsCapacity)
        accountRules = Column(capacity: accountsCapacity)
        accountCold = Column(capacity: accountsCapacity)
        balances = Column(capacity: accountsCapacity)
        accountIndex = IdIndex(capacityHint: accountsCapacity, seed: hashSeed)
        transfers = Column(capacity: transfersCapacity)
        transferResults = Column(capacity: transfersCapacity)
        transferPendingStates = Column(capacity: transfersCapacity)
        transferIndex = FingerprintIndex(capacityHint: transfersCapacity)
        transferHasher = IdHasher(seed: hashSeed ^ 0x7472_616e_7366_6572)
    }

    init(restoring meta: LedgerSnapshotMeta, spareTransfers: Int) {
        let accounts = Int(meta.accountsCount)
        let transfersCount = Int(meta.transfersCount)
        let accountsCapacity = max(accounts, 1024)
        accountIds = Column(restoringCount: accounts, capacity: accountsCapacity)
        accountRules = Column(restoringCount: accounts, capacity: accountsCapacity)
        accountCold = Column(restoringCount: accounts, capacity: accountsCapacity)
        balances = Column(restoringCount: accounts, capacity: accountsCapacity)
        accountIndex = IdIndex(restoringCapacity: Int(meta.accountIndexCapacity), count: accounts, seed: meta.hashSeed)
        let transfersCapacity = transfersCount + max(spareTransfers, 1)
        transfers = Column(restoringCount: transfersCount, capacity: transfersCapacity)
        transferResults = Column(restoringCount: transfersCount, capacity: transfersCapacity)
        transferPendingStates = Column(restoringCount: transfersCount, capacity: transfersCapacity)
        transferIndex = FingerprintIndex(restoringCapacity: Int(meta.transferIndexCapacity), count: transfersCount)
        transferHasher = IdHasher(seed: meta.hashSeed ^ 0x7472_616e_7366_6572)
    }

    func deallocate() {
        accountIds.deallocate()
        accountRules.deallocate()
        accountCold.deallocate()
        balances.deallocate()
        accountIndex.deallocate()
        transfers.deallocate()
        transferResults.deallocate()
        transferPendingStates.deallocate()
        transferIndex.deallocate()
    }

    var accountsCount: Int { accountIds.count }
    var transfersCount: Int { transfers.count }

    mutating func reserveAccounts(additional: Int) {
        accountIds.reserve(additional: additional)
        accountRules.reserve(additional: additional)
        accountCold.reserve(additional: additional)
        balances.reserve(additional: additional)
        accountIndex.reserve(additional: additional)
    }

    mutating func reserveTransfers(additional: Int) {
        transfers.reserve(additional: additional)
        transferResults.reserve(additional: additional)
        transferPendingStates.reserve(additional: additional)
        transferIndex.reserve(additional: additional)
    }

    mutating func appendAccount(_ account: Account, hash: UInt64, timestamp: UInt64) {
        let index = UInt32(accountIds.count)
        precondition(index < IdIndex.rowNone, "account index space exhausted")
        accountIds.append(account.id)
        let rules = AccountRules(ledger: account.ledger, code: account.code, flags: account.flags)
        accountRules.append(rules)
        accountCold.append(AccountCold(userData128: account.userData128, userData64: account.userData64, timestamp: timestamp))
        balances.append(.zero)
        accountIndex.insert(account.id, hash: hash, row: index, payload: rules.packed)
    }

    /// Stores a transfer that succeeded or spent its id. Returns its row.
    @inline(__always)
    mutating func appendTransfer(_ transfer: Transfer, hash: UInt64, result: TransferResult, timestamp: UInt64) -> Int {
        let row = transfers.count
        precondition(row < Int(IdIndex.rowNone), "transfer row space exhausted")
        var stored = transfer
        stored.timestamp = timestamp
        transfers.appendNonTemporal(stored)
        transferResults.append(result.rawValue)
        let pending = result == .ok && transfer.flags.contains(.pending)
        transferPendingStates.append(pending ? PendingState.pending.rawValue : PendingState.none.rawValue)
        transferIndex.insert(hash: hash, row: UInt32(row))
        return row
    }

    /// The row of transfer `id`, or `IdIndex.rowNone`. `hash` must be `transferHasher.hash(id)`.
    @inline(__always)
    func findTransfer(_ id: UInt128, hash: UInt64) -> UInt32 {
        let transfers = transfers
        return transferIndex.find(hash: hash) { transfers[$0].id == id }
    }

    func findTransfer(_ id: UInt128) -> UInt32 { findTransfer(id, hash: transferHasher.hash(id)) }

    func account(at index: Int) -> Account {
        let rules = accountRules[index]
        let cold = accountCold[index]
        let balance = balances[index]
        var account = Account(
            id: accountIds[index], ledger: rules.ledger, code: rules.code, flags: rules.flags,
            userData128: cold.userData128, userData64: cold.userData64)
        account.debitsPending = balance.debitsPending
        account.debitsPosted = balance.debitsPosted
        account.creditsPending = balance.creditsPending
        account.creditsPosted = balance.creditsPosted
        account.timestamp = cold.timestamp
        return account
    }
}
