// The Raft hard state of a replica: term, vote and voting floor, written atomically before use.
import LedgerCore
#if canImport(Glibc)
import Glibc
#endif

/// What a replica must remember across crashes besides its log (Raft's "persistent state").
///
/// Written with `writeFileAtomically` (temp file, fsync, rename, directory fsync) before any
/// message that depends on it is sent: a forgotten vote could elect two leaders in one term.
public struct RaftStateRecord: Equatable, Sendable {
    public var checksum: UInt32         // offset 0: CRC32C of bytes 4..<128
    public var magic: UInt32            // offset 4
    public var term: UInt64             // offset 8
    /// The replica voted for in `term`, or `RaftStateRecord.noVote`.
    public var votedFor: UInt64         // offset 16
    public var votingFloorIndex: UInt64 // offset 24
    public var votingFloorTerm: UInt64  // offset 32
    public var reserved0: UInt64        // offset 40
    public var reserved1: UInt128       // offset 48
    public var reserved2: Hash256       // offset 64
    public var reserved3: Hash256       // offset 96

    /// "WLRS" read as a little-endian word.
    public static let magicValue: UInt32 = 0x5352_4C57
    public static let fileName = "raft-state"
    public static let noVote = UInt64.max

    public init(term: UInt64, votedFor: Int?, votingFloorIndex: UInt64, votingFloorTerm: UInt64) {
        checksum = 0
        magic = RaftStateRecord.magicValue
        self.term = term
        self.votedFor = votedFor.map { UInt64($0) } ?? RaftStateRecord.noVote
        self.votingFloorIndex = votingFloorIndex
        self.votingFloorTerm = votingFloorTerm
        reserved0 = 0
        reserved1 = 0
        reserved2 = .zero
        reserved3 = .zero
        checksum = computeChecksum()
    }

    public var vote: Int? { votedFor == RaftStateRecord.noVote ? nil : Int(votedFor) }

    func computeChecksum() -> UInt32 {
        Checksum.crc32cOfHeader(self)
    }

    public func write(directory: String) throws {
        try withUnsafeBytes(of: self) { try Syscall.writeFileAtomically(directory + "/" + RaftStateRecord.fileName, $0) }
    }

    /// The stored record, nil when the replica never persisted one; throws when it is damaged
    /// (a replica must not guess its vote).
    public static func read(directory: String) throws -> RaftStateRecord? {
        let path = directory + "/" + fileName
        guard Syscall.exists(path) else { return nil }
        let fd = try Syscall.open(path, O_RDONLY)
        defer { Syscall.close(fd) }
        var bytes = [UInt8](repeating: 0, count: MemoryLayout<RaftStateRecord>.size)
        let read = try bytes.withUnsafeMutableBytes { try Syscall.preadAll(fd, path, $0, offset: 0) }
        let record = bytes.withUnsafeBytes { $0.loadUnaligned(as: RaftStateRecord.self) }
        guard read == bytes.count, record.magic == magicValue, record.checksum == record.computeChecksum() else {
            throw DataDirectoryError(path: path, message: "Raft state file is damaged: refusing to start without a trustworthy term and vote")
        }
        return record
    }
}
