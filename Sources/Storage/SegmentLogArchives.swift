// Archiving sealed segments (lz4) and reading them back, checked batch by batch, when replayed.
import CSupport
import LedgerCore
#if canImport(Glibc)
import Glibc
#endif

/// An archived segment in an open log: its header and batch offsets are known from the open; its
/// bytes are decompressed (and every batch re-checked) on first read, and kept until released.
final class ArchivedSegment {
    let path: String
    let index: ArchiveIndex
    let clusterId: UInt128
    let segmentSizeBytes: Int
    private(set) var data: UnsafeMutableRawBufferPointer?

    var header: ArchiveHeader { index.header }

    init(path: String, index: ArchiveIndex, clusterId: UInt128, segmentSizeBytes: Int) {
        self.path = path
        self.index = index
        self.clusterId = clusterId
        self.segmentSizeBytes = segmentSizeBytes
    }

    deinit { data?.deallocate() }

    var isLoaded: Bool { data != nil }

    /// The decompressed bytes, loading and checking them first if needed: every chunk, the data
    /// checksum, the segment header, and each batch (its checksums, and its header equal to the
    /// index's, whose ops and hash chain were checked at open).
    func load() throws -> UnsafeMutableRawBufferPointer {
        if let data { return data }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(header.dataSizeBytes), alignment: 4096)
        do {
            let offsets = index.batchOffsets
            let firstOp = header.firstOp
            try ArchiveFile.readData(path: path, header: header, into: buffer) { position in
                // The batch that holds (or, for the segment header page, follows) that byte.
                let containing = offsets.lastIndex { Int($0) <= position } ?? 0
                return firstOp + UInt64(containing)
            }
            try checkBatches(UnsafeRawBufferPointer(buffer))
        } catch {
            buffer.deallocate()
            throw error
        }
        data = buffer
        return buffer
    }

    func release() {
        data?.deallocate()
        data = nil
    }

    private func checkBatches(_ bytes: UnsafeRawBufferPointer) throws {
        if let problem = SegmentHeader.problem(in: bytes, clusterId: clusterId, segmentIndex: header.segmentIndex, segmentSizeBytes: segmentSizeBytes) {
            throw ArchiveError(path: path, offset: 0, op: header.firstOp, reason: "archived segment header: \(problem)")
        }
        for (position, offset) in index.batchOffsets.enumerated() {
            let op = header.firstOp + UInt64(position)
            switch BatchHeader.validateBatch(UnsafeRawBufferPointer(rebasing: bytes[Int(offset)...])) {
            case .failure(let error):
                throw ArchiveError(path: path, offset: Int(offset), op: op, reason: "\(error) (in the decompressed segment)")
            case .success(let found):
                guard found == index.batchHeaders[position] else {
                    throw ArchiveError(path: path, offset: Int(offset), op: op, reason: "batch header differs from the archive's index")
                }
            }
        }
    }
}

/// What archiving one segment did.
public struct ArchivedSegmentReport: Sendable {
    public let path: String
    public let firstOp: UInt64
    public let lastOp: UInt64
    /// Bytes of the segment's data (its header page and batches) and of the archive file.
    public let dataSizeBytes: Int
    public let archiveSizeBytes: Int
}

