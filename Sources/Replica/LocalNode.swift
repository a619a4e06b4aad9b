// A single-node ledger: a data directory's log, replayed into a ledger, taking durable ingests.
import LedgerCore
import Storage

/// Opens a data directory, rebuilds the state by replaying its log, and ingests more.
///
/// Until snapshots exist, the log is the only thing trusted after a restart: the live state is
/// always rebuilt from op 1. After each ingest the live digest is recorded (`StateCheckpoint`) so
/// that `verify` can prove a fresh replay reaches the same state.
public final class LocalNode {
    /// The single node is its own leader, in term 1, forever.
    public static let term: UInt64 = 1

    public let directory: DataDirectory
    public let log: SegmentLog
    public let ledger: Ledger
    let clock: WallClock
    /// How long opening took to replay the log, and how many transfers it replayed.
    public private(set) var replayElapsedNs: UInt64 = 0
    public private(set) var replayedTransfers = 0

    public init(path: String, readOnly: Bool = false, clock: WallClock = SystemClock(),
                accountsCapacity: Int = 1024, transfersCapacity: Int = 1 << 16,
                replayProgress: ((UInt64, UInt64) -> Void)? = nil) throws {
        directory = try DataDirectory.open(path: path)
        log = try directory.openLog(readOnly: readOnly)
        ledger = Ledger(hashSeed: LocalNode.hashSeed(clusterId: directory.superblock.clusterId),
                        accountsCapacity: accountsCapacity, transfersCapacity: transfersCapacity)
        self.clock = clock
        let startNs = monotonicNowNs()
        replayedTransfers = LocalNode.replay(log, into: ledger, through: log.lastOp, progress: replayProgress)
        replayElapsedNs = monotonicNowNs() - startNs
    }

    /// The id indexes' hash seed: derived from the cluster id, so every replica uses the same.
    public static func hashSeed(clusterId: UInt128) -> UInt64 {
        UInt64(truncatingIfNeeded: clusterId) ^ UInt64(truncatingIfNeeded: clusterId >> 64) ^ 0x5741_4C4C_4554_0001
    }

    /// Applies ops `firstOp`...`lastOp` of `log` to `ledger` (which must already hold every op
    /// before `firstOp`); returns the transfers replayed.
    @discardableResult
    public static func replay(_ log: SegmentLog, into ledger: Ledger, from firstOp: UInt64 = 1, through lastOp: UInt64,
                              progress: ((UInt64, UInt64) -> Void)? = nil) -> Int {
        let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Limits.batchRecordsMax)
        defer { results.deallocate() }
        var transfers = 0
        guard firstOp >= 1, firstOp <= lastOp else { return 0 }
        for op in firstOp...lastOp {
            let batch = log.batch(op: op)
            ledger.apply(batch, results: results)
            if batch.recordKind == .transfers { transfers += batch.recordCount }
            if op % 64 == 0 || op == lastOp { progress?(op, lastOp) }
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
