// Growable columns of fixed-size values behind raw pointers, for the applier's hot loops.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A column of trivial values: a pointer, a count and a capacity, copied by value into hot loops.
///
/// It does not own its memory: `LedgerState` allocates and frees it. Memory comes from `calloc`,
/// so large columns are lazily zeroed pages, and growth uses `realloc` (mremap for large blocks).
/// Elements must be trivial types without padding, so digests over raw bytes are deterministic.
public struct Column<Element> {
    public private(set) var base: UnsafeMutablePointer<Element>
    public private(set) var count: Int
    public private(set) var capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0)
        precondition(_isPOD(Element.self), "columns hold trivial values only")
        guard let raw = calloc(capacity, MemoryLayout<Element>.stride) else {
            preconditionFailure("out of memory allocating a column of \(capacity) elements")
        }
        base = raw.bindMemory(to: Element.self, capacity: capacity)
        count = 0
        self.capacity = capacity
    }

    func deallocate() { free(base) }

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
        guard let raw = realloc(base, newCapacity * stride) else {
            preconditionFailure("out of memory growing a column to \(newCapacity) elements")
        }
        memset(raw + capacity * stride, 0, (newCapacity - capacity) * stride)
        base = raw.bindMemory(to: Element.self, capacity: newCapacity)
        capacity = newCapacity
    }

    @inline(__always)
    mutating func append(_ element: Element) {
        precondition(count < capacity, "reserve before appending")
        base[count] = element
        count += 1
    }

    /// The used part as raw bytes (for digests and snapshots).
    public var rawBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base, count: count * MemoryLayout<Element>.stride)
    }
}
