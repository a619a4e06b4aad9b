// Opening a log: check every segment and batch, cut a torn tail, refuse corruption before it.
import CSupport
import LedgerCore
#if canImport(Glibc)
import Glibc
#endif

extension SegmentLog {
    /// Scans all segments in order and rebuilds the op → location table.
    ///
    /// A batch that fails any check (checksums, op, hash chain, cluster, timestamp) ends the scan.
    /// It is a torn tail only when all of these hold: it lies in the last segment; no valid batch
    /// header follows it beyond the torn-write window (`unsyncedBytesMax`); and no later batch
    /// header claims it durable (`durableOp`). The tail is then cut (zeroed, unless read-only) and
    /// reported in `tailTruncation`. Anything else is `LogCorruption`: an acknowledged batch is
    /// damaged, and skipping it would silently change history.
    func recover() throws {
        let names = try Syscall.listDirectory(directoryPath)
        // A crash while writing an archive leaves its temporary file: never published, removed.
        if !isReadOnly {
            for name in names where name.hasPrefix("archive-") && name.hasSuffix(".wlza.tmp") {
                try Syscall.unlink(directoryPath + "/" + name)
            }
        }
        if let found = try LogBase.read(directoryPath: directoryPath, clusterId: clusterId) {
            base = found
            lastOp = found.baseOp
            lastHeaderHash = found.baseHeaderHash
            lastRecordTimestampNs = found.baseRecordTimestampNs
        }
        var segmentNames = Set(names.filter { $0.hasPrefix("segment-") && $0.hasSuffix(".wlog") })
        var archiveNames = Set(names.filter { $0.hasPrefix("archive-") && $0.hasSuffix(".wlza") })
        var count = firstSegmentIndex - 1
        for name in segmentNames.union(archiveNames) {
            guard let index = SegmentLog.fileIndex(ofName: name) else {
                throw LogCorruption(segmentPath: directoryPath + "/" + name, offset: 0, op: firstOp,
                                    reason: "segment files are not numbered \(firstSegmentIndex), \(firstSegmentIndex + 1), ...: unexpected name \(name)")
            }
            if index < firstSegmentIndex {
                // Before the log base: a crash after the base was written, before these were
                // deleted (pruning, or a reset to a leader's snapshot). Finish the job.
                segmentNames.remove(name)
                archiveNames.remove(name)
                if !isReadOnly { try Syscall.unlink(directoryPath + "/" + name) }
                continue
            }
            count = max(count, index)
        }
        if !isReadOnly && base != nil { try Syscall.fsyncDirectory(directoryPath) }
        // Archived segments first (a prefix of the log), then live ones; numbered without gaps.
        var liveNames: [String] = []
        for index in stride(from: firstSegmentIndex, through: count, by: 1) {
            let segmentName = SegmentLog.segmentFileName(index)
            let archiveName = ArchiveFile.fileName(segmentIndex: index)
            let hasSegment = segmentNames.contains(segmentName)
            let hasArchive = archiveNames.contains(archiveName)
            guard hasSegment || hasArchive else {
                throw LogCorruption(segmentPath: directoryPath + "/" + segmentName, offset: 0, op: lastOp + 1,
                                    reason: "segment \(index) is missing (neither \(segmentName) nor \(archiveName) exists): segment files are not numbered 1, 2, 3, ...")
            }
            if hasArchive && liveNames.isEmpty {
                let path = directoryPath + "/" + archiveName
                let found: ArchiveIndex
                do {
                    found = try ArchiveFile.readIndex(path: path, clusterId: clusterId, segmentIndex: index, segmentSizeBytes: segmentSizeBytes,
                                                      firstOp: lastOp + 1, previousHeaderHash: lastHeaderHash, previousRecordTimestampNs: lastRecordTimestampNs)
                } catch {
                    // With the segment still there, the segment is the truth: drop the bad archive.
                    guard hasSegment else { throw error }
                    if !isReadOnly {
                        try Syscall.unlink(path)
                        try Syscall.fsyncDirectory(directoryPath)
                    }
                    liveNames.append(segmentName)
                    continue
                }
                if hasSegment && !isReadOnly {
                    // A crash between publishing the archive and deleting the segment: finish the job.
                    try Syscall.unlink(directoryPath + "/" + segmentName)
                    try Syscall.fsyncDirectory(directoryPath)
                }
                let position = archives.count
                archives.append(ArchivedSegment(path: path, index: found, clusterId: clusterId, segmentSizeBytes: segmentSizeBytes, buffers: archiveBuffers))
                for offset in found.batchOffsets { locations.append(BatchLocation(segment: UInt32(position), offset: offset)) }
                lastOp = found.header.lastOp
                lastHeaderHash = found.header.lastHeaderHash
                lastRecordTimestampNs = found.header.lastRecordTimestampNs
                continue
            }
            guard hasSegment else {
                throw LogCorruption(segmentPath: directoryPath + "/" + archiveName, offset: 0, op: lastOp + 1,
                                    reason: "an archive after a live segment: only a prefix of the log is archived")
            }
            liveNames.append(segmentName)
        }
        let archivedCount = archives.count
        for (livePosition, name) in liveNames.enumerated() {
            let position = archivedCount + livePosition
            let path = directoryPath + "/" + name
            let isLast = livePosition == liveNames.count - 1
            let file = try MappedFile(path: path, writable: !isReadOnly)
            if let problem = segmentHeaderProblem(file, index: firstSegmentIndex + position) {
                if isLast && !laterBatchHeaders(file, from: Limits.segmentHeaderSizeBytes, windowEnd: file.sizeBytes).found {
                    // Crash while creating the segment: nothing was ever written to it.
                    if !isReadOnly {
                        try Syscall.unlink(path)
                        try Syscall.fsyncDirectory(directoryPath)
                    }
                    tailTruncation = TailTruncation(segmentPath: path, offset: 0, op: lastOp + 1, reason: "incomplete new segment: \(problem)")
                    break
                }
                throw LogCorruption(segmentPath: path, offset: 0, op: lastOp + 1, reason: problem)
            }
            segments.append(file)
            writeOffset = try scanBatches(file, segmentPosition: position, isLast: isLast)
        }
        syncTakenOffset = writeOffset
        durableOffset = writeOffset
        // What was found may sit only in the page cache (a killed process never synced it): make
        // it durable before any new batch claims it so.
        if !isReadOnly, let last = segments.last { try last.sync(offset: 0, count: writeOffset) }
        durableOp = lastOp
    }

