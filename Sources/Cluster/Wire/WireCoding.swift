// Little-endian field reading for frame bodies: every read is bounds-checked and throws, never traps.

/// Reads fixed-width fields from untrusted bytes; running past the end throws `badBody`.
struct WireReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw WireError.badBody("message ends early (needed \(size) bytes at offset \(offset))") }
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: value)
    }

    mutating func readBytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, remaining >= count else { throw WireError.badBody("message ends early (needed \(count) bytes at offset \(offset))") }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        offset += count
        return slice
    }

    func expectEnd() throws {
        guard remaining == 0 else { throw WireError.badBody("\(remaining) unexpected trailing bytes") }
    }
}
