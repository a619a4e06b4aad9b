// The ledger's whole state as named byte sections: what a snapshot stores and restores.

/// The parts of the state a snapshot holds, each a raw byte image of one table.
public enum StateSection: UInt16, CaseIterable, Sendable {
    case accountIds = 1
    case accountRules = 2
    case accountCold = 3
    case balances = 4
    case accountIndex = 5
    case transfers = 6
    case transferResults = 7
    case transferPendingStates = 8
    case transferIndex = 9
}

/// Sizes and counters that, with the sections, make a state whole. 64 bytes, little-endian u64s.
public struct LedgerSnapshotMeta: Equatable, Sendable {
    public var accountsCount: UInt64
    public var transfersCount: UInt64
    public var lastTimestampNs: UInt64
    public var accountIndexCapacity: UInt64
    public var accountIndexCount: UInt64
    public var transferIndexCapacity: UInt64
    public var transferIndexCount: UInt64
    public var hashSeed: UInt64

    public init(accountsCount: UInt64, transfersCount: UInt64, lastTimestampNs: UInt64, accountIndexCapacity: UInt64,
                accountIndexCount: UInt64, transferIndexCapacity: UInt64, transferIndexCount: UInt64, hashSeed: UInt64) {
        self.accountsCount = accountsCount
        self.transfersCount = transfersCount
        self.lastTimestampNs = lastTimestampNs
        self.accountIndexCapacity = accountIndexCapacity
        self.accountIndexCount = accountIndexCount
        self.transferIndexCapacity = transferIndexCapacity
        self.transferIndexCount = transferIndexCount
        self.hashSeed = hashSeed
    }

    /// Why these numbers cannot describe a state this build could have written, or nil.
    public var problem: String? {
        func isPowerOfTwo(_ value: UInt64) -> Bool { value >= 16 && value & (value - 1) == 0 && value <= 1 << 40 }
        if !isPowerOfTwo(accountIndexCapacity) || !isPowerOfTwo(transferIndexCapacity) { return "index capacities are not powers of two" }
        if accountIndexCount != accountsCount || transferIndexCount != transfersCount { return "index counts do not match table counts" }
        if accountsCount * 4 > accountIndexCapacity * 3 || transfersCount * 4 > transferIndexCapacity * 3 { return "an index is fuller than its load limit" }
        if accountsCount >= UInt64(IdIndex.rowNone) || transfersCount >= UInt64(IdIndex.rowNone) { return "counts exceed the row space" }
        return nil
    }
}

extension Ledger {
    public var snapshotMeta: LedgerSnapshotMeta {
        LedgerSnapshotMeta(
            accountsCount: UInt64(state.accountsCount), transfersCount: UInt64(state.transfersCount), lastTimestampNs: lastTimestampNs,
            accountIndexCapacity: UInt64(state.accountIndex.capacity), accountIndexCount: UInt64(state.accountIndex.count),
            transferIndexCapacity: UInt64(state.transferIndex.capacity), transferIndexCount: UInt64(state.transferIndex.count),
            hashSeed: hashSeed)
    }

    /// A second ledger with exactly this state, section by section (what a snapshot round trip
    /// gives, without compressing or a file): the same digest, and it applies on its own.
    public func copy(spareTransfers: Int = 1 << 16) -> Ledger {
        let copy = Ledger(restoring: snapshotMeta, spareTransfers: spareTransfers)
        for section in StateSection.allCases { copy.sectionDestination(section).copyMemory(from: sectionBytes(section)) }
        return copy
    }

    /// The bytes of one section as the state holds them now (valid until the next apply).
    public func sectionBytes(_ section: StateSection) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(sectionDestination(section))
    }

    /// Where a restore writes a section: exactly its size per the meta this ledger was made from.
    public func sectionDestination(_ section: StateSection) -> UnsafeMutableRawBufferPointer {
        switch section {
        case .accountIds: return state.accountIds.mutableRawBytes
        case .accountRules: return state.accountRules.mutableRawBytes
        case .accountCold: return state.accountCold.mutableRawBytes
        case .balances: return state.balances.mutableRawBytes
        case .accountIndex: return state.accountIndex.slotBytes
        case .transfers: return state.transfers.mutableRawBytes
        case .transferResults: return state.transferResults.mutableRawBytes
        case .transferPendingStates: return state.transferPendingStates.mutableRawBytes
        case .transferIndex: return state.transferIndex.slotBytes
        }
    }
}
