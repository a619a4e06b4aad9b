// Zeroed memory for the state's big tables: anonymous mappings backed by transparent huge pages.
import CSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Allocation for columns and id indexes, which are touched at random by every transfer.
///
/// With 4 KiB pages a random look-up in a table of hundreds of MiB misses the TLB almost every
/// time, and the page walk costs as much as the look-up; 2 MiB pages (`MADV_HUGEPAGE`) remove most
/// of that. Fresh anonymous pages are zero, so no explicit clearing is needed. This is memory
/// management, not I/O: the ledger core still reads no file, socket or clock.
enum Memory {
    static let hugePageSizeBytes = 2 << 20
    static let pageSizeBytes = 4096

    /// The mapping size used for `bytes`: whole huge pages for large tables, whole pages otherwise.
    static func mappingSize(_ bytes: Int) -> Int {
        let unit = bytes >= hugePageSizeBytes ? hugePageSizeBytes : pageSizeBytes
        return max(unit, (bytes + unit - 1) / unit * unit)
    }

    static func allocateZeroed(_ bytes: Int) -> UnsafeMutableRawPointer {
        let size = mappingSize(bytes)
        guard let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), address != MAP_FAILED else {
            preconditionFailure("out of memory: cannot map \(size) bytes")
        }
        adviseHugePages(address, size)
        prefault(address, size)
        return address
    }

    /// Touches every page now, so the first transfers do not pay for page faults and zeroing
    /// (allocate at start-up, as the sizes were given then).
    private static func prefault(_ address: UnsafeMutableRawPointer, _ size: Int) {
        var offset = 0
        while offset < size {
            address.storeBytes(of: 0, toByteOffset: offset, as: UInt8.self)
            offset += pageSizeBytes
        }
    }

    /// Grows a mapping from `oldBytes` to `newBytes`, keeping its contents; the new part is zero.
    static func reallocateZeroed(_ address: UnsafeMutableRawPointer, oldBytes: Int, newBytes: Int) -> UnsafeMutableRawPointer {
        let oldSize = mappingSize(oldBytes)
        let newSize = mappingSize(newBytes)
        guard newSize > oldSize else { return address }
        #if os(Linux)
        guard let moved = wallet_mremap_grow(address, oldSize, newSize) else {
            preconditionFailure("out of memory: cannot grow a mapping to \(newSize) bytes")
        }
        adviseHugePages(moved, newSize)
        return moved
        #else
        let fresh = allocateZeroed(newBytes)
        fresh.copyMemory(from: address, byteCount: oldSize)
        deallocate(address, bytes: oldBytes)
        return fresh
        #endif
    }

    static func deallocate(_ address: UnsafeMutableRawPointer, bytes: Int) {
        munmap(address, mappingSize(bytes))
    }

    private static func adviseHugePages(_ address: UnsafeMutableRawPointer, _ size: Int) {
        #if os(Linux)
        if size >= hugePageSizeBytes { _ = madvise(address, size, MADV_HUGEPAGE) }
        #endif
    }
}