extension SegmentLog {
    /// Archives every sealed segment (each live segment but the last) whose batches all lie at or
    /// before `throughOp`: lz4 into `archive-N.wlza`, fsync'd and renamed into place, read back and
    /// compared byte for byte, and only then the segment file deleted. The log stays whole and
    /// replayable. A crash at any point leaves the segment, or the archive, or both (the next
    /// open keeps the archive and deletes the segment), never neither.
    ///
    /// Views into an archived segment's old mapping become invalid: call it only where no batch
    /// view of those ops is held (they are committed and applied; a snapshot covers them).
    @discardableResult
    public func archiveSealedSegments(throughOp: UInt64) throws -> [ArchivedSegmentReport] {
        precondition(!isReadOnly)
        var reports: [ArchivedSegmentReport] = []
        while segments.count >= 2 {
            let position = archives.count
            let file = segments[0]
            let first = locations.firstIndex { Int($0.segment) == position }!
            var last = first
            while last + 1 < locations.count && Int(locations[last + 1].segment) == position { last += 1 }
            let firstOp = UInt64(first + 1)
            let lastOp = UInt64(last + 1)
            guard lastOp <= throughOp else { break }
            let lastHeader = file.bytes.load(fromByteOffset: Int(locations[last].offset), as: BatchHeader.self)
            let dataEnd = Int(locations[last].offset) + lastHeader.batchSizeBytes
            let data = UnsafeRawBufferPointer(rebasing: file.bytes[0..<dataEnd])
            let offsets = locations[first...last].map(\.offset)
            let headers = offsets.map { file.bytes.load(fromByteOffset: Int($0), as: BatchHeader.self) }
            let previous = ArchivedSegment.continuation(log: self, beforeOp: firstOp)
            let path = directoryPath + "/" + ArchiveFile.fileName(segmentIndex: position + 1)
            let lastTimestampNs = lastHeader.timestampNs + UInt64(max(Int(lastHeader.recordCount), 1) - 1)
            let archiveSize = try ArchiveFile.write(path: path, directoryPath: directoryPath, data: data, batchOffsets: offsets, batchHeaders: headers, clusterId: clusterId,
                                                    segmentIndex: position + 1, firstOp: firstOp, lastHeaderHash: lastHeader.hash(),
                                                    lastRecordTimestampNs: lastTimestampNs)
            // Read it back through the same path a replay takes, and compare with the original.
            let index = try ArchiveFile.readIndex(path: path, clusterId: clusterId, segmentIndex: position + 1, segmentSizeBytes: segmentSizeBytes,
                                                  firstOp: firstOp, previousHeaderHash: previous.hash, previousRecordTimestampNs: previous.timestampNs)
            let archived = ArchivedSegment(path: path, index: index, clusterId: clusterId, segmentSizeBytes: segmentSizeBytes)
            let readBack = try archived.load()
            guard index.batchOffsets == offsets, memcmp(readBack.baseAddress!, data.baseAddress!, dataEnd) == 0 else {
                try? Syscall.unlink(path)
                throw ArchiveError(path: path, offset: 0, op: firstOp, reason: "read back differs from the segment: archive removed, segment kept")
            }
            archived.release()
            try Syscall.unlink(file.path)
            try Syscall.fsyncDirectory(directoryPath)
            segments.removeFirst()
            archives.append(archived)
            reports.append(ArchivedSegmentReport(path: path, firstOp: firstOp, lastOp: lastOp, dataSizeBytes: dataEnd, archiveSizeBytes: archiveSize))
        }
        return reports
    }

    /// Decompresses (and checks) every archived segment holding ops in `firstOp...lastOp` that is
    /// not loaded yet. Readers call it before a replay so a damaged archive is an error they can
    /// report, with the file, offset and op.
    public func loadArchives(from firstOp: UInt64, through lastOp: UInt64) throws {
        for archive in archives where archive.header.firstOp <= lastOp && archive.header.lastOp >= firstOp {
            _ = try archive.load()
        }
    }

    /// Frees the decompressed bytes of archived segments whose ops all lie at or before `op`.
    /// Batch views into them become invalid.
    public func releaseArchives(through op: UInt64) {
        for archive in archives where archive.isLoaded && archive.header.lastOp <= op { archive.release() }
    }

    /// The header of batch `op`, without decompressing an archived segment.
    public func header(op: UInt64) -> BatchHeader {
        precondition(op >= 1 && op <= lastOp, "op \(op) is not in the log")
        let location = locations[Int(op - 1)]
        if Int(location.segment) < archives.count {
            let archive = archives[Int(location.segment)]
            return archive.index.batchHeaders[Int(op - archive.header.firstOp)]
        }
        return batch(op: op).header
    }

    /// The archive holding `op`, if `op` is archived: its first and last op.
    public func archiveRange(containing op: UInt64) -> ClosedRange<UInt64>? {
        guard op >= 1, op <= archivedThroughOp else { return nil }
        let archive = archives[Int(locations[Int(op - 1)].segment)]
        return archive.header.firstOp...archive.header.lastOp
    }
}

extension ArchivedSegment {
    /// The header hash and last record timestamp the batch `op` continues from.
    static func continuation(log: SegmentLog, beforeOp op: UInt64) -> (hash: Hash256, timestampNs: UInt64) {
        guard op > 1 else { return (Hash256.genesis(clusterId: log.clusterId), 0) }
        let header = log.header(op: op - 1)
        return (header.hash(), header.timestampNs + UInt64(max(Int(header.recordCount), 1) - 1))
    }
}
