// An open-addressing hash index from 128-bit ids to dense row numbers (accounts, transfers).
import CSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hashes 128-bit ids to 64 bits, seeded: murmur3's finalizer applied twice. Bijective in the
/// low word for a fixed high word, so sequential ids spread evenly and never collide outright.
public struct IdHasher: Sendable {
    let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    @inline(__always)
    public func hash(_ key: UInt128) -> UInt64 {
        let low = UInt64(truncatingIfNeeded: key)
        let high = UInt64(truncatingIfNeeded: key >> 64)
        return IdHasher.mix(low &+ IdHasher.mix(high ^ seed))
    }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var h = value
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h &*= 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }
}

/// One slot: two per cache line. A zero key marks an empty slot (id 0 is never valid).
///
/// `payload` carries 8 bytes the owner wants with the look-up at no extra cache miss: the account
/// index keeps each account's rules (ledger, code, flags) there, which never change.
public struct IdIndexSlot {
    var key: UInt128
    var row: UInt32
    var reserved: UInt32
    var payload: UInt64
}

/// Linear-probing hash map `id → row`, insert-only (ledger ids are never deleted).
///
/// Deterministic: the same inserts in the same order give the same table on every replica, and
/// look-ups never depend on capacity. The hash is seeded (per cluster) so ids chosen to collide
/// for one cluster do not collide for another. Load stays at most 3/4; the table doubles beyond.
/// Like `Column`, it is a value holding a pointer, owned and freed by `LedgerState`.
public struct IdIndex {
    public static let rowNone = UInt32.max
    static let loadNumerator = 3
    static let loadDenominator = 4

    private(set) var slots: UnsafeMutablePointer<IdIndexSlot>
    private(set) var mask: Int
    public private(set) var count: Int
    let hasher: IdHasher

    init(capacityHint: Int, seed: UInt64) {
        var capacity = 16
        while capacity * IdIndex.loadNumerator < capacityHint * IdIndex.loadDenominator { capacity *= 2 }
        slots = IdIndex.allocateSlots(capacity)
        mask = capacity - 1
        count = 0
        hasher = IdHasher(seed: seed)
    }

    /// An empty table of exactly `capacity` slots that a snapshot's bytes will fill, holding `count` ids.
    init(restoringCapacity capacity: Int, count: Int, seed: UInt64) {
        slots = IdIndex.allocateSlots(capacity)
        mask = capacity - 1
        self.count = count
        hasher = IdHasher(seed: seed)
    }

    var slotBytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: slots, count: capacity * MemoryLayout<IdIndexSlot>.stride)
    }

    private static func allocateSlots(_ capacity: Int) -> UnsafeMutablePointer<IdIndexSlot> {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "capacity is a power of two")
        let raw = Memory.allocateZeroed(capacity * MemoryLayout<IdIndexSlot>.stride)
        return raw.bindMemory(to: IdIndexSlot.self, capacity: capacity)
    }

    func deallocate() { Memory.deallocate(slots, bytes: capacity * MemoryLayout<IdIndexSlot>.stride) }

    public var capacity: Int { mask + 1 }

    @inline(__always)
    public func hash(_ key: UInt128) -> UInt64 { hasher.hash(key) }

    /// Prefetches the cache line of the slot `hash` lands on, and the next line too when that slot is
    /// the last of its line (a probe that does not stop there runs into the next line). Every extra
    /// prefetch takes a miss buffer: the applier is bound by how many lines it keeps in flight.
    @inline(__always)
    public func prefetch(hash: UInt64) {
        let position = Int(truncatingIfNeeded: hash) & mask
        wallet_prefetch_read(slots + position)
        if position & 1 == 1 { wallet_prefetch_read(slots + ((position + 1) & mask)) }
    }

    /// The row of `key`, or `rowNone`. `hash` must be `hash(key)`.
    @inline(__always)
    public func find(_ key: UInt128, hash: UInt64) -> UInt32 { findSlot(key, hash: hash).row }

    /// The row and payload of `key`, or (`rowNone`, 0). The reserved id 0 is never found: the
    /// empty-slot test comes first, so a look-up of 0 stops at the first empty slot instead of
    /// taking it (and its zero row, a real account's) for a match.
    @inline(__always)
    public func findSlot(_ key: UInt128, hash: UInt64) -> (row: UInt32, payload: UInt64) {
        var position = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slot = slots[position]
            if slot.key == 0 { return (IdIndex.rowNone, 0) }
            if slot.key == key { return (slot.row, slot.payload) }
            position = (position + 1) & mask
        }
    }

    @inline(__always)
    public func find(_ key: UInt128) -> UInt32 { find(key, hash: hash(key)) }

    /// Inserts `key → row`; `key` must be non-zero and absent, and room reserved beforehand.
    @inline(__always)
    mutating func insert(_ key: UInt128, hash: UInt64, row: UInt32, payload: UInt64 = 0) {
        precondition(key != 0, "id 0 marks empty slots")
        precondition((count + 1) * IdIndex.loadDenominator <= capacity * IdIndex.loadNumerator, "reserve first")
        var position = Int(truncatingIfNeeded: hash) & mask
        while slots[position].key != 0 {
            precondition(slots[position].key != key, "id inserted twice")
            position = (position + 1) & mask
        }
        slots[position] = IdIndexSlot(key: key, row: row, reserved: 0, payload: payload)
        count += 1
    }

    /// Grows (rehashing) until `additional` more inserts fit under the load limit.
    mutating func reserve(additional: Int) {
        let needed = count + additional
        guard needed * IdIndex.loadDenominator > capacity * IdIndex.loadNumerator else { return }
        var newCapacity = capacity
        while needed * IdIndex.loadDenominator > newCapacity * IdIndex.loadNumerator { newCapacity *= 2 }
        let old = slots
        let oldCapacity = capacity
        slots = IdIndex.allocateSlots(newCapacity)
        mask = newCapacity - 1
        count = 0
        for position in 0..<oldCapacity where old[position].key != 0 {
            let slot = old[position]
            insert(slot.key, hash: hash(slot.key), row: slot.row, payload: slot.payload)
        }
        Memory.deallocate(old, bytes: oldCapacity * MemoryLayout<IdIndexSlot>.stride)
    }
}
