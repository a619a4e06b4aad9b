// The live state's digest at an op, recorded after each ingest so `verify` can check replay against it.
import LedgerCore
#if canImport(Glibc)
import Glibc
#endif

/// "After applying op N, the live ledger's digest was D": written atomically (temp, fsync, rename).
public struct StateCheckpoint: Equatable, Sendable {
    public var checksum: UInt32         // offset 0: CRC32C of bytes 4..<128
    public var magic: UInt32            // offset 4
    public var op: UInt64               // offset 8
    public var accountsCount: UInt64    // offset 16
    public var transfersCount: UInt64   // offset 24
    public var digest: Hash256          // offset 32
    public var reserved0: Hash256       // offset 64
    public var reserved1: Hash256       // offset 96

    /// "WLCP" read as a little-endian word.
    public static let magicValue: UInt32 = 0x5043_4C57
    public static let fileName = "state-digest"

    public init(op: UInt64, accountsCount: Int, transfersCount: Int, digest: Hash256) {
        checksum = 0
        magic = StateCheckpoint.magicValue
        self.op = op
        self.accountsCount = UInt64(accountsCount)
        self.transfersCount = UInt64(transfersCount)
        self.digest = digest
        reserved0 = .zero
        reserved1 = .zero
        checksum = computeChecksum()
    }

    func computeChecksum() -> UInt32 {
        Checksum.crc32cOfHeader(self)
    }

    public func write(directory: String) throws {
        try withUnsafeBytes(of: self) { try Syscall.writeFileAtomically(directory + "/" + StateCheckpoint.fileName, $0) }
    }

    /// The recorded checkpoint, nil when none was ever written; throws when the file is damaged.
    public static func read(directory: String) throws -> StateCheckpoint? {
        let path = directory + "/" + fileName
        guard Syscall.exists(path) else { return nil }
        let fd = try Syscall.open(path, O_RDONLY)
        defer { Syscall.close(fd) }
        var bytes = [UInt8](repeating: 0, count: 128)
        let read = try bytes.withUnsafeMutableBytes { try Syscall.preadAll(fd, path, $0, offset: 0) }
        let checkpoint = bytes.withUnsafeBytes { $0.loadUnaligned(as: StateCheckpoint.self) }
        guard read == 128, checkpoint.magic == magicValue, checkpoint.checksum == checkpoint.computeChecksum() else {
            throw DataDirectoryError(path: path, message: "state digest file is damaged")
        }
        return checkpoint
    }
}
