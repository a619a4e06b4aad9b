// Sealing the next batch of a log: written once, for every write path (local ingest, serve, replicas).
import LedgerCore

extension SegmentLog {
    /// The timestamp the next batch gets: now, or just after the log's last record if the clock
    /// is behind it (a clock stepped back, or records stamped ahead: record i of a batch is its
    /// timestamp + i), so timestamps always increase along the log.
    /// A log whose last record is stamped within a batch of 2^64-1 (only a crafted file can be)
    /// takes no more (record i of a batch is stamped its timestamp + i):
    /// that is an error, not a trap, and the batch can go nowhere until fixed. (The batch's own
    /// records, stamped from here on, are checked when appended.)
    public func nextBatchTimestampNs(nowNs: UInt64) throws -> UInt64 {
        guard lastRecordTimestampNs < UInt64.max - UInt64(Limits.batchRecordsMax) else {
            throw LogTimestampsExhausted(lastOp: lastOp)
        }
        return max(nowNs, lastRecordTimestampNs + 1)
    }

    /// Seals `buffer` as the batch after this log's last: op `lastOp + 1`, chained to the last
    /// header, stamped `nextBatchTimestampNs`, under the current rules. `op` overrides the op for
    /// a replica whose entry index is given by Raft (always `lastOp + 1`, checked).
    public func sealNext(_ buffer: BatchBuffer, clusterId: UInt128, term: UInt64, nowNs: UInt64, durableOp: UInt64, op: UInt64? = nil) throws -> BatchView {
        let nextOp = lastOp + 1
        precondition(op == nil || op == nextOp, "the next batch of the log is op \(nextOp), not \(op!)")
        return buffer.seal(clusterId: clusterId, term: term, op: nextOp, timestampNs: try nextBatchTimestampNs(nowNs: nowNs),
                           previousHeaderHash: lastHeaderHash, rulesVersion: Ledger.rulesVersion, durableOp: durableOp)
    }
}

/// The log's last record carries the largest timestamp there is: no batch can follow it.
public struct LogTimestampsExhausted: Error, CustomStringConvertible {
    public let lastOp: UInt64
    public var description: String { "op \(lastOp) of the log is stamped within a batch of 2^64-1 ns: no batch can follow it (a crafted or damaged log)" }
}
