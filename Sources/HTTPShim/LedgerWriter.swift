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
/// and applied.
///
/// A failed write (disk full, EIO) does not stop the writer: the log is brought back to its last
/// durable batch and that batch read back (`recoverAfterFailedWrite`), and the same batch is tried
/// again with exponential back-off (`storage_retry_backoff_ms_min...max`). Its requests keep
/// waiting (their `request_timeout_ms` still holds); new writes are answered 503 with Retry-After
/// at once and are not taken; reads go on. The first retry that succeeds resumes writing.
public final class LedgerWriter: @unchecked Sendable {
    enum Work {
        case transfer(Transfer)
        case account(Account)
        /// Answered between batches, on this thread (the ledger is not shared with readers).
        case lookupTransfer(UInt128)
        /// The compactor wrote a snapshot and archives in the background: swap the segments for
        /// their archives here, on the log's writer thread.
        case installArchives([ArchiveJob], snapshotOp: UInt64, Error?)

        /// Whether this work writes records (refused while the storage is failing).
        var isWrite: Bool {
            switch self {
            case .transfer, .account: return true
            case .lookupTransfer, .installArchives: return false
            }
        }
    }

    /// Nil while writes are taken; else why they are refused (for `/readyz`).
    var writesRefusedBecause: String? {
        condition.lock()
        defer { condition.unlock() }
        return storageFailure.map { "the storage failed: \($0.cause)" }
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
    let limits: HTTPLimits
    private let condition = NSCondition()
    private var queue: [Waiting] = []
    private var stopped = false
    /// While set, the storage is failing: the cause, and when the writer tries again (monotonic ns).
    private var storageFailure: (cause: String, retryAtNs: UInt64)?
    private var thread: Thread?
    private let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Limits.batchRecordsMax)
    /// The compactor's schedule (`snapshot_interval_transfers`, 0: never) and its progress.
    var snapshotIntervalTransfers = 0
    var transfersSinceSnapshot = 0
    var compacting = false
    let compactorQueue = DispatchQueue(label: "wallet-http-compactor")
    private let deadlines = DeadlineSweeper()

    init(node: LocalNode, readModel: ReadModel, events: EventHub, metrics: LedgerMetrics, clock: WallClock, limits: HTTPLimits) {
        self.metrics = metrics
        self.limits = limits
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
        if let storageFailure, work.isWrite {
            let nowNs = monotonicNowNs()
            let waitNs = storageFailure.retryAtNs > nowNs ? storageFailure.retryAtNs - nowNs : 0
            continuation.resume(throwing: Problem.storageUnavailable(storageFailure.cause, retryAfterS: max(1, Int((waitNs + 999_999_999) / 1_000_000_000))))
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

            answer(lookups)
            guard !batch.isEmpty else { continue }
            do {
                try commit(batch, buffer: buffer)
            } catch {
                guard retryUntilWritten(batch, buffer: buffer, firstError: error) else { return }
            }
        }
    }

    /// Look-ups of stored transfers, and archive swaps: between batches, on this thread.
    private func answer(_ lookups: [Waiting]) {
        for waiting in lookups {
            switch waiting.work {
            case .lookupTransfer(let id):
                let stored = node.ledger.transfer(id: id)
                waiting.continuation.resume(returning: WriteOutcome(result: 0, op: readModel.op, stored: stored, account: nil,
                                                                    storedOp: stored.flatMap { History.op(ofRecordTimestampNs: $0.transfer.timestamp, in: node.log) }))
            case .installArchives(let jobs, let snapshotOp, let error):
                installArchives(jobs, snapshotOp: snapshotOp, error: error)
                waiting.continuation.resume(returning: WriteOutcome(result: 0, op: readModel.op, stored: nil, account: nil))
            case .transfer, .account:
                preconditionFailure("writes are batched, not looked up")
            }
        }
    }

    /// The look-ups queued now, taken off the queue (writes stay, in order). Caller holds `condition`.
    private func takeLookups() -> [Waiting] {
        var lookups: [Waiting] = []
        queue.removeAll { waiting in
            guard !waiting.work.isWrite else { return false }
            lookups.append(waiting)
            return true
        }
        return lookups
    }

    /// After `batch` failed to be written: brings the log back to its last durable batch and tries
    /// `batch` again, waiting `storage_retry_backoff_ms_min`, doubling up to `..._max`, until it is
    /// written (true) or the writer is stopped (false: everything waiting is told).
    private func retryUntilWritten(_ batch: [Waiting], buffer: BatchBuffer, firstError: Error) -> Bool {
        let failedAtNs = monotonicNowNs()
        var error = firstError
        var backoffMs = limits.storageRetryBackoffMsMin
        var attempts = 0
        FileHandle.standardError.write(Data("wallet serve: write FAILED at op \(node.log.lastOp + 1): \(error); new writes get 503 while it is retried (reads go on)\n".utf8))
        while true {
            attempts += 1
            metrics.storageWriteFailures.increment()
            metrics.storageWritable.set(to: 0)
            condition.lock()
            let retryAtNs = monotonicNowNs() + UInt64(backoffMs) * 1_000_000
            storageFailure = (String(describing: error).prefix(200).description, retryAtNs)
            let deadline = Date(timeIntervalSinceNow: Double(backoffMs) / 1000)
            // Look-ups need no write: they are answered meanwhile, as they arrive.
            var lookups = takeLookups()
            while !stopped {
                if !lookups.isEmpty {
                    condition.unlock()
                    answer(lookups)
                    condition.lock()
                }
                guard condition.wait(until: deadline) else { break }
                lookups = takeLookups()
            }
            let stopping = stopped
            let left = stopping ? queue : []
            if stopping { queue.removeAll() }
            condition.unlock()
            if stopping {
                for waiting in batch + left { waiting.continuation.resume(throwing: Problem.unavailable("the server is shutting down")) }
                return false
            }
            do {
                try node.log.recoverAfterFailedWrite()
                try commit(batch, buffer: buffer)
                condition.lock()
                storageFailure = nil
                condition.unlock()
                metrics.storageWritable.set(to: 1)
                FileHandle.standardError.write(Data("wallet serve: writes resumed after \((monotonicNowNs() - failedAtNs) / 1_000_000) ms and \(attempts) retries (the log's tail read back intact)\n".utf8))
                return true
            } catch let next {
                if attempts <= 3 || attempts % 20 == 0 {
                    FileHandle.standardError.write(Data("wallet serve: write retry \(attempts) FAILED: \(next)\n".utf8))
                }
                error = next
                backoffMs = min(backoffMs * 2, limits.storageRetryBackoffMsMax)
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
        let sealed = try log.sealNext(buffer, clusterId: log.clusterId, term: LocalNode.term, nowNs: clock.nowNs(), durableOp: log.durableOp, op: op)
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
}
