// Where a log starts when its beginning is gone: pruned archives, or a follower reset to a leader's snapshot.
import LedgerCore
#if canImport(Glibc)
import Glibc
#endif

/// The 128-byte record in `log/base`: the log holds ops `baseOp + 1 ...` in segment files numbered
/// from `firstSegmentIndex`. Without the file the log starts at op 1 in segment 1 (the default).
///
/// The record names the batch at `baseOp` by its header hash, last record timestamp and Raft term,
/// so the first batch after the base is checked against it exactly as against its predecessor in
/// a whole log: the hash chain stays unbroken across the cut, only the bytes before it are gone.
/// A snapshot at or after `baseOp` must supply the state (`SnapshotHeader.batchHeaderHash` at
/// `baseOp` equals `baseHeaderHash` when the base came from that snapshot).
///
/// Written atomically (temp file, fsync, rename, directory fsync) before any file it makes
/// redundant is deleted; recovery deletes files numbered below `firstSegmentIndex` (a crash
/// between the two left them).
public struct LogBase: Equatable, Sendable {
    public var checksum: UInt32            // offset 0: CRC32C of bytes 4..<128
    public var magic: UInt32               // offset 4
    public var formatVersion: UInt16       // offset 8
    public var reserved0: UInt16           // offset 10
    public var reserved1: UInt32           // offset 12
    public var clusterId: UInt128          // offset 16
    /// The last op no longer in the log (its effect lives in a snapshot).
    public var baseOp: UInt64              // offset 32
    /// The Raft term of the batch at `baseOp`.
    public var baseTerm: UInt64            // offset 40
    /// `BatchHeader.lastRecordTimestampNs` of the batch at `baseOp`.
    public var baseRecordTimestampNs: UInt64 // offset 48
    /// The number of the first segment (or archive) file that holds ops after `baseOp`.
    public var firstSegmentIndex: UInt64   // offset 56
    /// SHA-256 of the batch header at `baseOp`: the first batch after it must chain to this.
    public var baseHeaderHash: Hash256     // offset 64
    public var reserved2: Hash256          // offset 96

    /// "WLLB" read as a little-endian word.
    public static let magicValue: UInt32 = 0x424C_4C57
    public static let formatVersionCurrent: UInt16 = 1
    public static let fileName = "base"

    public init(clusterId: UInt128, baseOp: UInt64, baseTerm: UInt64, baseRecordTimestampNs: UInt64, baseHeaderHash: Hash256,
                firstSegmentIndex: UInt64) {
        precondition(baseOp >= 1 && firstSegmentIndex >= 1)
        checksum = 0
        magic = LogBase.magicValue
        formatVersion = LogBase.formatVersionCurrent
        reserved0 = 0
        reserved1 = 0
        self.clusterId = clusterId
        self.baseOp = baseOp
        self.baseTerm = baseTerm
        self.baseRecordTimestampNs = baseRecordTimestampNs
        self.firstSegmentIndex = firstSegmentIndex
        self.baseHeaderHash = baseHeaderHash
        reserved2 = .zero
        checksum = Checksum.crc32cOfHeader(self)
    }

    func write(directoryPath: String) throws {
        try withUnsafeBytes(of: self) { try Syscall.writeFileAtomically(directoryPath + "/" + LogBase.fileName, $0) }
    }

    /// The stored base, nil when the log starts at op 1; throws when it is damaged or foreign:
    /// without it nobody can tell which op the first segment holds.
    static func read(directoryPath: String, clusterId: UInt128) throws -> LogBase? {
        let path = directoryPath + "/" + fileName
        guard Syscall.exists(path) else { return nil }
        let fd = try Syscall.open(path, O_RDONLY)
        defer { Syscall.close(fd) }
        var bytes = [UInt8](repeating: 0, count: MemoryLayout<LogBase>.size)
        let read = try bytes.withUnsafeMutableBytes { try Syscall.preadAll(fd, path, $0, offset: 0) }
        let base = bytes.withUnsafeBytes { $0.loadUnaligned(as: LogBase.self) }
        func damaged(_ why: String) -> LogCorruption {
            LogCorruption(segmentPath: path, offset: 0, op: 0, reason: "log base record: \(why)")
        }
        guard read == bytes.count else { throw damaged("\(read) bytes, expected \(bytes.count)") }
        guard base.magic == magicValue else { throw damaged("bad magic") }
        guard base.checksum == Checksum.crc32cOfHeader(base) else { throw damaged("checksum mismatch") }
        guard base.formatVersion == formatVersionCurrent else { throw damaged("format version \(base.formatVersion)") }
        guard base.clusterId == clusterId else { throw damaged("belongs to cluster \(base.clusterId)") }
        guard base.baseOp >= 1, base.firstSegmentIndex >= 1 else { throw damaged("base op \(base.baseOp), first segment \(base.firstSegmentIndex)") }
        return base
    }
}
