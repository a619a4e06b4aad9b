// A single-node ledger: a data directory's log, replayed into a ledger, taking durable ingests.
import LedgerCore
import Storage

/// What `LocalNode.compact` wrote: the snapshot, and the segments it archived.
public struct CompactionReport: Sendable {
    public let path: String
    public let sizeBytes: Int
    public let op: UInt64
    public let archived: [ArchivedSegmentReport]
    /// Archive files deleted by pruning, and the op the log now starts after.
    public let pruned: [String]
    public let baseOp: UInt64
}

/// Opens a data directory, rebuilds the state by replaying its log, and ingests more.
///
/// On open the state comes from the newest valid snapshot (if any) plus a replay of the log after
/// it, or from a replay of the whole log. After each ingest the live digest is recorded (`StateCheckpoint`) so
/// that `verify` can prove a fresh replay reaches the same state.
public final class LocalNode {
    /// The single node is its own leader, in term 1, forever.
    public static let term: UInt64 = 1

    public let directory: DataDirectory
    public let log: SegmentLog
    public let ledger: Ledger
    let clock: WallClock
    /// How long opening took to restore the snapshot (0 without one) and to replay the log after
    /// it, and how many transfers it replayed.
    public private(set) var restoreElapsedNs: UInt64 = 0
    public private(set) var replayElapsedNs: UInt64 = 0
    public private(set) var replayedTransfers = 0

    public init(path: String, readOnly: Bool = false, clock: WallClock = SystemClock(),
                accountsCapacity: Int = 1024, transfersCapacity: Int = 1 << 16, useSnapshots: Bool = true,
                replayProgress: ((UInt64, UInt64) -> Void)? = nil) throws {
        directory = try DataDirectory.open(path: path)
        log = try directory.openLog(readOnly: readOnly)
        self.clock = clock
        let startNs = monotonicNowNs()
        let clusterId = directory.superblock.clusterId
        let hashSeed = LocalNode.hashSeed(clusterId: clusterId)
        var problems: [String] = []
        var restored: (op: UInt64, ledger: Ledger, digest: Hash256)?
        if useSnapshots {
            restored = LocalNode.newestValidSnapshot(dataPath: path, log: log, clusterId: clusterId, hashSeed: hashSeed,
                                                     spareTransfers: transfersCapacity, problems: &problems)
        }
        snapshotProblems = problems
        if let restored {
            ledger = restored.ledger
            snapshotOp = restored.op
        } else {
            guard log.baseOp == 0 else {
                throw DataDirectoryError(path: path, message: "the log starts after op \(log.baseOp) (its beginning was pruned or replaced by a snapshot) and no valid snapshot at or after that op was found"
                    + (problems.isEmpty ? "" : ": " + problems.joined(separator: "; ")))
            }
            // Sized from the batch headers, so the replay never pauses to grow a table.
            ledger = LocalNode.genesisLedger(for: log, hashSeed: hashSeed, accountsCapacity: accountsCapacity, transfersCapacity: transfersCapacity)
            snapshotOp = 0
        }
        let replayStartNs = monotonicNowNs()
        restoreElapsedNs = replayStartNs - startNs
        replayedTransfers = try LocalNode.replay(log, into: ledger, from: snapshotOp + 1, through: log.lastOp, progress: replayProgress)
        replayElapsedNs = monotonicNowNs() - replayStartNs
    }

    /// An empty ledger for replaying `log` from genesis through `lastOp`, its tables sized from the
    /// batch headers (at least the given capacities), so the replay never pauses to grow one.
    public static func genesisLedger(for log: SegmentLog, hashSeed: UInt64, through lastOp: UInt64 = .max,
                                     accountsCapacity: Int = 1024, transfersCapacity: Int = 1 << 16) -> Ledger {
        let inLog = recordCounts(log, through: lastOp)
        return Ledger(hashSeed: hashSeed, accountsCapacity: max(accountsCapacity, inLog.accounts),
                      transfersCapacity: max(transfersCapacity, inLog.transfers))
    }

    /// Accounts and transfers in ops `from`... of the log, from the batch headers alone.
    public static func recordCounts(_ log: SegmentLog, from firstOp: UInt64 = 1, through lastOp: UInt64 = .max) -> (accounts: Int, transfers: Int) {
        var counts = (accounts: 0, transfers: 0)
        let last = min(lastOp, log.lastOp)
        guard firstOp <= last else { return counts }
        // Headers only: archived segments are not decompressed for this.
        for op in max(firstOp, log.firstOp)...last {
            let header = log.header(op: op)
            switch header.recordKind {
            case .accounts: counts.accounts += Int(header.recordCount)
            case .transfers: counts.transfers += Int(header.recordCount)
            case .noop, nil: break
            }
        }
        return counts
    }

    /// The op of the snapshot the state was loaded from (0: replayed from genesis).
    public let snapshotOp: UInt64
    /// Snapshots that were found damaged or not matching the log, and skipped (newest first).
    public let snapshotProblems: [String]

