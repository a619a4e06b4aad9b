// The 128-byte header at the start of every segment file (the rest of its 4 KiB page is zero).
import LedgerCore

/// Identifies a segment: which cluster, which position in the log, which first op.
///
/// Written once when the segment is created, synced before any batch goes in, never changed.
public struct SegmentHeader: Equatable, Sendable {
    public var headerChecksum: UInt32   // offset 0: CRC32C of bytes 4..<128
    public var magic: UInt32            // offset 4
    public var formatVersion: UInt16    // offset 8
    public var reserved0: UInt16        // offset 10
    public var reserved1: UInt32        // offset 12
    public var clusterId: UInt128       // offset 16
    /// Position of the segment in the log, counting from 1; file names carry it too.
    public var segmentIndex: UInt64     // offset 32
    /// Op of the first batch the segment holds (the previous segment's last op plus one).
    public var firstOp: UInt64          // offset 40
    public var segmentSizeBytes: UInt64 // offset 48
    public var reserved2: UInt64        // offset 56
    public var reserved3: Hash256       // offset 64
    public var reserved4: Hash256       // offset 96

    /// "WLS1" read as a little-endian word.
    public static let magicValue: UInt32 = 0x3153_4C57
    public static let formatVersionCurrent: UInt16 = 1

    public init(clusterId: UInt128, segmentIndex: UInt64, firstOp: UInt64, segmentSizeBytes: Int) {
        headerChecksum = 0
        magic = SegmentHeader.magicValue
        formatVersion = SegmentHeader.formatVersionCurrent
        reserved0 = 0
        reserved1 = 0
        self.clusterId = clusterId
        self.segmentIndex = segmentIndex
        self.firstOp = firstOp
        self.segmentSizeBytes = UInt64(segmentSizeBytes)
        reserved2 = 0
        reserved3 = .zero
        reserved4 = .zero
        headerChecksum = computeChecksum()
    }

    public func computeChecksum() -> UInt32 {
        Checksum.crc32cOfHeader(self)
    }

    /// Why stored bytes are not this segment's header, or nil when they are.
    public static func problem(in bytesUntrusted: UnsafeRawBufferPointer, clusterId: UInt128, segmentIndex: UInt64, segmentSizeBytes: Int) -> String? {
        let header = bytesUntrusted.loadUnaligned(as: SegmentHeader.self)
        if header.magic != magicValue { return "bad segment magic 0x\(String(header.magic, radix: 16))" }
        if header.computeChecksum() != header.headerChecksum { return "segment header checksum mismatch" }
        if header.formatVersion != formatVersionCurrent { return "unsupported segment format version \(header.formatVersion)" }
        if header.clusterId != clusterId { return "segment belongs to cluster \(header.clusterId), not \(clusterId)" }
        if header.segmentIndex != segmentIndex { return "segment index \(header.segmentIndex) where \(segmentIndex) was expected" }
        if header.segmentSizeBytes != UInt64(segmentSizeBytes) { return "segment size \(header.segmentSizeBytes) where \(segmentSizeBytes) was expected" }
        return nil
    }
}
