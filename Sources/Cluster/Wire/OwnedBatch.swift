// A batch received off the wire: copied into aligned memory it owns, checked before anyone trusts it.
import LedgerCore

/// One validated batch in its own 16-byte-aligned allocation (wire bytes have no alignment).
public final class OwnedBatch: @unchecked Sendable {
    private let storage: UnsafeMutableRawPointer
    public let view: BatchView

    /// Copies `bytes` and validates the copy (magic, version, checksums, sizes); throws `badBody`.
    public init(copying bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count >= Limits.batchHeaderSizeBytes, bytes.count <= Limits.batchSizeBytesMax else {
            throw WireError.badBody("batch of \(bytes.count) bytes")
        }
        storage = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 16)
        storage.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        let copy = UnsafeRawBufferPointer(start: storage, count: bytes.count)
        switch BatchHeader.validateBatch(copy) {
        case .failure(let error):
            storage.deallocate()
            throw WireError.badBody("batch: \(error)")
        case .success(let header):
            guard header.batchSizeBytes == bytes.count else {
                storage.deallocate()
                throw WireError.badBody("batch is \(bytes.count) bytes, its header says \(header.batchSizeBytes)")
            }
        }
        view = BatchView(validatedBytes: copy)
    }

    deinit { storage.deallocate() }
}

/// Records of one kind, copied from a client request into memory this value owns.
public final class OwnedRecords: @unchecked Sendable {
    public let kind: RecordKind
    public let count: Int
    private let storage: UnsafeMutableRawPointer

    public init(kind: RecordKind, copying bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count % Limits.recordSizeBytes == 0)
        self.kind = kind
        count = bytes.count / Limits.recordSizeBytes
        storage = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 16), alignment: 16)
        if bytes.count > 0 { storage.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
    }

    deinit { storage.deallocate() }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: count * Limits.recordSizeBytes) }
}
