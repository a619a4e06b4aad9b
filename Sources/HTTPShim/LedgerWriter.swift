// The write side: HTTP requests grouped into batches, made durable, applied, then answered.
import Foundation
import LedgerCore
import Replica
import Storage

/// What a submitted record became.
public struct WriteOutcome: Sendable {
    /// The ledger's result code for the record (`TransferResult` or `AccountResult` raw value).
    public let result: UInt8
    /// The op of the batch that carried it (durable and applied when this is returned).
    public let op: UInt64
    /// For a transfer: what the ledger stores under its id after this batch (the first outcome
    /// for a retry), nil if nothing is stored.
    public let stored: StoredTransfer?
    /// For an account: the account under its id after this batch.
    public let account: Account?
    /// The op of the batch that applied `stored` (for a retry, an earlier op than `op`); nil when
    /// nothing is stored or the log no longer holds that batch (pruned).
    public let storedOp: UInt64?

    init(result: UInt8, op: UInt64, stored: StoredTransfer?, account: Account?, storedOp: UInt64? = nil) {
        self.result = result
        self.op = op
        self.stored = stored
        self.account = account
        self.storedOp = storedOp
    }
}

/// The one thread that writes: requests from any number of HTTP handlers queue here; whatever
/// queued while the previous batch was being made durable goes into the next batch (group commit,
/// up to `batch_records_max` records of one kind). Each batch is appended, fsync'd, applied, then
/// published to the read model, and only then are its requests answered: a reply means durable
/// and applied. A failed write stops the writer (fail-stop); every waiting request is told.
public final class LedgerWriter: @unchecked Sendable {
    enum Work {
        case transfer(Transfer)
        case account(Account)
        /// Answered between batches, on this thread (the ledger is not shared with readers).
        case lookupTransfer(UInt128)
        /// The compactor wrote a snapshot and archives in the background: swap the segments for
        /// their archives here, on the log's writer thread.
        case installArchives([ArchiveJob], snapshotOp: UInt64, Error?)
    }

    private struct Waiting {
        let work: Work
        let continuation: Reply
    }

    /// Answered once: by the writer, or by the sweep of `request_timeout_ms`, whichever is first.
    typealias Reply = AnswerOnce<WriteOutcome>
    typealias ReplyDeadlines = DeadlineSweeper

