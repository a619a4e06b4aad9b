// Moving a log's start forward: pruning archives a snapshot covers, or restarting after a leader's snapshot.
import LedgerCore

extension SegmentLog {
    /// Deletes the archived segments whose ops all lie at or before `throughOp`, for operators who
    /// keep their archive elsewhere: the log then starts after the last deleted op. The log base is
    /// made durable first, so a crash leaves either the whole log or the base plus files that the
    /// next open deletes. The caller must hold a snapshot at or after `throughOp` (the state the
    /// deleted batches produced lives only there now). Returns the deleted files.
    @discardableResult
    public func pruneArchives(throughOp: UInt64) throws -> [String] {
        precondition(!isReadOnly)
        let dropped = archives.prefix { $0.header.lastOp <= throughOp }.count
        guard dropped > 0 else { return [] }
        let last = archives[dropped - 1]
        let lastHeader = last.index.batchHeaders[last.index.batchHeaders.count - 1]
        let newBase = LogBase(clusterId: clusterId, baseOp: last.header.lastOp, baseTerm: lastHeader.term,
                              baseRecordTimestampNs: last.header.lastRecordTimestampNs, baseHeaderHash: last.header.lastHeaderHash,
                              firstSegmentIndex: UInt64(firstSegmentIndex + dropped))
        try newBase.write(directoryPath: directoryPath)
        let paths = archives[0..<dropped].map(\.path)
        let droppedOps = Int(last.header.lastOp - baseOp)
        for archive in archives[0..<dropped] { archive.release() }
        archives.removeFirst(dropped)
        locations.removeFirst(droppedOps)
        for position in locations.indices { locations[position].segment -= UInt32(dropped) }
        base = newBase
        for path in paths { try Syscall.unlink(path) }
        try Syscall.fsyncDirectory(directoryPath)
        return paths
    }

    /// Replaces the whole log by an empty one that continues after `baseOp` (Raft: a follower that
    /// installed its leader's snapshot at `baseOp`, whose own log no longer matches or is too old).
    /// The next append must be op `baseOp + 1`, chained to `baseHeaderHash`. Every batch the log
    /// held is deleted, after the new base is durable. Appends must be synced before.
    ///
    /// Returns the retired segments' mappings: batch views into them stay valid (the files are
    /// unlinked, not unmapped) for as long as the caller keeps these, so a thread still reading
    /// such views (a replica's compactor) can finish first.
    @discardableResult
    public func reset(baseOp: UInt64, baseTerm: UInt64, baseHeaderHash: Hash256, baseRecordTimestampNs: UInt64) throws -> [AnyObject] {
        precondition(!isReadOnly)
        precondition(durableOffset == writeOffset, "sync before a reset")
        let newBase = LogBase(clusterId: clusterId, baseOp: baseOp, baseTerm: baseTerm, baseRecordTimestampNs: baseRecordTimestampNs,
                              baseHeaderHash: baseHeaderHash, firstSegmentIndex: UInt64(firstSegmentIndex + archives.count + segments.count))
        try newBase.write(directoryPath: directoryPath)
        let paths = archives.map(\.path) + segments.map(\.path)
        let retired: [AnyObject] = segments
        for archive in archives { archive.release() }
        archives.removeAll()
        segments.removeAll()
        locations.removeAll()
        base = newBase
        for path in paths { try Syscall.unlink(path) }
        try Syscall.fsyncDirectory(directoryPath)
        lastOp = baseOp
        lastHeaderHash = baseHeaderHash
        lastRecordTimestampNs = baseRecordTimestampNs
        durableOp = baseOp
        writeOffset = 0
        syncTakenOffset = 0
        durableOffset = 0
        tailTruncation = nil
        return retired
    }
}
