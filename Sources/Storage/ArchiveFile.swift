// Archived segments: a sealed segment's bytes lz4-compressed in checksummed chunks, still replayable.
import CSupport
import LedgerCore
#if canImport(Glibc)
import Glibc
#endif

/// A damaged, truncated or mismatched archive: named by file and offset (and op where known).
public struct ArchiveError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let offset: Int
    public let op: UInt64?
    public let reason: String
    public var description: String { "archive \(path) at offset \(offset)\(op.map { " (op \($0))" } ?? ""): \(reason)" }
}

/// The 128-byte header at offset 0 of an archive file. Layout in docs/FORMAT.md.
public struct ArchiveHeader: Equatable, Sendable {
    public var checksum: UInt32              // offset 0: CRC32C of bytes 4..<128
    public var magic: UInt32                 // offset 4
    public var formatVersion: UInt16         // offset 8
    public var reserved0: UInt16             // offset 10
    public var chunkCount: UInt32            // offset 12
    public var clusterId: UInt128            // offset 16
    /// The index of the segment this archive replaces (its file name carries it too).
    public var segmentIndex: UInt64          // offset 32
    public var firstOp: UInt64               // offset 40
    public var batchCount: UInt32            // offset 48
    /// CRC32C of the batch index that follows the header (every batch's header, then its offset).
    public var indexChecksum: UInt32         // offset 52
    /// Bytes of the segment archived: from its header through the end of its last batch.
    public var dataSizeBytes: UInt64         // offset 56
    public var fileSizeBytes: UInt64         // offset 64
    /// Timestamp of the segment's last record: where the next segment's timestamps must start after.
    public var lastRecordTimestampNs: UInt64 // offset 72
    /// SHA-256 of the last batch header: the next segment's first batch chains to it.
    public var lastHeaderHash: Hash256       // offset 80
    /// CRC32C of all `dataSizeBytes` uncompressed bytes.
    public var dataChecksum: UInt32          // offset 112
    public var reserved1: UInt32             // offset 116
    public var reserved2: UInt64             // offset 120

    /// "WLA1" read as a little-endian word.
    public static let magicValue: UInt32 = 0x3141_4C57
    public static let formatVersionCurrent: UInt16 = 1
    public static let sizeBytes = 128

    public var lastOp: UInt64 { firstOp + UInt64(batchCount) - 1 }

    func computeChecksum() -> UInt32 { Checksum.crc32cOfHeader(self) }
}

/// What an archive's header and batch index say: enough to know every batch without decompressing.
struct ArchiveIndex {
    let header: ArchiveHeader
    let batchHeaders: [BatchHeader]
    let batchOffsets: [UInt32]
}

/// 16 bytes before each chunk: sizes before and after compression, and a CRC32C over the first
/// 8 bytes and the compressed bytes.
struct ArchiveChunkHeader {
    var uncompressedSizeBytes: UInt32
    var compressedSizeBytes: UInt32
    var checksum: UInt32
    var reserved: UInt32

    static let sizeBytes = 16
}

/// Writing and reading `log/archive-NNNNNNNNNN.wlza` files.
public enum ArchiveFile {
    /// Uncompressed bytes per chunk: bounds a reader's buffer and what one bad chunk hides.
    public static let chunkBytesMax = 4 << 20

    public static func fileName(segmentIndex: Int) -> String {
        let digits = String(segmentIndex)
        return "archive-" + String(repeating: "0", count: max(0, 10 - digits.count)) + digits + ".wlza"
    }

