// What the runtime's Raft log holds per entry: a batch to seal, a batch received, or one already stored.
import LedgerCore

/// The payload of one Raft entry in the replica runtime.
///
/// The Raft core keeps every entry's payload in memory, so once a batch is in the segment log the
/// payload drops its bytes (`stored`) and the batch is read back from the segment by its op. A
/// leader's new batch is sealed only when persisted: its op, term, hash chain and timestamp are
/// fixed at that moment, in log order.
public final class LogEntryPayload: @unchecked Sendable {
    enum Content {
        /// Records the leader gathered from clients (or a no-op), not yet given an op.
        case unsealed(BatchBuffer)
        /// A sealed batch received from the leader.
        case received(OwnedBatch)
        /// In the segment log at the entry's index.
        case stored
    }

    var content: Content

    init(_ content: Content) { self.content = content }

    /// The no-op every new leader appends (Raft §8): sealed like any batch, with no records.
    static func noop() -> LogEntryPayload { LogEntryPayload(.unsealed(BatchBuffer(recordKind: .noop, capacityBytes: Limits.batchHeaderSizeBytes))) }
}
