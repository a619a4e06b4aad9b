// The 128-byte batch header: what a batch is, where it stands in the log, and how to check it.

/// What the records of a batch are. One kind per batch, so the applier's loops never branch on it.
public enum RecordKind: UInt16, Sendable, CaseIterable {
    /// No records: a leader's no-op (Raft commits one at the start of each term).
    case noop = 0
    case accounts = 1
    case transfers = 2
}

/// The header of every batch, in the log and in batch files. Layout in docs/FORMAT.md.
///
/// Invariants of a valid header: `magic` and `formatVersion` are current, `recordKind` is known,
/// `recordCount <= Limits.batchRecordsMax`, `bodySizeBytes == recordCount * 128`, reserved words are
/// zero, `headerChecksum` is the CRC32C of bytes 4..<128 and `bodyChecksum` the CRC32C of the body.
/// In the log, `op` counts from 1 without gaps and `previousHeaderHash` is the SHA-256 of the previous
/// batch's header (the genesis hash before op 1), so a batch removed, reordered or changed breaks the chain.
public struct BatchHeader: Equatable, Sendable {
    public var headerChecksum: UInt32       // offset 0: CRC32C of bytes 4..<128
    public var magic: UInt32                // offset 4
    public var formatVersion: UInt16        // offset 8
    public var recordKindRaw: UInt16        // offset 10
    public var recordCount: UInt32          // offset 12
    public var clusterId: UInt128           // offset 16
    public var term: UInt64                 // offset 32
    public var op: UInt64                   // offset 40
    /// The leader's clock when it formed the batch, in ns since the Unix epoch; strictly increasing
    /// by at least the previous batch's record count, so every record gets a unique timestamp.
    public var timestampNs: UInt64          // offset 48
    public var bodySizeBytes: UInt32        // offset 56
    public var bodyChecksum: UInt32         // offset 60: CRC32C of the body
    public var previousHeaderHash: Hash256  // offset 64
    /// The version of the applier's rules that applied this batch when it was first written.
    public var rulesVersion: UInt32         // offset 96
    public var reserved0: UInt32            // offset 100
    /// Every op up to this one was durable (single node) or committed (cluster) when the batch was
    /// formed. Recovery uses it to tell a torn write from corruption: a damaged batch at or below a
    /// later batch's `durableOp` had been acknowledged, so it cannot be a torn tail.
    public var durableOp: UInt64            // offset 104
    public var reserved2: UInt64            // offset 112
    public var reserved3: UInt64            // offset 120

    /// "WLB1" read as a little-endian word.
    public static let magicValue: UInt32 = 0x3142_4C57
    public static let formatVersionCurrent: UInt16 = 1

    public init(
        recordKind: RecordKind, recordCount: Int, clusterId: UInt128 = 0, term: UInt64 = 0, op: UInt64 = 0,
        timestampNs: UInt64 = 0, previousHeaderHash: Hash256 = .zero, rulesVersion: UInt32 = 0, durableOp: UInt64 = 0
    ) {
        precondition(recordCount >= 0 && recordCount <= Limits.batchRecordsMax)
        precondition(durableOp < op || (op == 0 && durableOp == 0), "only earlier ops can be durable")
        headerChecksum = 0
        magic = BatchHeader.magicValue
        formatVersion = BatchHeader.formatVersionCurrent
        recordKindRaw = recordKind.rawValue
        self.recordCount = UInt32(recordCount)
        self.clusterId = clusterId
        self.term = term
        self.op = op
        self.timestampNs = timestampNs
        bodySizeBytes = UInt32(recordCount * Limits.recordSizeBytes)
        bodyChecksum = 0
        self.previousHeaderHash = previousHeaderHash
        self.rulesVersion = rulesVersion
        reserved0 = 0
        self.durableOp = durableOp
        reserved2 = 0
        reserved3 = 0
    }

    public var recordKind: RecordKind? { RecordKind(rawValue: recordKindRaw) }

    /// The timestamp of the batch's last record (record `i` gets `timestampNs + i`; a batch with no
    /// records takes its own): the next batch's timestamp must be past it.
    public var lastRecordTimestampNs: UInt64 { timestampNs + UInt64(max(Int(recordCount), 1) - 1) }
    public var batchSizeBytes: Int { Limits.batchHeaderSizeBytes + Int(bodySizeBytes) }

    /// CRC32C of bytes 4..<128 of this header as stored.
    public func computeHeaderChecksum() -> UInt32 {
        Checksum.crc32cOfHeader(self)
    }

    /// SHA-256 of the 128 header bytes: the link the next batch stores in `previousHeaderHash`.
    public func hash() -> Hash256 {
        withUnsafeBytes(of: self) { Hash256(sha256Of: $0) }
    }

    /// Sets `bodyChecksum` from `body` and then `headerChecksum`: call after every other field is final.
    public mutating func seal(body: UnsafeRawBufferPointer) {
        precondition(body.count == Int(bodySizeBytes), "body size does not match the header")
        bodyChecksum = Checksum.crc32c(body)
        headerChecksum = computeHeaderChecksum()
    }
}