    /// Writes `data` (a sealed segment's bytes through its last batch, whose batches start at the
    /// given offsets) to `path`: a temporary file, fsync'd, renamed into place, directory fsync'd.
    /// Returns the file's size.
    static func write(path: String, directoryPath: String, data: UnsafeRawBufferPointer, batchOffsets: [UInt32], batchHeaders: [BatchHeader], clusterId: UInt128,
                      segmentIndex: Int, firstOp: UInt64, lastHeaderHash: Hash256, lastRecordTimestampNs: UInt64) throws -> Int {
        precondition(!batchOffsets.isEmpty && batchHeaders.count == batchOffsets.count, "an archive holds at least one batch, each with its header")
        let temporaryPath = path + ".tmp"
        let fd = try Syscall.open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC)
        var header = ArchiveHeader(
            checksum: 0, magic: ArchiveHeader.magicValue, formatVersion: ArchiveHeader.formatVersionCurrent, reserved0: 0,
            chunkCount: 0, clusterId: clusterId, segmentIndex: UInt64(segmentIndex), firstOp: firstOp, batchCount: UInt32(batchOffsets.count),
            indexChecksum: 0, dataSizeBytes: UInt64(data.count), fileSizeBytes: 0, lastRecordTimestampNs: lastRecordTimestampNs,
            lastHeaderHash: lastHeaderHash, dataChecksum: Checksum.crc32c(data), reserved1: 0, reserved2: 0)
        do {
            defer { Syscall.close(fd) }
            var offset = ArchiveHeader.sizeBytes
            var writtenBack = 0
            try batchHeaders.withUnsafeBytes { headers in
                try batchOffsets.withUnsafeBytes { offsets in
                    header.indexChecksum = Checksum.crc32c(offsets, continuing: Checksum.crc32c(headers))
                    try Syscall.pwriteAll(fd, temporaryPath, headers, offset: offset)
                    try Syscall.pwriteAll(fd, temporaryPath, offsets, offset: offset + headers.count)
                    offset += headers.count + offsets.count
                }
            }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ArchiveChunkHeader.sizeBytes + LZ4.compressBound(chunkBytesMax), alignment: 16)
            defer { buffer.deallocate() }
            var start = 0
            while start < data.count {
                let end = min(start + chunkBytesMax, data.count)
                let body = UnsafeMutableRawBufferPointer(rebasing: buffer[ArchiveChunkHeader.sizeBytes...])
                let size = try LZ4.compress(UnsafeRawBufferPointer(rebasing: data[start..<end]), into: body)
                var chunk = ArchiveChunkHeader(uncompressedSizeBytes: UInt32(end - start), compressedSizeBytes: UInt32(size), checksum: 0, reserved: 0)
                withUnsafeBytes(of: chunk) { buffer.copyMemory(from: $0) }
                chunk.checksum = Checksum.crc32c(UnsafeRawBufferPointer(rebasing: body[0..<size]),
                                                 continuing: Checksum.crc32c(UnsafeRawBufferPointer(rebasing: buffer[0..<8])))
                withUnsafeBytes(of: chunk) { buffer.copyMemory(from: $0) }
                try Syscall.pwriteAll(fd, temporaryPath, UnsafeRawBufferPointer(rebasing: buffer[0..<(ArchiveChunkHeader.sizeBytes + size)]), offset: offset)
                offset += ArchiveChunkHeader.sizeBytes + size
                header.chunkCount += 1
                SnapshotFile.writeBackInSteps(fd: fd, offset: offset, writtenBack: &writtenBack)
                start = end
            }
            header.fileSizeBytes = UInt64(offset)
            header.checksum = header.computeChecksum()
            try withUnsafeBytes(of: header) { try Syscall.pwriteAll(fd, temporaryPath, $0, offset: 0) }
            try Syscall.fsync(fd, temporaryPath)
        } catch {
            try? Syscall.unlink(temporaryPath)
            throw error
        }
        try Syscall.rename(temporaryPath, path)
        try Syscall.fsyncDirectory(directoryPath)
        return Int(header.fileSizeBytes)
    }

    /// Bytes of the batch index for `batchCount` batches: 128-byte headers, then u32 offsets.
    static func indexSizeBytes(batchCount: Int) -> Int { batchCount * (Limits.batchHeaderSizeBytes + 4) }

    /// Only the 128-byte header, checked on its own (magic, checksum, cluster): for a look at a
    /// file that is being set aside, whose place in the log no longer matters.
    static func readHeaderOnly(path: String, clusterId: UInt128) throws -> ArchiveHeader {
        let fd = try Syscall.open(path, O_RDONLY)
        defer { Syscall.close(fd) }
        var bytes = [UInt8](repeating: 0, count: ArchiveHeader.sizeBytes)
        let read = try bytes.withUnsafeMutableBytes { try Syscall.preadAll(fd, path, $0, offset: 0) }
        let header = bytes.withUnsafeBytes { $0.loadUnaligned(as: ArchiveHeader.self) }
        guard read == ArchiveHeader.sizeBytes, header.magic == ArchiveHeader.magicValue, header.checksum == header.computeChecksum(),
              header.clusterId == clusterId, header.batchCount >= 1 else {
            throw ArchiveError(path: path, offset: 0, op: nil, reason: "header damaged")
        }
        return header
    }

    /// Reads and checks an archive's header and batch index (not its data): each batch header is
    /// valid, and ops, the hash chain and timestamps run on from `previousHeaderHash`/`previousRecordTimestampNs`
    /// to the archive header's last hash and timestamp, so the log's shape is known without decompressing.
    static func readIndex(path: String, clusterId: UInt128, segmentIndex: Int, segmentSizeBytes: Int, firstOp: UInt64,
                          previousHeaderHash: Hash256, previousRecordTimestampNs: UInt64) throws -> ArchiveIndex {
        let fd = try Syscall.open(path, O_RDONLY)
        defer { Syscall.close(fd) }
        var bytes = [UInt8](repeating: 0, count: ArchiveHeader.sizeBytes)
        let read = try bytes.withUnsafeMutableBytes { try Syscall.preadAll(fd, path, $0, offset: 0) }
        guard read == ArchiveHeader.sizeBytes else { throw ArchiveError(path: path, offset: 0, op: nil, reason: "truncated header (\(read) bytes)") }
        let header = bytes.withUnsafeBytes { $0.loadUnaligned(as: ArchiveHeader.self) }
        guard header.magic == ArchiveHeader.magicValue, header.checksum == header.computeChecksum() else {
            throw ArchiveError(path: path, offset: 0, op: nil, reason: "header damaged (bad magic or checksum)")
        }
        guard header.formatVersion == ArchiveHeader.formatVersionCurrent else {
            throw ArchiveError(path: path, offset: 0, op: nil, reason: "unsupported archive version \(header.formatVersion)")
        }
        guard header.clusterId == clusterId else { throw ArchiveError(path: path, offset: 16, op: nil, reason: "belongs to cluster \(header.clusterId)") }
        guard header.segmentIndex == UInt64(segmentIndex) else {
            throw ArchiveError(path: path, offset: 32, op: nil, reason: "holds segment \(header.segmentIndex), its name says \(segmentIndex)")
        }
        guard header.firstOp == firstOp else {
            throw ArchiveError(path: path, offset: 40, op: firstOp, reason: "archive starts at op \(header.firstOp), the log continues at op \(firstOp)")
        }
        guard header.batchCount >= 1, header.dataSizeBytes <= UInt64(segmentSizeBytes),
              header.dataSizeBytes >= UInt64(Limits.segmentHeaderSizeBytes + Limits.batchHeaderSizeBytes) else {
            throw ArchiveError(path: path, offset: 48, op: nil, reason: "batch count or data size out of range")
        }
        let size = try Syscall.fileSizeBytes(fd, path)
        guard size == Int(header.fileSizeBytes), size >= ArchiveHeader.sizeBytes + indexSizeBytes(batchCount: Int(header.batchCount)) else {
            throw ArchiveError(path: path, offset: size, op: nil, reason: "file is \(size) bytes, its header says \(header.fileSizeBytes) (truncated or appended to)")
        }
        let count = Int(header.batchCount)
        var headers = [BatchHeader](repeating: BatchHeader(recordKind: .noop, recordCount: 0), count: count)
        var offsets = [UInt32](repeating: 0, count: count)
        let headersRead = try headers.withUnsafeMutableBytes { try Syscall.preadAll(fd, path, $0, offset: ArchiveHeader.sizeBytes) }
        let offsetsRead = try offsets.withUnsafeMutableBytes { try Syscall.preadAll(fd, path, $0, offset: ArchiveHeader.sizeBytes + count * Limits.batchHeaderSizeBytes) }
        let computed = headers.withUnsafeBytes { h in offsets.withUnsafeBytes { Checksum.crc32c($0, continuing: Checksum.crc32c(h)) } }
        guard headersRead == count * Limits.batchHeaderSizeBytes, offsetsRead == count * 4, computed == header.indexChecksum else {
            throw ArchiveError(path: path, offset: ArchiveHeader.sizeBytes, op: firstOp, reason: "batch index damaged (checksum mismatch)")
        }
        var expectedHash = previousHeaderHash
        var lastTimestampNs = previousRecordTimestampNs
        var expectedOffset = Limits.segmentHeaderSizeBytes
        for index in 0..<count {
            let op = firstOp + UInt64(index)
            let at = ArchiveHeader.sizeBytes + index * Limits.batchHeaderSizeBytes
            let batchHeader = headers[index]
            let problem: String?
            switch headers.withUnsafeBytes({ BatchHeader.validateHeader(UnsafeRawBufferPointer(rebasing: $0[(index * 128)..<((index + 1) * 128)])) }) {
            case .failure(let error): problem = error.description
            case .success:
                if batchHeader.clusterId != clusterId { problem = "batch belongs to cluster \(batchHeader.clusterId)" }
                else if batchHeader.op != op { problem = "batch has op \(batchHeader.op)" }
                else if batchHeader.previousHeaderHash != expectedHash { problem = "hash chain broken: previous header hash does not match op \(op - 1)" }
                else if batchHeader.timestampNs <= lastTimestampNs { problem = "timestamp \(batchHeader.timestampNs) does not increase" }
                else if Int(offsets[index]) != expectedOffset { problem = "batch offset \(offsets[index]) leaves a gap (expected \(expectedOffset))" }
                else { problem = nil }
            }
            if let problem { throw ArchiveError(path: path, offset: at, op: op, reason: problem) }
            expectedHash = batchHeader.hash()
            lastTimestampNs = batchHeader.lastRecordTimestampNs
            expectedOffset += batchHeader.batchSizeBytes
        }
        guard expectedOffset == Int(header.dataSizeBytes), expectedHash == header.lastHeaderHash, lastTimestampNs == header.lastRecordTimestampNs else {
            throw ArchiveError(path: path, offset: 56, op: header.lastOp, reason: "the batch index does not end where the archive header says")
        }
        return ArchiveIndex(header: header, batchHeaders: headers, batchOffsets: offsets)
    }

    /// Decompresses an archive's data into `destination` (exactly `dataSizeBytes`), checking every
    /// chunk and the whole data's checksum.
    /// `opAt` names the op holding a decompressed offset, for the error.
    static func readData(path: String, header: ArchiveHeader, into destination: UnsafeMutableRawBufferPointer,
                         opAt: (Int) -> UInt64? = { _ in nil }) throws {
        precondition(destination.count == Int(header.dataSizeBytes))
        // Mapped, not read into a fresh buffer: the compressed bytes come straight from the page
        // cache, with no copy and no zeroed pages (which cost more than decompressing).
        let file = try MappedFile(path: path, writable: false)
        let fileSize = Int(header.fileSizeBytes)
        guard file.sizeBytes == fileSize else {
            throw ArchiveError(path: path, offset: file.sizeBytes, op: nil, reason: "file is \(file.sizeBytes) bytes, its header says \(fileSize)")
        }
        let compressed = file.bytes
        var offset = ArchiveHeader.sizeBytes + indexSizeBytes(batchCount: Int(header.batchCount))
        var filled = 0
        for _ in 0..<header.chunkCount {
            guard offset + ArchiveChunkHeader.sizeBytes <= fileSize else {
                throw ArchiveError(path: path, offset: offset, op: nil, reason: "chunk header cut short")
            }
            let chunk = UnsafeRawBufferPointer(rebasing: compressed[offset..<(offset + ArchiveChunkHeader.sizeBytes)]).loadUnaligned(as: ArchiveChunkHeader.self)
            let bodyStart = offset + ArchiveChunkHeader.sizeBytes
            let size = Int(chunk.uncompressedSizeBytes)
            guard size >= 1, size <= chunkBytesMax, filled + size <= destination.count,
                  bodyStart + Int(chunk.compressedSizeBytes) <= fileSize else {
                throw ArchiveError(path: path, offset: offset, op: nil, reason: "chunk sizes out of range")
            }
            let body = UnsafeRawBufferPointer(rebasing: compressed[bodyStart..<(bodyStart + Int(chunk.compressedSizeBytes))])
            let computed = Checksum.crc32c(body, continuing: Checksum.crc32c(UnsafeRawBufferPointer(rebasing: compressed[offset..<(offset + 8)])))
            guard computed == chunk.checksum else {
                throw ArchiveError(path: path, offset: offset, op: opAt(filled), reason: "chunk checksum mismatch (the chunk holding segment bytes \(filled)..<\(filled + size))")
            }
            do {
                try LZ4.decompress(body, into: UnsafeMutableRawBufferPointer(rebasing: destination[filled..<(filled + size)]))
            } catch {
                throw ArchiveError(path: path, offset: offset, op: opAt(filled), reason: "chunk does not decompress to its size")
            }
            filled += size
            offset = bodyStart + body.count
        }
        guard filled == destination.count, offset == fileSize else {
            throw ArchiveError(path: path, offset: offset, op: nil, reason: "chunks hold \(filled) of \(destination.count) bytes")
        }
        guard Checksum.crc32c(UnsafeRawBufferPointer(destination)) == header.dataChecksum else {
            throw ArchiveError(path: path, offset: 0, op: header.firstOp, reason: "data checksum mismatch after decompression (ops \(header.firstOp)...\(header.lastOp))")
        }
    }
}
