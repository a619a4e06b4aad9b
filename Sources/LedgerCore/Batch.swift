// A batch in memory: a view over validated bytes, and an owned, aligned buffer to build one in.

/// A read-only view of one valid batch: header plus `recordCount` records, 16-byte aligned.
///
/// Made only from bytes that passed `BatchHeader.validateBatch` (or were just sealed), so the
/// accessors trust the header. The bytes belong to someone else (a segment map, a `BatchBuffer`).
public struct BatchView: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer

    /// `bytes` must start with a valid batch; only the batch's own bytes are kept.
    public init(validatedBytes bytes: UnsafeRawBufferPointer) {
        let header = bytes.load(as: BatchHeader.self)
        precondition(bytes.count >= header.batchSizeBytes)
        precondition(Int(bitPattern: bytes.baseAddress) % 16 == 0, "batches must be 16-byte aligned")
        self.bytes = UnsafeRawBufferPointer(rebasing: bytes[0..<header.batchSizeBytes])
    }

    public var header: BatchHeader { bytes.load(as: BatchHeader.self) }
    public var recordKind: RecordKind { header.recordKind! }
    public var recordCount: Int { Int(header.recordCount) }
    public var body: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Limits.batchHeaderSizeBytes...])
    }

    public var transfers: UnsafeBufferPointer<Transfer> {
        precondition(recordKind == .transfers)
        return body.bindMemory(to: Transfer.self)
    }

    public var accounts: UnsafeBufferPointer<Account> {
        precondition(recordKind == .accounts)
        return body.bindMemory(to: Account.self)
    }
}

/// An owned, 16-byte-aligned buffer big enough for the largest batch, reused to build batches.
public final class BatchBuffer: @unchecked Sendable {
    public let capacityBytes: Int
    private let storage: UnsafeMutableRawPointer
    public private(set) var recordKind: RecordKind
    public private(set) var recordCount = 0

    public init(recordKind: RecordKind, capacityBytes: Int = Limits.batchSizeBytesMax) {
        precondition(capacityBytes >= Limits.batchHeaderSizeBytes && capacityBytes <= Limits.batchSizeBytesMax)
        self.capacityBytes = capacityBytes
        self.recordKind = recordKind
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacityBytes, alignment: 4096)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: capacityBytes)
    }

    deinit { storage.deallocate() }

    public var recordsCapacity: Int { (capacityBytes - Limits.batchHeaderSizeBytes) / Limits.recordSizeBytes }
    public var isFull: Bool { recordCount == recordsCapacity }
    public var isEmpty: Bool { recordCount == 0 }
    public var sizeBytes: Int { Limits.batchHeaderSizeBytes + recordCount * Limits.recordSizeBytes }

    public func reset(recordKind: RecordKind) {
        self.recordKind = recordKind
        recordCount = 0
    }

    public func append(_ transfer: Transfer) {
        precondition(recordKind == .transfers && !isFull)
        (storage + sizeBytes).storeBytes(of: transfer, as: Transfer.self)
        recordCount += 1
    }

    public func append(_ account: Account) {
        precondition(recordKind == .accounts && !isFull)
        (storage + sizeBytes).storeBytes(of: account, as: Account.self)
        recordCount += 1
    }

    /// Appends raw 128-byte records copied from elsewhere (already of this buffer's kind).
    public func append(records: UnsafeRawBufferPointer) {
        precondition(records.count % Limits.recordSizeBytes == 0)
        let count = records.count / Limits.recordSizeBytes
        precondition(recordCount + count <= recordsCapacity)
        (storage + sizeBytes).copyMemory(from: records.baseAddress!, byteCount: records.count)
        recordCount += count
    }

    /// Writes a sealed header for the records held so far and returns a view of the batch.
    public func seal(
        clusterId: UInt128 = 0, term: UInt64 = 0, op: UInt64 = 0, timestampNs: UInt64 = 0,
        previousHeaderHash: Hash256 = .zero, rulesVersion: UInt32 = 0, durableOp: UInt64 = 0
    ) -> BatchView {
        var header = BatchHeader(
            recordKind: recordKind, recordCount: recordCount, clusterId: clusterId, term: term, op: op,
            timestampNs: timestampNs, previousHeaderHash: previousHeaderHash, rulesVersion: rulesVersion, durableOp: durableOp)
        let body = UnsafeRawBufferPointer(start: storage + Limits.batchHeaderSizeBytes, count: recordCount * Limits.recordSizeBytes)
        header.seal(body: body)
        storage.storeBytes(of: header, as: BatchHeader.self)
        return BatchView(validatedBytes: UnsafeRawBufferPointer(start: storage, count: sizeBytes))
    }

    /// The records written so far, without a header.
    public var recordBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage + Limits.batchHeaderSizeBytes, count: recordCount * Limits.recordSizeBytes)
    }
}