    let node: LocalNode
    let readModel: ReadModel
    let events: EventHub
    let metrics: LedgerMetrics
    let clock: WallClock
    private let condition = NSCondition()
    private var queue: [Waiting] = []
    private var stopped = false
    private var failure: Error?
    private var thread: Thread?
    private let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Limits.batchRecordsMax)
    /// The compactor's schedule (`snapshot_interval_transfers`, 0: never) and its progress.
    var snapshotIntervalTransfers = 0
    private var transfersSinceSnapshot = 0
    private var compacting = false
    private let compactorQueue = DispatchQueue(label: "wallet-http-compactor")
    private let deadlines = DeadlineSweeper()

    init(node: LocalNode, readModel: ReadModel, events: EventHub, metrics: LedgerMetrics, clock: WallClock) {
        self.metrics = metrics
        self.node = node
        self.readModel = readModel
        self.events = events
        self.clock = clock
    }

    deinit { results.deallocate() }

    func start() {
        let newestSnapshotOp = (try? SnapshotFile.list(dataPath: node.directory.path))?.last?.op ?? 0
        transfersSinceSnapshot = LocalNode.recordCounts(node.log, from: max(newestSnapshotOp + 1, node.log.firstOp)).transfers
        let thread = Thread { [self] in run() }
        thread.name = "wallet-http-writer"
        thread.start()
        self.thread = thread
        deadlines.start(label: "wallet-http-timeouts")
    }

    /// Stops after the batch in progress; queued requests are told the ledger is unavailable.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    /// Queues `work` and waits for its outcome, at most `timeoutMs` (then `Problem.timeout`; the
    /// work itself may still be applied, as a client that retries the same id learns).
    func submit(_ work: Work, timeoutMs: Int) async throws -> WriteOutcome {
        try await withCheckedThrowingContinuation { checked in
            submit(work, timeoutMs: timeoutMs) { checked.resume(with: $0) }
        }
    }

    func submit(_ work: Work, timeoutMs: Int, completion: @escaping @Sendable (Result<WriteOutcome, Error>) -> Void) {
        let continuation = Reply(deadlineNs: monotonicNowNs() + UInt64(timeoutMs) * 1_000_000, completion)
        deadlines.add(continuation, timeoutMs: timeoutMs)
        condition.lock()
        defer { condition.unlock() }
        if let failure {
            continuation.resume(throwing: Problem.unavailable("the ledger stopped after a failed write: \(failure)"))
            return
        }
        if stopped {
            continuation.resume(throwing: Problem.unavailable("the server is shutting down"))
            return
        }
        queue.append(Waiting(work: work, continuation: continuation))
        condition.signal()
    }

    private func run() {
        let buffer = BatchBuffer(recordKind: .transfers)
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if stopped {
                let left = queue
                queue.removeAll()
                condition.unlock()
                for waiting in left { waiting.continuation.resume(throwing: Problem.unavailable("the server is shutting down")) }
                return
            }
            // Look-ups first, then the longest run of one record kind that fits a batch.
            var lookups: [Waiting] = []
            var batch: [Waiting] = []
            var rest: [Waiting] = []
            for waiting in queue {
                switch waiting.work {
                case .lookupTransfer, .installArchives: lookups.append(waiting)
                case .transfer, .account:
                    if batch.count < Limits.batchRecordsMax, rest.isEmpty, batch.first.map({ sameKind($0.work, waiting.work) }) ?? true {
                        batch.append(waiting)
                    } else {
                        rest.append(waiting)
                    }
                }
            }
            queue = rest
            condition.unlock()

            for waiting in lookups {
                switch waiting.work {
                case .lookupTransfer(let id):
                    let stored = node.ledger.transfer(id: id)
                    waiting.continuation.resume(returning: WriteOutcome(result: 0, op: readModel.op, stored: stored, account: nil,
                                                                        storedOp: stored.flatMap { History.op(ofRecordTimestampNs: $0.transfer.timestamp, in: node.log) }))
                case .installArchives(let jobs, let snapshotOp, let error):
                    installArchives(jobs, snapshotOp: snapshotOp, error: error)
                    waiting.continuation.resume(returning: WriteOutcome(result: 0, op: readModel.op, stored: nil, account: nil))
                default:
                    break
                }
            }
            guard !batch.isEmpty else { continue }
            do {
                try commit(batch, buffer: buffer)
            } catch {
                condition.lock()
                failure = error
                stopped = true
                let left = queue
                queue.removeAll()
                condition.unlock()
                FileHandle.standardError.write(Data("wallet serve: write FAILED, the ledger stops taking writes: \(error)\n".utf8))
                for waiting in batch + left { waiting.continuation.resume(throwing: Problem.unavailable("a write failed: \(error)")) }
                return
            }
        }
    }

    private func sameKind(_ a: Work, _ b: Work) -> Bool {
        switch (a, b) {
        case (.transfer, .transfer), (.account, .account): return true
        default: return false
        }
    }

    private func commit(_ batch: [Waiting], buffer: BatchBuffer) throws {
        let startNs = monotonicNowNs()
        let log = node.log
        let ledger = node.ledger
        let isTransfers: Bool
        if case .transfer = batch[0].work { isTransfers = true } else { isTransfers = false }
        buffer.reset(recordKind: isTransfers ? .transfers : .accounts)
        for waiting in batch {
            switch waiting.work {
            case .transfer(let transfer): buffer.append(transfer)
            case .account(let account): buffer.append(account)
            case .lookupTransfer, .installArchives: preconditionFailure("look-ups are not batched")
            }
        }
        let op = log.lastOp + 1
        let timestampNs = max(clock.nowNs(), log.lastRecordTimestampNs + 1)
        let sealed = buffer.seal(clusterId: log.clusterId, term: LocalNode.term, op: op, timestampNs: timestampNs,
                                 previousHeaderHash: log.lastHeaderHash, rulesVersion: Ledger.rulesVersion, durableOp: log.durableOp)
        let stored = try log.append(sealed)
        try log.sync()
        ledger.apply(stored, results: results)
        // Publish what changed before anyone hears back: a reply's op is always readable.
        let changedAccounts = accountsChanged(by: stored, in: ledger)
        readModel.publish(changedAccounts, op: op, batch: BalanceHistory.BatchTime(stored.header))
        events.publish(changedAccounts, op: op)
        let okCount = (0..<batch.count).filter { results[$0] == 0 }.count
        let repeatCount = (0..<batch.count).filter { results[$0] == 1 }.count
        metrics.recordBatch(isTransfers: isTransfers, ok: okCount, refused: batch.count - okCount - repeatCount, op: op,
                            elapsedNs: monotonicNowNs() - startNs)
        for (index, waiting) in batch.enumerated() {
            switch waiting.work {
            case .transfer(let transfer):
                let stored = ledger.transfer(id: transfer.id)
                // A retry's stored transfer came from an earlier batch: the answer names that op.
                let storedOp = results[index] == TransferResult.ok.rawValue ? op : stored.flatMap { History.op(ofRecordTimestampNs: $0.transfer.timestamp, in: log) }
                waiting.continuation.resume(returning: WriteOutcome(result: results[index], op: op, stored: stored, account: nil, storedOp: storedOp))
            case .account(let account):
                waiting.continuation.resume(returning: WriteOutcome(result: results[index], op: op, stored: nil, account: ledger.account(id: account.id)))
            case .lookupTransfer, .installArchives:
                break
            }
        }
        if isTransfers {
            transfersSinceSnapshot += batch.count
            if snapshotIntervalTransfers > 0 && transfersSinceSnapshot >= snapshotIntervalTransfers && !compacting { startCompaction(op: op) }
        }
    }

    /// The compactor on its schedule, without stopping the writer for the snapshot: the state is
    /// copied here (a memory copy, well under a second per GB), then the copy's digest and snapshot
    /// are written, and the sealed segments it covers archived, on another thread; only the swap of
    /// segments for archives comes back to this thread.
    private func startCompaction(op: UInt64) {
        compacting = true
        transfersSinceSnapshot = 0
        let copy = node.ledger.copy(spareTransfers: 1)
        let headerHash = node.log.headerHash(op: op)
        let jobs = node.log.archiveJobs(throughOp: op)
        let dataPath = node.directory.path
        let clusterId = node.log.clusterId
        compactorQueue.async { [self] in
            let startNs = monotonicNowNs()
            var done: [ArchiveJob] = []
            var failure: Error?
            do {
                let written = try SnapshotFile.write(ledger: copy, dataPath: dataPath, clusterId: clusterId, op: op, batchHeaderHash: headerHash,
                                                     digest: copy.digest())
                FileHandle.standardError.write(Data("wallet serve: snapshot at op \(op): \(written.sizeBytes) bytes, \((monotonicNowNs() - startNs) / 1_000_000) ms\n".utf8))
                for job in jobs {
                    try job.perform()
                    done.append(job)
                }
            } catch {
                failure = error
            }
            Task { _ = try? await self.submit(.installArchives(done, snapshotOp: op, failure), timeoutMs: 600_000) }
        }
    }

    private func installArchives(_ jobs: [ArchiveJob], snapshotOp: UInt64, error: Error?) {
        compacting = false
        for job in jobs where node.log.isCurrent(job) {
            do {
                let report = try node.log.installArchive(job)
                FileHandle.standardError.write(Data("wallet serve: archived ops \(report.firstOp)...\(report.lastOp)\n".utf8))
            } catch {
                FileHandle.standardError.write(Data("wallet serve: archiving FAILED: \(error) (the segment is kept)\n".utf8))
                break
            }
        }
        if let error {
            FileHandle.standardError.write(Data("wallet serve: compaction at op \(snapshotOp) FAILED: \(error) (the log is intact; the next interval tries again)\n".utf8))
        }
    }
}
