// Archiving sealed segments (lz4) and reading them back, checked batch by batch, when replayed.
import CSupport
import Foundation
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
    /// Where decompression buffers come from and go back to (shared by the log's archives).
    let buffers: ArchiveBufferPool
    private let loadLock = NSLock()

    var header: ArchiveHeader { index.header }

    init(path: String, index: ArchiveIndex, clusterId: UInt128, segmentSizeBytes: Int, buffers: ArchiveBufferPool) {
        self.path = path
        self.index = index
        self.clusterId = clusterId
        self.segmentSizeBytes = segmentSizeBytes
        self.buffers = buffers
    }

    deinit { release() }

    var isLoaded: Bool {
        loadLock.lock()
        defer { loadLock.unlock() }
        return data != nil
    }

    /// The decompressed bytes, loading and checking them first if needed: every chunk's checksum,
    /// the checksum of all the data (which covers every batch body once), the segment header, and
    /// each batch header against the index (whose checksums, ops and hash chain were checked at
    /// open). Each byte is checksummed once: a second pass per batch would double the CRC work of
    /// every replay for nothing.
    func load() throws -> UnsafeMutableRawBufferPointer {
        // Held for the whole load: a reader waits for a prefetch of the same archive in flight.
        loadLock.lock()
        defer { loadLock.unlock() }
        if let data { return data }
        let whole = buffers.take()
        let buffer = UnsafeMutableRawBufferPointer(rebasing: whole[0..<Int(header.dataSizeBytes)])
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
            buffers.give(whole)
            throw error
        }
        data = buffer
        return buffer
    }

    func release() {
        loadLock.lock()
        defer { loadLock.unlock() }
        guard let data else { return }
        buffers.give(UnsafeMutableRawBufferPointer(start: data.baseAddress, count: segmentSizeBytes))
        self.data = nil
    }

    private func checkBatches(_ bytes: UnsafeRawBufferPointer) throws {
        if let problem = SegmentHeader.problem(in: bytes, clusterId: clusterId, segmentIndex: header.segmentIndex, segmentSizeBytes: segmentSizeBytes) {
            throw ArchiveError(path: path, offset: 0, op: header.firstOp, reason: "archived segment header: \(problem)")
        }
        for (position, offset) in index.batchOffsets.enumerated() {
            let op = header.firstOp + UInt64(position)
            let found = UnsafeRawBufferPointer(rebasing: bytes[Int(offset)...]).loadUnaligned(as: BatchHeader.self)
            guard found == index.batchHeaders[position] else {
                throw ArchiveError(path: path, offset: Int(offset), op: op, reason: "batch header in the decompressed segment differs from the archive's index")
            }
        }
    }
}

/// Decompression buffers of one segment's size, reused: a fresh 256 MiB buffer per archive costs
/// more in zeroed pages than the decompression itself. At most `retainedMax` idle buffers are kept.
final class ArchiveBufferPool: @unchecked Sendable {
    let bufferSizeBytes: Int
    static let retainedMax = 2
    private var idle: [UnsafeMutableRawBufferPointer] = []
    private let lock = NSLock()

    init(bufferSizeBytes: Int) { self.bufferSizeBytes = bufferSizeBytes }

    deinit { for buffer in idle { buffer.deallocate() } }

    func take() -> UnsafeMutableRawBufferPointer {
        lock.lock()
        defer { lock.unlock() }
        return idle.popLast() ?? .allocate(byteCount: bufferSizeBytes, alignment: 4096)
    }

    func give(_ buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count == bufferSizeBytes)
        lock.lock()
        defer { lock.unlock() }
        if idle.count < ArchiveBufferPool.retainedMax { idle.append(buffer) } else { buffer.deallocate() }
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

/// One sealed segment to archive: everything needed to write and check its archive, taken on
/// the log's writer thread, performed on any thread (it only reads the sealed, immutable segment),
/// and installed back on the writer thread.
public final class ArchiveJob: @unchecked Sendable {
    let file: MappedFile
    let position: Int
    /// The number in the segment's (and the archive's) file name.
    let segmentIndex: Int
    let firstOp: UInt64
    let offsets: [UInt32]
    let headers: [BatchHeader]
    let dataEnd: Int
    let previousHeaderHash: Hash256
    let previousRecordTimestampNs: UInt64
    let path: String
    let directoryPath: String
    let clusterId: UInt128
    let segmentSizeBytes: Int
    let buffers: ArchiveBufferPool
    fileprivate var prepared: ArchivedSegment?
    fileprivate var archiveSizeBytes = 0

    var lastOp: UInt64 { firstOp + UInt64(offsets.count) - 1 }

