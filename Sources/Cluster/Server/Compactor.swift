// The compactor: a second applier on its own thread that follows committed batches and writes a
// snapshot every `snapshot_interval_transfers`, so the replica thread never stops for one.
import CSupport
import Foundation
import LedgerCore
import Replica
import Storage

/// Follows the replica's committed batches with its own ledger and snapshots it on a schedule.
///
/// Why a second applier instead of copying the live state: a consistent copy of gigabytes would
/// stall the replica thread (heartbeats, acknowledgements) for about a second, and a fork-based
/// copy is unsafe in a multi-threaded process. Replaying the same committed batches in the same
/// order gives the same state (the applier is deterministic), at the cost of a second copy of the
/// state in memory and about one more core-second per 6M transfers. The batches it is handed are
/// views into segment files, which stay mapped: committed batches are never truncated.
final class Compactor: @unchecked Sendable {
    /// How much lower the compactor's and archiver's CPU priority is than the replica thread's.
    static let niceIncrement: Int32 = 10
    let dataPath: String
    let clusterId: UInt128
    let intervalTransfers: Int
    let retainedCount: Int
    /// Touched only on the compactor's thread (replaced by a `restart` item).
    private var ledger: Ledger
    private let condition = NSCondition()
    private var pending: [Work] = []
    private var closed = false
    private var lastSnapshot: (op: UInt64, digest: Hash256)?
    private var thread: Thread?
    private let replica: Int
    /// Called on the compactor's thread after each snapshot is published, with its op and digest.
    private let onSnapshot: @Sendable (UInt64, Hash256) -> Void

    /// `ledger` must hold exactly the state after `startOp` (a restored snapshot, or genesis at 0).
    init(dataPath: String, clusterId: UInt128, replica: Int, ledger: Ledger, startOp: UInt64, startDigest: Hash256?,
         intervalTransfers: Int, retainedCount: Int, onSnapshot: @escaping @Sendable (UInt64, Hash256) -> Void) {
        precondition(intervalTransfers >= 1 && retainedCount >= 1)
        self.dataPath = dataPath
        self.clusterId = clusterId
        self.replica = replica
        self.ledger = ledger
        self.intervalTransfers = intervalTransfers
        self.retainedCount = retainedCount
        self.onSnapshot = onSnapshot
        if let startDigest { lastSnapshot = (startOp, startDigest) }
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "wallet-compactor"
        thread.start()
        self.thread = thread
    }

    /// What the replica thread hands over, in order.
    private enum Work {
        case batch(BatchView)
        /// Continue from another state (a snapshot installed from the leader), which `load` reads
        /// on the compactor's thread. `retired` keeps the mappings of the batches queued before it
        /// alive until they are applied.
        case restart(load: () throws -> Ledger, op: UInt64, digest: Hash256, retired: [AnyObject])
    }

    /// Called by the replica thread for every batch it applies, in op order.
    func follow(_ batch: BatchView) {
        push(.batch(batch))
    }

    /// Called by the replica thread when its state was replaced by a snapshot at `op`: the state
    /// `load` reads (the compactor's own copy, read on its thread, off the replica's critical
    /// path) is followed from then on. Batches queued before are applied to the old state first;
    /// `retired` keeps their segments mapped until then.
    func restart(load: @escaping () throws -> Ledger, op: UInt64, digest: Hash256, retired: [AnyObject]) {
        push(.restart(load: load, op: op, digest: digest, retired: retired))
    }

    private func push(_ work: Work) {
        condition.lock()
        pending.append(work)
        condition.signal()
        condition.unlock()
    }

    /// Ends the thread and waits for it: what it is doing (a batch, a snapshot) is finished
    /// first. The replica's log and state must outlive it: at exit, a compactor still applying a
    /// batch from the log's mapping read unmapped memory (a crash on SIGTERM, found under load).
    func stop() {
        condition.lock()
        closed = true
        condition.signal()
        condition.unlock()
        if thread != nil { finished.wait() }
        thread = nil
    }

    /// Signalled once `run` has returned.
    private let finished = DispatchSemaphore(value: 0)

    /// The newest snapshot this replica wrote or started from: its op and state digest.
    var latest: (op: UInt64, digest: Hash256)? {
        condition.lock()
        defer { condition.unlock() }
        return lastSnapshot
    }

    private func run() {
        // Behind the replica thread and the applier: a snapshot may take longer, a heartbeat may not.
        _ = wallet_lower_thread_priority(Compactor.niceIncrement)
        let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Limits.batchRecordsMax)
        defer {
            results.deallocate()
            finished.signal()
        }
        var transfersSinceSnapshot = 0
        var isFollowing = true
        while true {
            condition.lock()
            while pending.isEmpty && !closed { condition.wait() }
            if closed { condition.unlock(); return }
            let work = pending
            pending.removeAll(keepingCapacity: true)
            condition.unlock()
            for item in work {
                let batch: BatchView
                switch item {
                case .batch(let next):
                    batch = next
                case .restart(let load, let op, let digest, _):
                    do {
                        ledger = try load()
                        isFollowing = true
                    } catch {
                        // Without its own copy it cannot snapshot until the next install gives it
                        // one; the replica itself is unaffected.
                        log("compactor PAUSED: cannot read the installed snapshot at op \(op): \(error)")
                        isFollowing = false
                        continue
                    }
                    transfersSinceSnapshot = 0
                    condition.lock()
                    lastSnapshot = (op, digest)
                    condition.unlock()
                    continue
                }
                guard isFollowing else { continue }
                ledger.apply(batch, results: results)
                if batch.recordKind == .transfers { transfersSinceSnapshot += batch.recordCount }
                guard transfersSinceSnapshot >= intervalTransfers else { continue }
                transfersSinceSnapshot = 0
                let header = batch.header
                let startNs = monotonicNowNs()
                let digest = ledger.digest()
                do {
                    let written = try SnapshotFile.write(ledger: ledger, dataPath: dataPath, clusterId: clusterId, op: header.op,
                                                         batchHeaderHash: header.hash(), digest: digest, retainedCount: retainedCount)
                    condition.lock()
                    lastSnapshot = (header.op, digest)
                    condition.unlock()
                    log("snapshot at op \(header.op): digest \(digest), \(written.sizeBytes) bytes, \((monotonicNowNs() - startNs) / 1_000_000) ms")
                    onSnapshot(header.op, digest)
                } catch {
                    log("snapshot at op \(header.op) FAILED: \(error) (the log is intact; the next interval tries again)")
                }
            }
        }
    }

    private func log(_ line: String) {
        FileHandle.standardError.write(Data("replica \(replica): \(line)\n".utf8))
    }
}