    private func segmentHeaderProblem(_ file: MappedFile, index: Int) -> String? {
        if file.sizeBytes != segmentSizeBytes {
            return "segment is \(file.sizeBytes) bytes, the data directory's segment size is \(segmentSizeBytes)"
        }
        if let problem = SegmentHeader.problem(in: file.bytes, clusterId: clusterId, segmentIndex: UInt64(index), segmentSizeBytes: segmentSizeBytes) {
            return problem
        }
        let header = file.bytes.load(as: SegmentHeader.self)
        if header.firstOp != lastOp + 1 { return "segment starts at op \(header.firstOp), the log continues at op \(lastOp + 1)" }
        return nil
    }

    /// Returns the offset just past the segment's last valid batch.
    private func scanBatches(_ file: MappedFile, segmentPosition: Int, isLast: Bool) throws -> Int {
        var offset = Limits.segmentHeaderSizeBytes
        while offset + Limits.batchHeaderSizeBytes <= file.sizeBytes {
            let remaining = UnsafeRawBufferPointer(rebasing: file.bytes[offset...])
            let isZeroHeader = wallet_last_nonzero_index(remaining.baseAddress!, Limits.batchHeaderSizeBytes) < 0
            let problem = isZeroHeader ? nil : batchProblem(remaining)
            if problem == nil && !isZeroHeader {
                let header = remaining.load(as: BatchHeader.self)
                locations.append(BatchLocation(segment: UInt32(segmentPosition), offset: UInt32(offset)))
                lastOp = header.op
                lastHeaderHash = header.hash()
                lastRecordTimestampNs = header.lastRecordTimestampNs
                offset += header.batchSizeBytes
                continue
            }
            // The scan stops here: a clean end, a torn tail, or corruption.
            let windowEnd = min(file.sizeBytes, offset + SegmentLog.unsyncedBytesMax)
            let later = laterBatchHeaders(file, from: offset + Limits.batchHeaderSizeBytes, windowEnd: windowEnd)
            if isZeroHeader && !later.found {
                // The end of the data; on the last segment, clear any headerless bytes a torn write left.
                if isLast { try cutTail(file, offset: offset, windowEnd: windowEnd, reason: nil) }
                return offset
            }
            let expectedOp = lastOp + 1
            if !isLast || later.beyondWindow || later.durableOpMax >= expectedOp {
                let why = later.durableOpMax >= expectedOp ? "a later batch records op \(later.durableOpMax) as durable" : "valid batches follow it"
                throw LogCorruption(segmentPath: file.path, offset: offset, op: expectedOp,
                                    reason: (problem ?? "batch header is zeroed") + "; " + why)
            }
            try cutTail(file, offset: offset, windowEnd: windowEnd, reason: problem)
            return offset
        }
        return offset
    }

