// Growable columns of fixed-size values behind raw pointers, for the applier's hot loops.
import CSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A column of trivial values: a pointer, a count and a capacity, copied by value into hot loops.
///
/// It does not own its memory: `LedgerState` allocates and frees it. Memory comes from `Memory`
/// (zeroed anonymous mappings on huge pages); growth doubles and remaps.
/// Elements must be trivial types without padding, so digests over raw bytes are deterministic.
public struct Column<Element> {
    public private(set) var base: UnsafeMutablePointer<Element>
    public private(set) var count: Int
    public private(set) var capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0)
        precondition(_isPOD(Element.self), "columns hold trivial values only")
        let raw = Memory.allocateZeroed(capacity * MemoryLayout<Element>.stride)
        base = raw.bindMemory(to: Element.self, capacity: capacity)
        count = 0
        self.capacity = capacity
    }

    /// Room for `capacity` elements of which the first `count` a snapshot's bytes will fill.
    init(restoringCount count: Int, capacity: Int) {
        precondition(count >= 0 && capacity > 0 && capacity >= count)
        self.init(capacity: capacity)
        self.count = count
    }

    /// The used part, writable: where a snapshot's bytes are restored.
    var mutableRawBytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base, count: count * MemoryLayout<Element>.stride)
    }

    func deallocate() { Memory.deallocate(base, bytes: capacity * MemoryLayout<Element>.stride) }

    @inline(__always)
    public subscript(index: Int) -> Element {
        get { base[index] }
        nonmutating set { base[index] = newValue }
    }

    /// Makes room for `additional` more elements, doubling so appends stay amortized O(1).
    mutating func reserve(additional: Int) {
        let needed = count + additional
        guard needed > capacity else { return }
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        let stride = MemoryLayout<Element>.stride
        let raw = Memory.reallocateZeroed(UnsafeMutableRawPointer(base), oldBytes: capacity * stride, newBytes: newCapacity * stride)
        base = raw.bindMemory(to: Element.self, capacity: newCapacity)
        capacity = newCapacity
    }

    @inline(__always)
    mutating func append(_ element: Element) {
        precondition(count < capacity, "reserve before appending")
        base[count] = element
        count += 1
    }

    /// Appends a 128-byte record with non-temporal stores (no read for ownership, no cache
    /// pollution): the applier's miss buffers stay free for its random look-ups. The caller fences
    /// (`wallet_store_fence`) before anyone else may read the column.
    @inline(__always)
    mutating func appendNonTemporal(_ element: Element) {
        precondition(MemoryLayout<Element>.stride == 128 && count < capacity, "reserve before appending")
        withUnsafePointer(to: element) { wallet_store_record_nontemporal(base + count, $0) }
        count += 1
    }

    /// The used part as raw bytes (for digests and snapshots).
    public var rawBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: count * MemoryLayout<Element>.stride)
    }
}
