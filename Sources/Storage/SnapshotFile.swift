// Snapshots: the whole ledger state at an op, lz4-compressed in checksummed chunks, published atomically.
import CSupport
import LedgerCore
#if canImport(Glibc)
import Glibc
#endif

/// A damaged, truncated or mismatched snapshot: named by file and offset, never trusted.
public struct SnapshotError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let offset: Int
    public let reason: String
    public var description: String { "snapshot \(path) at offset \(offset): \(reason)" }

    public init(path: String, offset: Int, reason: String) {
        self.path = path
        self.offset = offset
        self.reason = reason
    }
}

/// The 128-byte header at offset 0 of a snapshot file. Layout in docs/FORMAT.md.
public struct SnapshotHeader: Equatable, Sendable {
    public var checksum: UInt32          // offset 0: CRC32C of bytes 4..<128
    public var magic: UInt32             // offset 4
    public var formatVersion: UInt16     // offset 8
    public var reserved0: UInt16         // offset 10
    public var chunkCount: UInt32        // offset 12
    public var clusterId: UInt128        // offset 16
    public var op: UInt64                // offset 32
    public var fileSizeBytes: UInt64     // offset 40
    public var rulesVersion: UInt32      // offset 48
    public var reserved1: UInt32         // offset 52
    /// Wall-clock timestamp of the last record applied at `op` (the batch header's clock).
    public var lastTimestampNs: UInt64   // offset 56
    /// SHA-256 of the batch header at `op`: binds the snapshot to one log.
    public var batchHeaderHash: Hash256  // offset 64
    /// The state digest after applying `op`.
    public var digest: Hash256           // offset 96

    /// "WLSN" read as a little-endian word.
    public static let magicValue: UInt32 = 0x4E53_4C57
    public static let formatVersionCurrent: UInt16 = 1
    public static let sizeBytes = 128

    func computeChecksum() -> UInt32 { Checksum.crc32cOfHeader(self) }
}

/// The 16 bytes before each chunk: which section, how big before and after compression, and a
/// CRC32C over these first 12 bytes and the compressed bytes.
struct SnapshotChunkHeader {
    var section: UInt16
    var reserved: UInt16
    var uncompressedSizeBytes: UInt32
    var compressedSizeBytes: UInt32
    var checksum: UInt32

    static let sizeBytes = 16
    /// The meta block (`LedgerSnapshotMeta`, 64 bytes, stored uncompressed) is section 0.
    static let metaSection: UInt16 = 0
}

/// Writing, listing and reading snapshot files in `DIR/snapshots/`.
public enum SnapshotFile {
    /// Uncompressed bytes per chunk: bounds the memory a reader needs and the damage one bad chunk hides.
    public static let chunkBytesMax = 4 << 20
    /// Snapshots kept after a new one is published (older ones are deleted); the log is never touched.
    public static let retainedCountDefault = 3

    public static func directoryPath(_ dataPath: String) -> String { dataPath + "/snapshots" }

    public static func fileName(op: UInt64) -> String {
        let digits = String(op)
        return "snapshot-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".wsnap"
    }

    /// Deletes temporary files a crash left mid-write (they were never published).
    public static func removeTemporaryFiles(dataPath: String) throws {
        let directory = directoryPath(dataPath)
        guard Syscall.exists(directory) else { return }
        for name in try Syscall.listDirectory(directory) where name.hasSuffix(".wsnap.tmp") {
            try Syscall.unlink(directory + "/" + name)
        }
    }

    /// Where a snapshot received from a leader is assembled (removed like any temporary file on open).
    /// `transfer` tells apart two transfers of the same snapshot (one may still be read back
    /// while the next arrives).
    public static func incomingPath(dataPath: String, op: UInt64, transfer: UInt64) -> String {
        directoryPath(dataPath) + "/incoming-" + String(op) + "-" + String(transfer) + ".wsnap.tmp"
    }

    /// Makes a complete received file durable (before it is read back and trusted).
    public static func syncReceived(path: String) throws {
        let fd = try Syscall.open(path, O_RDONLY)
        defer { Syscall.close(fd) }
        try Syscall.fsync(fd, path)
    }

    /// Publishes a received, durable, checked snapshot under its op's name (rename, directory
    /// fsync) and keeps the newest `retainedCount`. Returns the published path.
    public static func publishReceived(path: String, dataPath: String, op: UInt64, retainedCount: Int) throws -> String {
        let published = directoryPath(dataPath) + "/" + fileName(op: op)
        try Syscall.rename(path, published)
        try Syscall.fsyncDirectory(directoryPath(dataPath))
        try deleteAllButNewest(retainedCount, dataPath: dataPath)
        return published
    }

