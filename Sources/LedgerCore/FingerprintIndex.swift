// A compact hash index for transfer ids: 16-byte slots holding a 64-bit hash and a row.
import CSupport

/// One slot, four per cache line. `rowPlusOne == 0` marks an empty slot.
struct FingerprintSlot {
    var hash: UInt64
    var rowPlusOne: UInt32
    var reserved: UInt32
}

/// Linear-probing map from a 64-bit hash to rows whose full ids live elsewhere (the transfer store).
///
/// Why not `IdIndex`: the transfer index is the biggest table (one entry per transfer ever
/// applied), and every new transfer probes it at random. Keeping only the hash halves the table
/// (fewer cache and TLB misses) and fits four slots per cache line, so probes rarely cross lines.
/// Exactness is kept: a slot whose hash matches is confirmed by comparing the full id in the
/// store (`isMatch`), which for new ids almost never happens. Insert-only; load at most 3/4.
struct FingerprintIndex {
    private(set) var slots: UnsafeMutablePointer<FingerprintSlot>
    private(set) var mask: Int
    private(set) var count: Int

    init(capacityHint: Int) {
        var capacity = 16
        while capacity * 3 < capacityHint * 4 { capacity *= 2 }
        slots = FingerprintIndex.allocateSlots(capacity)
        mask = capacity - 1
        count = 0
    }

    /// An empty table of exactly `capacity` slots that a snapshot's bytes will fill, holding `count` rows.
    init(restoringCapacity capacity: Int, count: Int) {
        precondition(capacity >= 16 && capacity & (capacity - 1) == 0)
        slots = FingerprintIndex.allocateSlots(capacity)
        mask = capacity - 1
        self.count = count
    }

    var slotBytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: slots, count: capacity * MemoryLayout<FingerprintSlot>.stride)
    }

    private static func allocateSlots(_ capacity: Int) -> UnsafeMutablePointer<FingerprintSlot> {
        Memory.allocateZeroed(capacity * MemoryLayout<FingerprintSlot>.stride).bindMemory(to: FingerprintSlot.self, capacity: capacity)
    }

    func deallocate() { Memory.deallocate(slots, bytes: capacity * MemoryLayout<FingerprintSlot>.stride) }

    var capacity: Int { mask + 1 }

    @inline(__always)
    func prefetch(hash: UInt64) {
        let position = Int(truncatingIfNeeded: hash) & mask
        wallet_prefetch_read(slots + position)
        // New ids probe to the first empty slot: from the line's second half that often crosses.
        if position & 3 >= 2 { wallet_prefetch_read(slots + ((position + 4) & mask)) }
    }

    /// The row whose id matches (`isMatch(row)`), or `IdIndex.rowNone`.
    @inline(__always)
    func find(hash: UInt64, isMatch: (Int) -> Bool) -> UInt32 {
        var position = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slot = slots[position]
            if slot.rowPlusOne == 0 { return IdIndex.rowNone }
            if slot.hash == hash && isMatch(Int(slot.rowPlusOne - 1)) { return slot.rowPlusOne - 1 }
            position = (position + 1) & mask
        }
    }

    /// Inserts a row for an id known to be absent; room must be reserved beforehand.
    @inline(__always)
    mutating func insert(hash: UInt64, row: UInt32) {
        precondition(row < UInt32.max, "row space exhausted")
        precondition((count + 1) * 4 <= capacity * 3, "reserve first")
        var position = Int(truncatingIfNeeded: hash) & mask
        while slots[position].rowPlusOne != 0 { position = (position + 1) & mask }
        slots[position] = FingerprintSlot(hash: hash, rowPlusOne: row + 1, reserved: 0)
        count += 1
    }

    mutating func reserve(additional: Int) {
        let needed = count + additional
        guard needed * 4 > capacity * 3 else { return }
        var newCapacity = capacity
        while needed * 4 > newCapacity * 3 { newCapacity *= 2 }
        let old = slots
        let oldCapacity = capacity
        slots = FingerprintIndex.allocateSlots(newCapacity)
        mask = newCapacity - 1
        count = 0
        for position in 0..<oldCapacity where old[position].rowPlusOne != 0 {
            insert(hash: old[position].hash, row: old[position].rowPlusOne - 1)
        }
        Memory.deallocate(old, bytes: oldCapacity * MemoryLayout<FingerprintSlot>.stride)
    }
}
