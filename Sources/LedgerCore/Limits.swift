// Every limit of the ledger core, in one place, with its unit in its name.

/// The limits that fix the shape of records, batches and segments.
///
/// They are constants, not settings: two replicas that disagree on any of them would write
/// different logs, so a change here is a format change (bump `BatchHeader.formatVersionCurrent`).
public enum Limits {
    /// Size of every record (account or transfer) in a batch body.
    public static let recordSizeBytes = 128
    /// Size of a batch header.
    public static let batchHeaderSizeBytes = 128
    /// Largest batch, header included: 1 MiB, the unit of the log, of replication, of fsync and of apply.
    public static let batchSizeBytesMax = 1 << 20
    /// Most records in one batch: what fits in `batchSizeBytesMax` after the header.
    public static let batchRecordsMax = (batchSizeBytesMax - batchHeaderSizeBytes) / recordSizeBytes
    /// Size of the header at the start of every segment file (one page, so batches start page-aligned).
    public static let segmentHeaderSizeBytes = 4096
    /// Smallest segment a data directory may be formatted with: a header and one largest batch.
    public static let segmentSizeBytesMin = segmentHeaderSizeBytes + batchSizeBytesMax
    /// Largest segment (keeps offsets in 32 bits where they are stored compactly).
    public static let segmentSizeBytesMax = 1 << 31
    /// Default segment size: 256 MiB, a few seconds of ingest at full speed.
    public static let segmentSizeBytesDefault = 256 << 20
    /// Decimal digits the longest 128-bit id or amount can have (used to bound CSV fields).
    public static let decimalDigitsUInt128Max = 39

    static func checkRelations() {
        precondition(batchRecordsMax == 8191)
        precondition(batchHeaderSizeBytes + batchRecordsMax * recordSizeBytes <= batchSizeBytesMax)
        precondition(segmentHeaderSizeBytes % batchHeaderSizeBytes == 0, "batches stay 128-byte aligned")
        precondition(segmentSizeBytesDefault >= segmentSizeBytesMin)
        precondition(segmentSizeBytesDefault <= segmentSizeBytesMax)
    }
}

#if _endian(big)
#error("records are stored little-endian and read in place: big-endian hosts are not supported")
#endif
