// The data directory's identity file: which cluster, which replica, which segment size.
import LedgerCore
#if canImport(Glibc)
import Glibc
#endif

/// Written once by `wallet format`, read (and checked) by everything that opens the directory.
public struct Superblock: Equatable, Sendable {
    public var checksum: UInt32         // offset 0: CRC32C of bytes 4..<128
    public var magic: UInt32            // offset 4
    public var formatVersion: UInt16    // offset 8
    public var replicaIndex: UInt8      // offset 10
    public var replicaCount: UInt8      // offset 11
    public var reserved0: UInt32        // offset 12
    public var clusterId: UInt128       // offset 16
    public var segmentSizeBytes: UInt64 // offset 32
    public var reserved1: UInt64        // offset 40
    public var reserved2: UInt128       // offset 48
    public var reserved3: Hash256       // offset 64
    public var reserved4: Hash256       // offset 96

    /// "WLSB" read as a little-endian word.
    public static let magicValue: UInt32 = 0x4253_4C57
    public static let formatVersionCurrent: UInt16 = 1
    public static let fileSizeBytes = 4096
    public static let replicaCountMax = 7

    public init(clusterId: UInt128, replicaIndex: Int, replicaCount: Int, segmentSizeBytes: Int) {
        precondition(replicaCount >= 1 && replicaCount <= Superblock.replicaCountMax)
        precondition(replicaIndex >= 0 && replicaIndex < replicaCount)
        checksum = 0
        magic = Superblock.magicValue
        formatVersion = Superblock.formatVersionCurrent
        self.replicaIndex = UInt8(replicaIndex)
        self.replicaCount = UInt8(replicaCount)
        reserved0 = 0
        self.clusterId = clusterId
        self.segmentSizeBytes = UInt64(segmentSizeBytes)
        reserved1 = 0
        reserved2 = 0
        reserved3 = .zero
        reserved4 = .zero
        checksum = computeChecksum()
    }

    func computeChecksum() -> UInt32 {
        Checksum.crc32cOfHeader(self)
    }
}

/// Why a directory cannot be opened as a data directory.
public struct DataDirectoryError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let message: String
    public var description: String { "\(path): \(message)" }

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}

/// A formatted data directory: `superblock` plus `log/` (segments).
public struct DataDirectory: Sendable {
    public let path: String
    public let superblock: Superblock

    public var superblockPath: String { path + "/superblock" }
    public var logPath: String { path + "/log" }

    /// Creates the directory (which must be absent or empty) and writes its superblock durably.
    public static func format(path: String, clusterId: UInt128, replicaIndex: Int = 0, replicaCount: Int = 1,
                              segmentSizeBytes: Int = Limits.segmentSizeBytesDefault) throws -> DataDirectory {
        guard segmentSizeBytes >= Limits.segmentSizeBytesMin, segmentSizeBytes <= Limits.segmentSizeBytesMax,
              segmentSizeBytes % 4096 == 0 else {
            throw DataDirectoryError(path: path, message: "segment size \(segmentSizeBytes) bytes is outside \(Limits.segmentSizeBytesMin)...\(Limits.segmentSizeBytesMax) or not a multiple of 4096")
        }
        guard replicaCount >= 1, replicaCount <= Superblock.replicaCountMax, replicaIndex >= 0, replicaIndex < replicaCount else {
            throw DataDirectoryError(path: path, message: "replica \(replicaIndex) of \(replicaCount) is not valid (replica_count_max is \(Superblock.replicaCountMax))")
        }
        try Syscall.mkdir(path)
        let existing = try Syscall.listDirectory(path)
        guard existing.isEmpty else {
            throw DataDirectoryError(path: path, message: "already holds files (\(existing.prefix(3).joined(separator: ", "))): refusing to format over them")
        }
        let superblock = Superblock(clusterId: clusterId, replicaIndex: replicaIndex, replicaCount: replicaCount, segmentSizeBytes: segmentSizeBytes)
        let directory = DataDirectory(path: path, superblock: superblock)
        try Syscall.mkdir(directory.logPath)
        var page = [UInt8](repeating: 0, count: Superblock.fileSizeBytes)
        withUnsafeBytes(of: superblock) { page.replaceSubrange(0..<128, with: $0) }
        try page.withUnsafeBytes { try Syscall.writeFileAtomically(directory.superblockPath, $0) }
        return directory
    }

    /// Opens a formatted directory, checking its superblock.
    public static func open(path: String) throws -> DataDirectory {
        let superblockPath = path + "/superblock"
        guard Syscall.exists(superblockPath) else {
            throw DataDirectoryError(path: path, message: "not a data directory (no superblock): run 'wallet format --data \(path)' first")
        }
        let fd = try Syscall.open(superblockPath, O_RDONLY)
        defer { Syscall.close(fd) }
        var page = [UInt8](repeating: 0, count: Superblock.fileSizeBytes)
        let read = try page.withUnsafeMutableBytes { try Syscall.preadAll(fd, superblockPath, $0, offset: 0) }
        guard read == Superblock.fileSizeBytes else {
            throw DataDirectoryError(path: superblockPath, message: "truncated superblock (\(read) of \(Superblock.fileSizeBytes) bytes)")
        }
        let superblock = page.withUnsafeBytes { $0.loadUnaligned(as: Superblock.self) }
        guard superblock.magic == Superblock.magicValue, superblock.checksum == superblock.computeChecksum() else {
            throw DataDirectoryError(path: superblockPath, message: "superblock is damaged (bad magic or checksum)")
        }
        guard superblock.formatVersion == Superblock.formatVersionCurrent else {
            throw DataDirectoryError(path: superblockPath, message: "unsupported superblock version \(superblock.formatVersion)")
        }
        return DataDirectory(path: path, superblock: superblock)
    }

    public func openLog(readOnly: Bool = false) throws -> SegmentLog {
        try SegmentLog(directoryPath: logPath, clusterId: superblock.clusterId,
                       segmentSizeBytes: Int(superblock.segmentSizeBytes), readOnly: readOnly)
    }
}
