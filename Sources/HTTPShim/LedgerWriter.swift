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
    }

    private struct Waiting {
        let work: Work
        let continuation: Reply
    }

    /// Resumed once: by the writer, or by the timer of `request_timeout_ms`, whichever is first.
    final class Reply: @unchecked Sendable {
        private let lock = NSLock()
        private var continuation: CheckedContinuation<WriteOutcome, Error>?

        init(_ continuation: CheckedContinuation<WriteOutcome, Error>) { self.continuation = continuation }

        private func take() -> CheckedContinuation<WriteOutcome, Error>? {
            lock.lock()
            defer { lock.unlock() }
            let taken = continuation
            continuation = nil
            return taken
        }

        func resume(returning outcome: WriteOutcome) { take()?.resume(returning: outcome) }
        func resume(throwing error: Error) { take()?.resume(throwing: error) }
    }

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

    init(node: LocalNode, readModel: ReadModel, events: EventHub, metrics: LedgerMetrics, clock: WallClock) {
        self.metrics = metrics
        self.node = node
        self.readModel = readModel
        self.events = events
        self.clock = clock
    }

    deinit { results.deallocate() }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "wallet-http-writer"
        thread.start()
        self.thread = thread
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
            let continuation = Reply(checked)
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(timeoutMs)) {
                continuation.resume(throwing: Problem.timeout(timeoutMs))
            }
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
                case .lookupTransfer: lookups.append(waiting)
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
                guard case .lookupTransfer(let id) = waiting.work else { continue }
                waiting.continuation.resume(returning: WriteOutcome(result: 0, op: readModel.op, stored: node.ledger.transfer(id: id), account: nil))
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
            case .lookupTransfer: preconditionFailure("look-ups are not batched")
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
        var changed: [UInt128: Account] = [:]
        for waiting in batch {
            switch waiting.work {
            case .transfer(let transfer):
                for id in [transfer.debitAccountId, transfer.creditAccountId] where changed[id] == nil {
                    if let account = ledger.account(id: id) { changed[id] = account }
                }
                if transfer.pendingId != 0, let pending = ledger.transfer(id: transfer.pendingId)?.transfer {
                    for id in [pending.debitAccountId, pending.creditAccountId] where changed[id] == nil {
                        if let account = ledger.account(id: id) { changed[id] = account }
                    }
                }
            case .account(let account):
                if changed[account.id] == nil, let created = ledger.account(id: account.id) { changed[account.id] = created }
            case .lookupTransfer:
                break
            }
        }
        let changedAccounts = Array(changed.values)
        readModel.publish(changedAccounts, op: op)
        events.publish(changedAccounts, op: op)
        let okCount = (0..<batch.count).filter { results[$0] == 0 }.count
        let repeatCount = (0..<batch.count).filter { results[$0] == 1 }.count
        metrics.recordBatch(isTransfers: isTransfers, ok: okCount, refused: batch.count - okCount - repeatCount, op: op,
                            elapsedNs: monotonicNowNs() - startNs)
        for (index, waiting) in batch.enumerated() {
            switch waiting.work {
            case .transfer(let transfer):
                waiting.continuation.resume(returning: WriteOutcome(result: results[index], op: op, stored: ledger.transfer(id: transfer.id), account: nil))
            case .account(let account):
                waiting.continuation.resume(returning: WriteOutcome(result: results[index], op: op, stored: nil, account: ledger.account(id: account.id)))
            case .lookupTransfer:
                break
            }
        }
    }
}
