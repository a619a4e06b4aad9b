// Durable ingest on one node: pack submissions into batches, append, group-commit fsync, apply.
import Foundation
import LedgerCore
import Storage

/// Work for the apply thread.
enum ApplyItem {
    case batch(BatchView)
    case end
}

/// Records from one client request or one input file: all of one kind, 128 bytes each.
public struct Submission: @unchecked Sendable {
    public let kind: RecordKind
    public let records: UnsafeRawBufferPointer

    public init(kind: RecordKind, records: UnsafeRawBufferPointer) {
        precondition(kind != .noop && records.count % Limits.recordSizeBytes == 0)
        self.kind = kind
        self.records = records
    }

    public var count: Int { records.count / Limits.recordSizeBytes }
}

/// What an ingest did: how many of each outcome, and how long batches waited for their answer.
public struct IngestReport: Sendable {
    public var transferResults = [Int](repeating: 0, count: 256)
    public var accountResults = [Int](repeating: 0, count: 256)
    public var transfersCount = 0
    public var accountsCount = 0
    public var batchesCount = 0
    public var bytesWritten = 0
    public var elapsedNs: UInt64 = 0
    /// Per batch: from sealing to durable-and-applied, in ns, in op order.
    public var batchLatenciesNs: [UInt64] = []
    public var firstOp: UInt64 = 0
    public var lastOp: UInt64 = 0
    /// Every record not applied `ok`, by its index in the submissions (all kinds, in order).
    public var refused: [RefusedRecord] = []

    public init() {}
}

/// A record the ledger did not apply `ok`: its index among all records submitted, in order, and
/// its result code (a `TransferResult` or `AccountResult` raw value by `kind`).
public struct RefusedRecord: Sendable, Equatable {
    public let index: Int
    public let kind: RecordKind
    public let result: UInt8

    public init(index: Int, kind: RecordKind, result: UInt8) {
        self.index = index
        self.kind = kind
        self.result = result
    }
}

/// Moves submissions through the log and the ledger on three threads:
///
/// - the caller's thread packs records into batches (group commit: small submissions share a
///   batch), seals them (op, timestamp, hash chain, checksums) and appends them to the log;
/// - a sync thread makes appended ranges durable, one `PendingSync` at a time: whatever was
///   appended while the previous sync ran goes into the next one (adaptive group commit);
/// - an apply thread applies batches in op order as soon as they are appended.
///
/// A batch counts as done once it is both durable and applied; nothing is reported before.
/// The writer never has more than `SegmentLog.unsyncedBytesMax` bytes un-synced, and at most
/// `applyQueueBatchesMax` batches wait for the applier.
final class IngestPipeline {
    static let applyQueueBatchesMax = 64

    let log: SegmentLog
    let ledger: Ledger
    let clock: WallClock
    let term: UInt64

    init(log: SegmentLog, ledger: Ledger, clock: WallClock, term: UInt64) {
        self.log = log
        self.ledger = ledger
        self.clock = clock
        self.term = term
    }

    private struct SyncDone {
        let sync: PendingSync
        let completedNs: UInt64
        let error: Error?
    }