    /// Zeroes whatever an interrupted write left in [offset, windowEnd) and records the cut.
    private func cutTail(_ file: MappedFile, offset: Int, windowEnd: Int, reason: String?) throws {
        let lastNonZero = wallet_last_nonzero_index(file.base + offset, windowEnd - offset)
        guard lastNonZero >= 0 else { return }
        if let reason {
            tailTruncation = TailTruncation(segmentPath: file.path, offset: offset, op: lastOp + 1, reason: reason)
        } else {
            tailTruncation = TailTruncation(segmentPath: file.path, offset: offset, op: lastOp + 1,
                                            reason: "partial write after a zeroed header")
        }
        guard !isReadOnly else { return }
        let dirtyCount = Int(lastNonZero) + 1
        memset(file.base + offset, 0, dirtyCount)
        try file.sync(offset: offset, count: dirtyCount)
    }

    /// Why the bytes at the start of `remaining` are not the next batch of this log, or nil.
    private func batchProblem(_ remaining: UnsafeRawBufferPointer) -> String? {
        let header: BatchHeader
        switch BatchHeader.validateBatch(remaining) {
        case .failure(let error): return error.description
        case .success(let valid): header = valid
        }
        if header.clusterId != clusterId { return "batch belongs to cluster \(header.clusterId)" }
        if header.op != lastOp + 1 { return "batch has op \(header.op) where op \(lastOp + 1) was expected" }
        if header.previousHeaderHash != lastHeaderHash { return "hash chain broken: previous header hash does not match op \(lastOp)" }
        if header.timestampNs <= lastRecordTimestampNs { return "timestamp \(header.timestampNs) does not increase" }
        return nil
    }

    /// Valid batch headers at 128-byte boundaries from `from` to the end of the segment: whether
    /// there are any, whether any lies at or beyond `windowEnd`, and the largest `durableOp` they claim.
    func laterBatchHeaders(_ file: MappedFile, from: Int, windowEnd: Int) -> (found: Bool, beyondWindow: Bool, durableOpMax: UInt64) {
        let stride = Limits.batchHeaderSizeBytes
        var offset = (from + stride - 1) / stride * stride
        var result = (found: false, beyondWindow: false, durableOpMax: UInt64(0))
        while offset + stride <= file.sizeBytes {
            let position = wallet_find_magic(file.base, file.sizeBytes, stride, 4, BatchHeader.magicValue, offset)
            if position < 0 { break }
            let found = Int(position)
            let candidate = UnsafeRawBufferPointer(rebasing: file.bytes[found..<(found + stride)])
            // Any valid header counts, even of another cluster: when in doubt, refuse rather than cut.
            if case .success(let header) = BatchHeader.validateHeader(candidate) {
                result.found = true
                if found >= windowEnd { result.beyondWindow = true }
                result.durableOpMax = max(result.durableOpMax, header.durableOp)
            }
            offset = found + stride
        }
        return result
    }
}