    init(file: MappedFile, position: Int, segmentIndex: Int, firstOp: UInt64, offsets: [UInt32], headers: [BatchHeader], dataEnd: Int,
         previousHeaderHash: Hash256, previousRecordTimestampNs: UInt64, path: String, directoryPath: String, clusterId: UInt128, segmentSizeBytes: Int, buffers: ArchiveBufferPool) {
        self.buffers = buffers
        self.file = file
        self.position = position
        self.segmentIndex = segmentIndex
        self.firstOp = firstOp
        self.offsets = offsets
        self.headers = headers
        self.dataEnd = dataEnd
        self.previousHeaderHash = previousHeaderHash
        self.previousRecordTimestampNs = previousRecordTimestampNs
        self.path = path
        self.directoryPath = directoryPath
        self.clusterId = clusterId
        self.segmentSizeBytes = segmentSizeBytes
    }

    /// Writes the archive (temporary file, fsync, rename, directory fsync) and reads it back
    /// through the replay's own path, comparing every byte with the segment.
    public func perform() throws {
        let data = UnsafeRawBufferPointer(rebasing: file.bytes[0..<dataEnd])
        let last = headers[headers.count - 1]
        archiveSizeBytes = try ArchiveFile.write(
            path: path, directoryPath: directoryPath, data: data, batchOffsets: offsets, batchHeaders: headers, clusterId: clusterId,
            segmentIndex: segmentIndex, firstOp: firstOp, lastHeaderHash: last.hash(),
            lastRecordTimestampNs: last.lastRecordTimestampNs)
        let index = try ArchiveFile.readIndex(path: path, clusterId: clusterId, segmentIndex: segmentIndex, segmentSizeBytes: segmentSizeBytes,
                                              firstOp: firstOp, previousHeaderHash: previousHeaderHash, previousRecordTimestampNs: previousRecordTimestampNs)
        let archived = ArchivedSegment(path: path, index: index, clusterId: clusterId, segmentSizeBytes: segmentSizeBytes, buffers: buffers)
        let readBack = try archived.load()
        guard index.batchOffsets == offsets, memcmp(readBack.baseAddress!, data.baseAddress!, dataEnd) == 0 else {
            try? Syscall.unlink(path)
            throw ArchiveError(path: path, offset: 0, op: firstOp, reason: "read back differs from the segment: archive removed, segment kept")
        }
        archived.release()
        prepared = archived
    }
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
        var reports: [ArchivedSegmentReport] = []
        for job in archiveJobs(throughOp: throughOp) {
            try job.perform()
            reports.append(try installArchive(job))
        }
        return reports
    }

    /// The sealed segments that `archiveSealedSegments` would archive, as jobs to perform on
    /// another thread (in order) and install back with `installArchive` on this log's writer thread.
    public func archiveJobs(throughOp: UInt64) -> [ArchiveJob] {
        precondition(!isReadOnly)
        var jobs: [ArchiveJob] = []
        var previousHash: Hash256?
        var previousTimestampNs: UInt64 = 0
        for live in 0..<max(segments.count - 1, 0) {
            let position = archives.count + live
            let file = segments[live]
            guard let first = locations.firstIndex(where: { Int($0.segment) == position }) else { break }
            var last = first
            while last + 1 < locations.count && Int(locations[last + 1].segment) == position { last += 1 }
            guard firstOp + UInt64(last) <= throughOp else { break }
            let offsets = locations[first...last].map(\.offset)
            let headers = offsets.map { file.bytes.load(fromByteOffset: Int($0), as: BatchHeader.self) }
            let previous = previousHash.map { ($0, previousTimestampNs) } ?? ArchivedSegment.continuation(log: self, beforeOp: firstOp + UInt64(first))
            let lastHeader = headers[headers.count - 1]
            jobs.append(ArchiveJob(
                file: file, position: position, segmentIndex: firstSegmentIndex + position, firstOp: firstOp + UInt64(first), offsets: offsets, headers: headers,
                dataEnd: Int(offsets[offsets.count - 1]) + lastHeader.batchSizeBytes, previousHeaderHash: previous.0,
                previousRecordTimestampNs: previous.1, path: directoryPath + "/" + ArchiveFile.fileName(segmentIndex: firstSegmentIndex + position),
                directoryPath: directoryPath, clusterId: clusterId, segmentSizeBytes: segmentSizeBytes, buffers: archiveBuffers))
            previousHash = lastHeader.hash()
            previousTimestampNs = lastHeader.lastRecordTimestampNs
        }
        return jobs
    }

    /// Whether `job` still archives this log's oldest live segment. A job taken before the log was
    /// reset (a follower that installed its leader's snapshot) is stale: `discardArchive` it.
    public func isCurrent(_ job: ArchiveJob) -> Bool { segments.first === job.file }