/// Why bytes are not a valid batch. `offset` is relative to the start of the batch.
public enum BatchFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncatedHeader(availableBytes: Int)
    case badMagic(found: UInt32)
    case badHeaderChecksum(stored: UInt32, computed: UInt32)
    case unsupportedFormatVersion(UInt16)
    case unknownRecordKind(UInt16)
    case tooManyRecords(count: UInt32)
    case bodySizeMismatch(bodySizeBytes: UInt32, recordCount: UInt32)
    case reservedNotZero
    case durableOpNotBeforeOp(durableOp: UInt64, op: UInt64)
    case truncatedBody(expectedBytes: Int, availableBytes: Int)
    case badBodyChecksum(stored: UInt32, computed: UInt32)

    public var description: String {
        switch self {
        case .truncatedHeader(let available):
            return "truncated batch header: \(available) of \(Limits.batchHeaderSizeBytes) bytes"
        case .badMagic(let found):
            return "not a batch header (magic 0x\(String(found, radix: 16)))"
        case .badHeaderChecksum(let stored, let computed):
            return "header checksum mismatch (stored \(stored), computed \(computed))"
        case .unsupportedFormatVersion(let version):
            return "unsupported batch format version \(version)"
        case .unknownRecordKind(let kind):
            return "unknown record kind \(kind)"
        case .tooManyRecords(let count):
            return "oversize batch: \(count) records, batch_records_max is \(Limits.batchRecordsMax)"
        case .bodySizeMismatch(let size, let count):
            return "body size \(size) bytes does not match \(count) records"
        case .reservedNotZero:
            return "reserved header bytes are not zero"
        case .durableOpNotBeforeOp(let durableOp, let op):
            return "durable op \(durableOp) is not before the batch's own op \(op)"
        case .truncatedBody(let expected, let available):
            return "truncated batch body: \(available) of \(expected) bytes"
        case .badBodyChecksum(let stored, let computed):
            return "body checksum mismatch (stored \(stored), computed \(computed))"
        }
    }
}

extension BatchHeader {
    /// Checks the header in `bytesUntrusted[0..<128]` without looking at the body.
    public static func validateHeader(_ bytesUntrusted: UnsafeRawBufferPointer) -> Result<BatchHeader, BatchFormatError> {
        guard bytesUntrusted.count >= Limits.batchHeaderSizeBytes else {
            return .failure(.truncatedHeader(availableBytes: bytesUntrusted.count))
        }
        let header = bytesUntrusted.loadUnaligned(as: BatchHeader.self)
        guard header.magic == magicValue else { return .failure(.badMagic(found: header.magic)) }
        let computed = header.computeHeaderChecksum()
        guard computed == header.headerChecksum else {
            return .failure(.badHeaderChecksum(stored: header.headerChecksum, computed: computed))
        }
        guard header.formatVersion == formatVersionCurrent else {
            return .failure(.unsupportedFormatVersion(header.formatVersion))
        }
        guard header.durableOp < header.op || (header.op == 0 && header.durableOp == 0) else {
            return .failure(.durableOpNotBeforeOp(durableOp: header.durableOp, op: header.op))
        }
        guard header.recordKind != nil else { return .failure(.unknownRecordKind(header.recordKindRaw)) }
        guard header.recordCount <= UInt32(Limits.batchRecordsMax) else {
            return .failure(.tooManyRecords(count: header.recordCount))
        }
        guard Int(header.bodySizeBytes) == Int(header.recordCount) * Limits.recordSizeBytes else {
            return .failure(.bodySizeMismatch(bodySizeBytes: header.bodySizeBytes, recordCount: header.recordCount))
        }
        guard header.reserved0 == 0, header.reserved2 == 0, header.reserved3 == 0 else {
            return .failure(.reservedNotZero)
        }
        return .success(header)
    }

    /// Checks a whole batch (header and body) at the start of `bytesUntrusted`.
    public static func validateBatch(_ bytesUntrusted: UnsafeRawBufferPointer) -> Result<BatchHeader, BatchFormatError> {
        let header: BatchHeader
        switch validateHeader(bytesUntrusted) {
        case .failure(let error): return .failure(error)
        case .success(let valid): header = valid
        }
        guard bytesUntrusted.count >= header.batchSizeBytes else {
            return .failure(.truncatedBody(expectedBytes: header.batchSizeBytes, availableBytes: bytesUntrusted.count))
        }
        let body = UnsafeRawBufferPointer(rebasing: bytesUntrusted[Limits.batchHeaderSizeBytes..<header.batchSizeBytes])
        let computed = Checksum.crc32c(body)
        guard computed == header.bodyChecksum else {
            return .failure(.badBodyChecksum(stored: header.bodyChecksum, computed: computed))
        }
        return .success(header)
    }
}