    /// Snapshot files by op, oldest first (names that do not parse are ignored; temp files too).
    public static func list(dataPath: String) throws -> [(op: UInt64, path: String)] {
        let directory = directoryPath(dataPath)
        guard Syscall.exists(directory) else { return [] }
        return try Syscall.listDirectory(directory).compactMap { name in
            guard name.hasPrefix("snapshot-"), name.hasSuffix(".wsnap") else { return nil }
            let digits = name.dropFirst("snapshot-".count).dropLast(".wsnap".count)
            guard digits.count == 20, let op = UInt64(digits) else { return nil }
            return (op, directory + "/" + name)
        }.sorted { $0.op < $1.op }
    }

    /// Writes the ledger's state at `op` (the log's batch at `op` has `batchHeaderHash`) to a
    /// temporary file, makes it durable, renames it into place and syncs the directory; then
    /// deletes all but the newest `retainedCount` snapshots. Returns the path and its size.
    @discardableResult
    public static func write(ledger: Ledger, dataPath: String, clusterId: UInt128, op: UInt64, batchHeaderHash: Hash256,
                             digest: Hash256, retainedCount: Int = retainedCountDefault) throws -> (path: String, sizeBytes: Int) {
        precondition(retainedCount >= 1)
        let directory = directoryPath(dataPath)
        try Syscall.mkdir(directory)
        let path = directory + "/" + fileName(op: op)
        let temporaryPath = path + ".tmp"
        let fd = try Syscall.open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC)
        var offset = SnapshotHeader.sizeBytes
        var chunkCount: UInt32 = 0
        var writtenBack = 0
        do {
            defer { Syscall.close(fd) }
            let compressed = UnsafeMutableRawBufferPointer.allocate(byteCount: SnapshotChunkHeader.sizeBytes + LZ4.compressBound(chunkBytesMax), alignment: 16)
            defer { compressed.deallocate() }
            func writeChunk(section: UInt16, _ bytes: UnsafeRawBufferPointer, compress: Bool) throws {
                let body = UnsafeMutableRawBufferPointer(rebasing: compressed[SnapshotChunkHeader.sizeBytes...])
                let size: Int
                if bytes.isEmpty {
                    size = 0
                } else if compress {
                    size = try LZ4.compress(bytes, into: body)
                } else {
                    body.copyMemory(from: bytes)
                    size = bytes.count
                }
                var header = SnapshotChunkHeader(section: section, reserved: 0, uncompressedSizeBytes: UInt32(bytes.count),
                                                 compressedSizeBytes: UInt32(size), checksum: 0)
                withUnsafeBytes(of: header) { compressed.copyMemory(from: $0) }
                let headerCRC = Checksum.crc32c(UnsafeRawBufferPointer(rebasing: compressed[0..<12]))
                header.checksum = Checksum.crc32c(UnsafeRawBufferPointer(rebasing: body[0..<size]), continuing: headerCRC)
                withUnsafeBytes(of: header) { compressed.copyMemory(from: $0) }
                try Syscall.pwriteAll(fd, temporaryPath, UnsafeRawBufferPointer(rebasing: compressed[0..<(SnapshotChunkHeader.sizeBytes + size)]), offset: offset)
                offset += SnapshotChunkHeader.sizeBytes + size
                chunkCount += 1
                writeBackInSteps(fd: fd, offset: offset, writtenBack: &writtenBack)
            }
            var meta = ledger.snapshotMeta
            try withUnsafeBytes(of: &meta) { try writeChunk(section: SnapshotChunkHeader.metaSection, $0, compress: false) }
            for section in StateSection.allCases {
                let bytes = ledger.sectionBytes(section)
                var start = 0
                repeat {
                    let end = min(start + chunkBytesMax, bytes.count)
                    try writeChunk(section: section.rawValue, UnsafeRawBufferPointer(rebasing: bytes[start..<end]), compress: true)
                    start = end
                } while start < bytes.count
            }
            var header = SnapshotHeader(
                checksum: 0, magic: SnapshotHeader.magicValue, formatVersion: SnapshotHeader.formatVersionCurrent, reserved0: 0,
                chunkCount: chunkCount, clusterId: clusterId, op: op, fileSizeBytes: UInt64(offset), rulesVersion: Ledger.rulesVersion,
                reserved1: 0, lastTimestampNs: ledger.lastTimestampNs, batchHeaderHash: batchHeaderHash, digest: digest)
            header.checksum = header.computeChecksum()
            try withUnsafeBytes(of: header) { try Syscall.pwriteAll(fd, temporaryPath, $0, offset: 0) }
            try Syscall.fsync(fd, temporaryPath)
        } catch {
            try? Syscall.unlink(temporaryPath)
            throw error
        }
        try Syscall.rename(temporaryPath, path)
        try Syscall.fsyncDirectory(directory)
        try deleteAllButNewest(retainedCount, dataPath: dataPath)
        return (path, offset)
    }

    /// Retention: deletes all but the newest `retainedCount` snapshots. A file already gone (a
    /// second writer, such as a replica's compactor next to a snapshot received from its leader,
    /// got there first) is not an error.
    static func deleteAllButNewest(_ retainedCount: Int, dataPath: String) throws {
        precondition(retainedCount >= 1)
        let all = try list(dataPath: dataPath)
        guard all.count > retainedCount else { return }
        for old in all.prefix(all.count - retainedCount) where unlink(old.path) != 0 && errno != ENOENT {
            throw IOError(operation: "unlink", path: old.path, errno: errno)
        }
        try Syscall.fsyncDirectory(directoryPath(dataPath))
    }

    /// Bytes written before they are pushed to the disk (`write_back_step_bytes`).
    public static let writeBackStepBytes = 8 << 20

    /// Pushes what was written since the last step to the disk once a step's worth has gathered,
    /// so the final fsync is short and the log's own fsyncs never queue behind hundreds of MiB.
    static func writeBackInSteps(fd: Int32, offset: Int, writtenBack: inout Int) {
        guard offset - writtenBack >= writeBackStepBytes else { return }
        _ = wallet_write_back_range(fd, Int64(writtenBack), Int64(offset - writtenBack))
        writtenBack = offset
    }

    /// Reads and checks a snapshot's header only.
    public static func readHeader(path: String, clusterId: UInt128) throws -> SnapshotHeader {
        let fd = try Syscall.open(path, O_RDONLY)
        defer { Syscall.close(fd) }
        return try readHeader(fd: fd, path: path, clusterId: clusterId)
    }

    private static func readHeader(fd: Int32, path: String, clusterId: UInt128) throws -> SnapshotHeader {
        var bytes = [UInt8](repeating: 0, count: SnapshotHeader.sizeBytes)
        let read = try bytes.withUnsafeMutableBytes { try Syscall.preadAll(fd, path, $0, offset: 0) }
        guard read == SnapshotHeader.sizeBytes else { throw SnapshotError(path: path, offset: 0, reason: "truncated header (\(read) bytes)") }
        let header = bytes.withUnsafeBytes { $0.loadUnaligned(as: SnapshotHeader.self) }
        guard header.magic == SnapshotHeader.magicValue, header.checksum == header.computeChecksum() else {
            throw SnapshotError(path: path, offset: 0, reason: "header damaged (bad magic or checksum)")
        }
        guard header.formatVersion == SnapshotHeader.formatVersionCurrent else {
            throw SnapshotError(path: path, offset: 0, reason: "unsupported snapshot version \(header.formatVersion)")
        }
        guard header.clusterId == clusterId else { throw SnapshotError(path: path, offset: 0, reason: "belongs to cluster \(header.clusterId)") }
        let size = try Syscall.fileSizeBytes(fd, path)
        guard size == Int(header.fileSizeBytes) else {
            throw SnapshotError(path: path, offset: size, reason: "file is \(size) bytes, its header says \(header.fileSizeBytes) (truncated or appended to)")
        }
        return header
    }

    /// Reads a whole snapshot into a new ledger, checking every chunk, the section sizes and the
    /// hash seed. Throws `SnapshotError` naming the offset of the first problem.
    public static func read(path: String, clusterId: UInt128, hashSeed: UInt64, spareTransfers: Int = 1 << 16) throws -> (header: SnapshotHeader, ledger: Ledger) {
        let fd = try Syscall.open(path, O_RDONLY)
        defer { Syscall.close(fd) }
        let header = try readHeader(fd: fd, path: path, clusterId: clusterId)
        var offset = SnapshotHeader.sizeBytes
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: SnapshotChunkHeader.sizeBytes + LZ4.compressBound(chunkBytesMax), alignment: 16)
        defer { buffer.deallocate() }

        /// Reads the chunk at `offset`, checks it, and returns its header and compressed bytes.
        func nextChunk() throws -> (SnapshotChunkHeader, UnsafeRawBufferPointer) {
            let headerBytes = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<SnapshotChunkHeader.sizeBytes])
            guard try Syscall.preadAll(fd, path, headerBytes, offset: offset) == SnapshotChunkHeader.sizeBytes else {
                throw SnapshotError(path: path, offset: offset, reason: "chunk header cut short")
            }
            let chunk = UnsafeRawBufferPointer(headerBytes).loadUnaligned(as: SnapshotChunkHeader.self)
            guard Int(chunk.uncompressedSizeBytes) <= chunkBytesMax, Int(chunk.compressedSizeBytes) <= LZ4.compressBound(chunkBytesMax) else {
                throw SnapshotError(path: path, offset: offset, reason: "chunk sizes out of range")
            }
            let body = UnsafeMutableRawBufferPointer(rebasing: buffer[SnapshotChunkHeader.sizeBytes..<(SnapshotChunkHeader.sizeBytes + Int(chunk.compressedSizeBytes))])
            guard try Syscall.preadAll(fd, path, body, offset: offset + SnapshotChunkHeader.sizeBytes) == body.count else {
                throw SnapshotError(path: path, offset: offset, reason: "chunk cut short")
            }
            let computed = Checksum.crc32c(UnsafeRawBufferPointer(body), continuing: Checksum.crc32c(UnsafeRawBufferPointer(rebasing: buffer[0..<12])))
            guard computed == chunk.checksum else { throw SnapshotError(path: path, offset: offset, reason: "chunk checksum mismatch") }
            offset += SnapshotChunkHeader.sizeBytes + body.count
            return (chunk, UnsafeRawBufferPointer(body))
        }

        let (metaChunk, metaBytes) = try nextChunk()
        guard metaChunk.section == SnapshotChunkHeader.metaSection, metaBytes.count == MemoryLayout<LedgerSnapshotMeta>.size else {
            throw SnapshotError(path: path, offset: SnapshotHeader.sizeBytes, reason: "first chunk is not the state meta")
        }
        let meta = metaBytes.loadUnaligned(as: LedgerSnapshotMeta.self)
        if let problem = meta.problem { throw SnapshotError(path: path, offset: SnapshotHeader.sizeBytes, reason: "state meta: \(problem)") }
        guard meta.hashSeed == hashSeed else { throw SnapshotError(path: path, offset: SnapshotHeader.sizeBytes, reason: "hash seed does not match this cluster's") }
        let ledger = Ledger(restoring: meta, spareTransfers: spareTransfers)
        var chunksRead: UInt32 = 1
        for section in StateSection.allCases {
            let destination = ledger.sectionDestination(section)
            var filled = 0
            repeat {
                let chunkOffset = offset
                let (chunk, compressed) = try nextChunk()
                chunksRead += 1
                guard chunk.section == section.rawValue else {
                    throw SnapshotError(path: path, offset: chunkOffset, reason: "chunk of section \(chunk.section) where section \(section) was expected")
                }
                let size = Int(chunk.uncompressedSizeBytes)
                guard filled + size <= destination.count else {
                    throw SnapshotError(path: path, offset: chunkOffset, reason: "section \(section) holds more bytes than its meta allows")
                }
                do {
                    if size == 0 {
                        guard compressed.isEmpty else { throw LZ4Error.corruptInput }
                    } else {
                        try LZ4.decompress(compressed, into: UnsafeMutableRawBufferPointer(rebasing: destination[filled..<(filled + size)]))
                    }
                } catch {
                    throw SnapshotError(path: path, offset: chunkOffset, reason: "chunk does not decompress to its size")
                }
                filled += size
            } while filled < destination.count
        }
        // Nothing may follow the last section.
        guard chunksRead == header.chunkCount, offset == Int(header.fileSizeBytes) else {
            throw SnapshotError(path: path, offset: offset, reason: "\(chunksRead) chunks read, the header says \(header.chunkCount)")
        }
        guard ledger.lastTimestampNs == header.lastTimestampNs else {
            throw SnapshotError(path: path, offset: 0, reason: "header and state disagree on the last timestamp")
        }
        return (header, ledger)
    }
}