    /// The newest snapshot at or before op `atOrBefore` that reads back whole and belongs to this
    /// log (its op is in the log and its batch header hash matches); damaged or foreign ones are
    /// reported and skipped.
    public static func newestValidSnapshot(dataPath: String, log: SegmentLog, clusterId: UInt128, hashSeed: UInt64,
                                           spareTransfers: Int, atOrBefore opLimit: UInt64 = .max,
                                           problems: inout [String]) -> (op: UInt64, ledger: Ledger, digest: Hash256)? {
        let candidates: [(op: UInt64, path: String)]
        do {
            if !log.isReadOnly { try SnapshotFile.removeTemporaryFiles(dataPath: dataPath) }
            candidates = try SnapshotFile.list(dataPath: dataPath)
        } catch {
            problems.append("cannot list snapshots: \(error)")
            return nil
        }
        for candidate in candidates.reversed() where candidate.op <= opLimit {
            guard candidate.op >= 1, candidate.op <= log.lastOp else {
                problems.append("snapshot \(candidate.path) is at op \(candidate.op) but the log ends at op \(log.lastOp): skipped")
                continue
            }
            // Before the log base the batches that would follow it are gone: it cannot be replayed forward.
            guard candidate.op >= log.baseOp else { continue }
            do {
                let header = try SnapshotFile.readHeader(path: candidate.path, clusterId: clusterId)
                guard header.op == candidate.op else {
                    throw SnapshotError(path: candidate.path, offset: 32, reason: "holds op \(header.op), its name says \(candidate.op)")
                }
                guard header.batchHeaderHash == log.headerHash(op: header.op) else {
                    throw SnapshotError(path: candidate.path, offset: 64, reason: "was taken from another log (batch header hash at op \(header.op) differs)")
                }
                // Room for the tail the caller will replay too (from the headers alone), so the
                // replay never pauses to grow and rehash a table of a hundred million transfers.
                let tail = recordCounts(log, from: header.op + 1, through: opLimit).transfers
                let (_, ledger) = try SnapshotFile.read(path: candidate.path, clusterId: clusterId, hashSeed: hashSeed,
                                                        spareTransfers: max(spareTransfers, tail))
                return (header.op, ledger, header.digest)
            } catch {
                problems.append("\(error): skipped, an older snapshot or genesis is used")
            }
        }
        return nil
    }

    /// Writes a snapshot of the live state at the log's last op (lz4, checksummed, atomically
    /// published), keeping the newest `retainedCount`; then, with `archive`, archives every sealed
    /// segment (all of them lie before the snapshot's op). With `pruneArchives`, archives whose
    /// ops all lie at or before the oldest retained snapshot are then deleted (for operators who
    /// keep the archive elsewhere): every retained snapshot can still be replayed forward, but no
    /// state before the oldest one can be rebuilt here any more. Returns what it did.
    @discardableResult
    public func compact(retainedCount: Int = SnapshotFile.retainedCountDefault, archive: Bool = true, pruneArchives: Bool = false) throws -> CompactionReport {
        precondition(archive || !pruneArchives, "only archived segments are pruned")
        precondition(log.lastOp >= 1, "nothing to snapshot")
        let op = log.lastOp
        let digest = ledger.digest()
        let written = try SnapshotFile.write(ledger: ledger, dataPath: directory.path, clusterId: directory.superblock.clusterId, op: op,
                                             batchHeaderHash: log.headerHash(op: op), digest: digest, retainedCount: retainedCount)
        let archived = archive ? try log.archiveSealedSegments(throughOp: op) : []
        var pruned: [String] = []
        if pruneArchives, let oldest = try SnapshotFile.list(dataPath: directory.path).first(where: { $0.op >= log.baseOp }) {
            pruned = try log.pruneArchives(throughOp: oldest.op)
        }
        return CompactionReport(path: written.path, sizeBytes: written.sizeBytes, op: op, archived: archived, pruned: pruned, baseOp: log.baseOp)
    }

    /// The id indexes' hash seed: derived from the cluster id, so every replica uses the same.
    public static func hashSeed(clusterId: UInt128) -> UInt64 {
        UInt64(truncatingIfNeeded: clusterId) ^ UInt64(truncatingIfNeeded: clusterId >> 64) ^ 0x5741_4C4C_4554_0001
    }

    /// Applies ops `firstOp`...`lastOp` of `log` to `ledger` (which must already hold every op
    /// before `firstOp`); returns the transfers replayed. Archived segments are decompressed (and
    /// checked) as the replay reaches them and freed once it is past them; a damaged one throws
    /// `ArchiveError`, naming the file, offset and op, with the ledger holding every op before it.
    @discardableResult
    public static func replay(_ log: SegmentLog, into ledger: Ledger, from firstOp: UInt64 = 1, through lastOp: UInt64,
                              progress: ((UInt64, UInt64) -> Void)? = nil) throws -> Int {
        let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Limits.batchRecordsMax)
        defer { results.deallocate() }
        var transfers = 0
        try log.streamBatches(from: firstOp, through: lastOp) { batch in
            ledger.apply(batch, results: results)
            if batch.recordKind == .transfers { transfers += batch.recordCount }
            let op = batch.header.op
            if op % 64 == 0 || op == lastOp { progress?(op, lastOp) }
            return true
        }
        return transfers
    }

    /// Appends the submissions durably, applies them, and records the live digest. Returns once
    /// everything is durable and applied.
    public func ingest(_ submissions: [Submission], recordDigest: Bool = true, progress: ((Int) -> Void)? = nil) throws -> IngestReport {
        let pipeline = IngestPipeline(log: log, ledger: ledger, clock: clock, term: LocalNode.term)
        let report = try pipeline.run(submissions, progress: progress)
        if recordDigest { try recordCheckpoint() }
        return report
    }

    /// Writes the live state's digest at the log's last op.
    public func recordCheckpoint() throws {
        let checkpoint = StateCheckpoint(op: log.lastOp, accountsCount: ledger.accountsCount,
                                         transfersCount: ledger.transfersCount, digest: ledger.digest())
        try checkpoint.write(directory: directory.path)
    }
}