    func run(_ submissions: [Submission], progress: ((Int) -> Void)? = nil) throws -> IngestReport {
        var report = IngestReport()
        let startNs = monotonicNowNs()
        report.firstOp = log.lastOp + 1

        let applyQueue = BlockingQueue<ApplyItem>(capacity: IngestPipeline.applyQueueBatchesMax)
        let syncQueue = BlockingQueue<PendingSync?>(capacity: 4)
        let syncDone = BlockingQueue<SyncDone>(capacity: 64)
        let applied = AppliedLog(ledger: ledger)

        let applier = Thread { applied.run(applyQueue) }
        applier.name = "wallet-apply"
        applier.start()
        let syncer = Thread {
            while let sync = syncQueue.pop() {
                var failure: Error?
                do { try sync.perform() } catch { failure = error }
                syncDone.push(SyncDone(sync: sync, completedNs: monotonicNowNs(), error: failure))
            }
        }
        syncer.name = "wallet-sync"
        syncer.start()

        var sealedNs: [UInt64] = []
        var durableMarks: [(lastOp: UInt64, ns: UInt64)] = []
        var syncInFlight = false
        var failure: Error?

        func handle(_ done: SyncDone) {
            syncInFlight = false
            if let error = done.error { failure = failure ?? error; return }
            log.confirmDurable(done.sync)
            durableMarks.append((done.sync.lastOp, done.completedNs))
        }
        func startSyncIfIdle() {
            guard !syncInFlight, let pending = log.takePendingSync() else { return }
            syncInFlight = true
            syncQueue.push(pending)
        }

        let buffer = BatchBuffer(recordKind: .transfers)
        var recordsSeen = 0
        func flush() throws {
            guard !buffer.isEmpty else { return }
            while let done = syncDone.tryPop() { handle(done) }
            if let failure { throw failure }
            while log.unsyncedBytes + buffer.sizeBytes > SegmentLog.unsyncedBytesMax {
                startSyncIfIdle()
                handle(syncDone.pop())
                if let failure { throw failure }
            }
            let segmentsBefore = log.segmentCount
            let sealed = try log.sealNext(buffer, clusterId: log.clusterId, term: term, nowNs: clock.nowNs(), durableOp: log.durableOp)
            let stored = try log.append(sealed)
            sealedNs.append(monotonicNowNs())
            if log.segmentCount != segmentsBefore && log.lastOp > 1 {
                // Rotation synced the previous segment whole: every op before this one is durable.
                durableMarks.append((log.lastOp - 1, monotonicNowNs()))
            }
            report.bytesWritten += stored.bytes.count
            applyQueue.push(.batch(stored))
            startSyncIfIdle()
            recordsSeen += buffer.recordCount
            progress?(recordsSeen)
            buffer.reset(recordKind: buffer.recordKind)
        }

        do {
            for submission in submissions {
                if submission.kind != buffer.recordKind {
                    try flush()
                    buffer.reset(recordKind: submission.kind)
                }
                var offset = 0
                while offset < submission.records.count {
                    let room = (buffer.recordsCapacity - buffer.recordCount) * Limits.recordSizeBytes
                    let take = min(room, submission.records.count - offset)
                    buffer.append(records: UnsafeRawBufferPointer(rebasing: submission.records[offset..<(offset + take)]))
                    offset += take
                    if buffer.isFull { try flush() }
                }
            }
            try flush()
            while syncInFlight || log.unsyncedBytes > 0 {
                startSyncIfIdle()
                if syncInFlight { handle(syncDone.pop()) }
                if let failure { throw failure }
            }
        } catch {
            failure = failure ?? error
        }
        applyQueue.push(.end)
        syncQueue.push(nil)
        applied.waitUntilDone()
        if let failure { throw failure }

        report.lastOp = log.lastOp
        report.batchesCount = Int(report.lastOp + 1 - report.firstOp)
        report.elapsedNs = monotonicNowNs() - startNs
        applied.fill(&report)
        report.batchLatenciesNs = IngestPipeline.latencies(
            firstOp: report.firstOp, sealedNs: sealedNs, appliedNs: applied.appliedNs, durableMarks: durableMarks)
        return report
    }

    /// Latency of each batch: from sealing to the later of "applied" and "durable".
    static func latencies(firstOp: UInt64, sealedNs: [UInt64], appliedNs: [UInt64], durableMarks: [(lastOp: UInt64, ns: UInt64)]) -> [UInt64] {
        precondition(sealedNs.count == appliedNs.count)
        var marks = durableMarks.sorted { $0.lastOp < $1.lastOp }
        // A mark for a later op also covers every earlier op: take the earliest time covering each.
        var index = marks.count - 1
        while index > 0 {
            if marks[index].ns < marks[index - 1].ns { marks[index - 1].ns = marks[index].ns }
            index -= 1
        }
        var latencies: [UInt64] = []
        latencies.reserveCapacity(sealedNs.count)
        var markIndex = 0
        for position in 0..<sealedNs.count {
            let op = firstOp + UInt64(position)
            while markIndex < marks.count && marks[markIndex].lastOp < op { markIndex += 1 }
            precondition(markIndex < marks.count, "op \(op) was never made durable")
            let doneNs = max(marks[markIndex].ns, appliedNs[position])
            latencies.append(doneNs - min(doneNs, sealedNs[position]))
        }
        return latencies
    }
}

/// The apply thread's side: applies batches in order, counts results, notes when each was applied.
final class AppliedLog: @unchecked Sendable {
    let ledger: Ledger
    private(set) var appliedNs: [UInt64] = []
    private var transferResults = [Int](repeating: 0, count: 256)
    private var accountResults = [Int](repeating: 0, count: 256)
    private var transfersCount = 0
    private var accountsCount = 0
    private var refused: [RefusedRecord] = []
    private let done = DispatchSemaphore(value: 0)

    init(ledger: Ledger) { self.ledger = ledger }

    func run(_ queue: BlockingQueue<ApplyItem>) {
        let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Limits.batchRecordsMax)
        defer {
            results.deallocate()
            done.signal()
        }
        while case .batch(let batch) = queue.pop() {
            ledger.apply(batch, results: results)
            appliedNs.append(monotonicNowNs())
            let count = batch.recordCount
            // Records reach the batches in submission order: the first of this batch is record
            // number transfersCount + accountsCount of the whole ingest.
            let firstIndex = transfersCount + accountsCount
            let kind = batch.recordKind
            for index in 0..<count where results[index] != 0 {
                refused.append(RefusedRecord(index: firstIndex + index, kind: kind, result: results[index]))
            }
            switch kind {
            case .transfers:
                transfersCount += count
                for index in 0..<count { transferResults[Int(results[index])] += 1 }
            case .accounts:
                accountsCount += count
                for index in 0..<count { accountResults[Int(results[index])] += 1 }
            case .noop:
                break
            }
        }
    }

    func waitUntilDone() { done.wait() }

    func fill(_ report: inout IngestReport) {
        report.transferResults = transferResults
        report.accountResults = accountResults
        report.transfersCount = transfersCount
        report.accountsCount = accountsCount
        report.refused = refused
    }
}