    /// Deletes the archive a stale job wrote (its segment is gone from the log).
    public func discardArchive(_ job: ArchiveJob) {
        precondition(!isCurrent(job))
        _ = unlink(job.path)
    }

    /// Replaces a performed job's segment by its archive: deletes the segment file (durably) and
    /// reads the archive from now on. Jobs are installed in order.
    public func installArchive(_ job: ArchiveJob) throws -> ArchivedSegmentReport {
        guard let archived = job.prepared else { preconditionFailure("install a performed job only") }
        precondition(segments.first === job.file, "archive jobs are installed in order")
        try Syscall.unlink(job.file.path)
        try Syscall.fsyncDirectory(directoryPath)
        segments.removeFirst()
        archives.append(archived)
        return ArchivedSegmentReport(path: job.path, firstOp: job.firstOp, lastOp: job.lastOp, dataSizeBytes: job.dataEnd, archiveSizeBytes: job.archiveSizeBytes)
    }

    /// Decompresses (and checks) every archived segment holding ops in `firstOp...lastOp` that is
    /// not loaded yet. Readers call it before a replay so a damaged archive is an error they can
    /// report, with the file, offset and op.
    public func loadArchives(from firstOp: UInt64, through lastOp: UInt64) throws {
        for archive in archives where archive.header.firstOp <= lastOp && archive.header.lastOp >= firstOp {
            _ = try archive.load()
        }
    }

    /// Calls `body` with each batch from `firstOp` through `lastOp`, in op order, the way a replay
    /// reads: each archived segment is decompressed (and checked) when reached, the next one in
    /// parallel, and freed once passed. `body` returns false to stop early. A damaged archive
    /// throws `ArchiveError` before any of its batches is handed out. A view is valid only during
    /// its call.
    public func streamBatches(from firstOp: UInt64, through lastOp: UInt64, _ body: (BatchView) throws -> Bool) throws {
        precondition(firstOp >= self.firstOp, "op \(firstOp) is before the log's first op \(self.firstOp)")
        guard firstOp <= lastOp else { return }
        var archiveEnd: UInt64 = 0
        defer { if archiveEnd > 0 { releaseArchives(through: archiveEnd) } }
        for op in firstOp...lastOp {
            if op > archiveEnd, let range = archiveRange(containing: op) {
                if archiveEnd > 0 { releaseArchives(through: archiveEnd) }
                try loadArchives(from: op, through: min(range.upperBound, lastOp))
                archiveEnd = range.upperBound
                if archiveEnd < lastOp { prefetchArchive(after: archiveEnd) }
            }
            guard try body(batch(op: op)) else { return }
        }
    }

    /// Starts decompressing the archive that follows op `op` on another thread, so a replay that
    /// reaches it finds it ready (decompression overlaps the applier). A failure is left for the
    /// reader's own `loadArchives` to report.
    public func prefetchArchive(after op: UInt64) {
        guard op < archivedThroughOp else { return }
        let archive = archives[Int(locations[locationIndex(op + 1)].segment)]
        DispatchQueue.global().async { _ = try? archive.load() }
    }

    /// Frees the decompressed bytes of archived segments whose ops all lie at or before `op`.
    /// Batch views into them become invalid.
    public func releaseArchives(through op: UInt64) {
        for archive in archives where archive.isLoaded && archive.header.lastOp <= op { archive.release() }
    }

    /// The header of batch `op`, without decompressing an archived segment.
    public func header(op: UInt64) -> BatchHeader {
        precondition(op >= firstOp && op <= lastOp, "op \(op) is not in the log (it holds \(firstOp)...\(lastOp))")
        let location = locations[locationIndex(op)]
        if Int(location.segment) < archives.count {
            let archive = archives[Int(location.segment)]
            return archive.index.batchHeaders[Int(op - archive.header.firstOp)]
        }
        return batch(op: op).header
    }

    /// The archive holding `op`, if `op` is archived: its first and last op.
    public func archiveRange(containing op: UInt64) -> ClosedRange<UInt64>? {
        guard op >= firstOp, op <= archivedThroughOp else { return nil }
        let archive = archives[Int(locations[locationIndex(op)].segment)]
        return archive.header.firstOp...archive.header.lastOp
    }
}

extension ArchivedSegment {
    /// The header hash and last record timestamp the batch `op` continues from.
    static func continuation(log: SegmentLog, beforeOp op: UInt64) -> (hash: Hash256, timestampNs: UInt64) {
        if op == log.firstOp {
            guard let base = log.base else { return (Hash256.genesis(clusterId: log.clusterId), 0) }
            return (base.baseHeaderHash, base.baseRecordTimestampNs)
        }
        let header = log.header(op: op - 1)
        return (header.hash(), header.lastRecordTimestampNs)
    }
}
