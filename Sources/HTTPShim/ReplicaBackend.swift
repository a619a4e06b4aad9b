// The API inside a replica process: reads from this replica's read model, writes through Raft.
import Cluster
import Foundation
import LedgerCore
import Replica

/// A pool of blocking cluster clients (one request each at a time), used from async handlers.
final class ClientPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var idle: [ClusterClient]

    init(addresses: [PeerAddress], clusterId: UInt128, key: SecretKey, tls: ClientTLS?, size: Int, requestTimeoutMs: Int) {
        var policy = RetryPolicy()
        policy.deadlineMs = requestTimeoutMs
        policy.requestTimeoutMs = min(policy.requestTimeoutMs, requestTimeoutMs)
        idle = (0..<size).map { _ in ClusterClient(addresses: addresses, clusterId: clusterId, key: key, policy: policy, tls: tls) }
    }

    deinit { for client in idle { client.close() } }

    /// Runs `body` with a client on this thread (which may block).
    func withClient<T>(_ body: (ClusterClient) throws -> T) rethrows -> T {
        condition.lock()
        while idle.isEmpty { condition.wait() }
        let client = idle.removeLast()
        condition.unlock()
        defer {
            condition.lock()
            idle.append(client)
            condition.signal()
            condition.unlock()
        }
        return try body(client)
    }

    /// Runs `body` with a client on a thread that may block.
    func run<T: Sendable>(_ body: @escaping @Sendable (ClusterClient) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { [self] in
                continuation.resume(with: Result { try withClient(body) })
            }
        }
    }
}

/// Groups concurrent writes into one cluster request (up to `batch_records_max` records of one
/// kind), so the leader's batches carry many records per request, as `wallet serve`'s writer
/// groups them per fsync. At most `requestsInFlightMax` requests are out at once; whatever queues
/// meanwhile goes into the next one.
final class SubmitBatcher: @unchecked Sendable {
    /// Cluster requests out at once (each a batch of records).
    static let requestsInFlightMax = 4

    private struct Item {
        let kind: RecordKind
        let bytes: [UInt8]
        let continuation: CheckedContinuation<(result: UInt8, op: UInt64), Error>
    }

    private let pool: ClientPool
    private let lock = NSLock()
    private var queue: [Item] = []
    private var inFlight = 0

    init(pool: ClientPool) { self.pool = pool }

    func submit(kind: RecordKind, record bytes: [UInt8]) async throws -> (result: UInt8, op: UInt64) {
        try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            queue.append(Item(kind: kind, bytes: bytes, continuation: continuation))
            lock.unlock()
            pump()
        }
    }

    private func pump() {
        lock.lock()
        var runs: [[Item]] = []
        while inFlight < SubmitBatcher.requestsInFlightMax, let first = queue.first {
            let count = min(Limits.batchRecordsMax, queue.prefix { $0.kind == first.kind }.count)
            runs.append(Array(queue.prefix(count)))
            queue.removeFirst(count)
            inFlight += 1
        }
        lock.unlock()
        for run in runs { DispatchQueue.global().async { [self] in send(run) } }
    }

    private func send(_ run: [Item]) {
        var records: [UInt8] = []
        records.reserveCapacity(run.count * Limits.recordSizeBytes)
        for item in run { records += item.bytes }
        do {
            let outcome = try pool.withClient { client in try records.withUnsafeBytes { try client.submit(kind: run[0].kind, records: $0) } }
            for (index, item) in run.enumerated() { item.continuation.resume(returning: (outcome.results[index], outcome.op)) }
        } catch {
            for item in run { item.continuation.resume(throwing: Problem.unavailable("the cluster did not take the write: \(error) (retry with the same id)")) }
        }
        lock.lock()
        inFlight -= 1
        lock.unlock()
        pump()
    }
}

/// Feeds the read model and the event streams from the replica thread (every applied batch, in
/// order: followers apply what the leader committed), and sends writes through the cluster
/// protocol, so any replica takes them and the leader groups them into batches.
final class ReplicaBackend: LedgerBackend, AppliedBatchObserver, @unchecked Sendable {
    let server: ReplicaServer
    let readModel: ReadModel
    let events: EventHub
    let metrics: LedgerMetrics
    let pool: ClientPool
    let batcher: SubmitBatcher
    let reads: AppliedReads

    init(server: ReplicaServer, readModel: ReadModel, events: EventHub, metrics: LedgerMetrics, addresses: [PeerAddress],
         requestTimeoutMs: Int, clientsMax: Int) {
        self.server = server
        self.readModel = readModel
        self.events = events
        self.metrics = metrics
        pool = ClientPool(addresses: addresses, clusterId: server.clusterId, key: server.clusterKey, tls: server.clientTLS, size: clientsMax, requestTimeoutMs: requestTimeoutMs)
        batcher = SubmitBatcher(pool: pool)
        reads = AppliedReads(hop: { [server] body in server.onReplicaThread(body) })
    }

    // MARK: AppliedBatchObserver (replica thread)

    func applied(_ batch: BatchView, ledger: Ledger, op: UInt64) {
        let accounts = accountsChanged(by: batch, in: ledger)
        readModel.publish(accounts, op: op, batch: BalanceHistory.BatchTime(batch.header))
        events.publish(accounts, op: op)
        metrics.appliedOp.set(to: Double(op))
        reads.drain(ledger, appliedOp: op)
    }

    func replaced(ledger: Ledger, op: UInt64) {
        readModel.replaceAll(ledger: ledger, op: op)
        metrics.appliedOp.set(to: Double(op))
        reads.drain(ledger, appliedOp: op)
    }

    // MARK: LedgerBackend

    func submit(_ work: LedgerWriter.Work, timeoutMs: Int) async throws -> WriteOutcome {
        let deadline = Date(timeIntervalSinceNow: Double(timeoutMs) / 1000)
        switch work {
        case .transfer(let transfer):
            let outcome = try await batcher.submit(kind: .transfers, record: bytes(of: transfer))
            let (stored, storedOp) = try await storedTransfer(transfer.id, until: outcome.op, deadline: deadline, timeoutMs: timeoutMs)
            return WriteOutcome(result: outcome.result, op: outcome.op, stored: stored, account: nil, storedOp: storedOp)
        case .account(let account):
            let outcome = try await batcher.submit(kind: .accounts, record: bytes(of: account))
            let created = try await local(until: outcome.op, deadline: deadline, timeoutMs: timeoutMs) { ledger in ledger.account(id: account.id) }
            return WriteOutcome(result: outcome.result, op: outcome.op, stored: nil, account: created)
        case .lookupTransfer(let id):
            let op = readModel.op
            let (stored, storedOp) = try await storedTransfer(id, until: op, deadline: deadline, timeoutMs: timeoutMs)
            return WriteOutcome(result: 0, op: op, stored: stored, account: nil, storedOp: storedOp)
        case .installArchives:
            preconditionFailure("a replica's compactor archives by itself")
        }
    }

    private func bytes<Record>(of record: Record) -> [UInt8] {
        precondition(MemoryLayout<Record>.size == Limits.recordSizeBytes)
        var copy = record
        return withUnsafeBytes(of: &copy) { Array($0) }
    }

    /// The transfer stored under `id` once `op` is applied here, and the op of the batch that applied it.
    private func storedTransfer(_ id: UInt128, until op: UInt64, deadline: Date, timeoutMs: Int) async throws -> (StoredTransfer?, UInt64?) {
        let server = self.server
        return try await local(until: op, deadline: deadline, timeoutMs: timeoutMs) { ledger in
            let stored = ledger.transfer(id: id)
            return (stored, stored.flatMap { server.op(ofRecordTimestampNs: $0.transfer.timestamp) })
        }
    }

    /// Reads this replica's ledger on its thread once it has applied `op` (a follower applies a
    /// committed batch a moment after the leader answered).
    private func local<T: Sendable>(until op: UInt64, deadline: Date, timeoutMs: Int, _ read: @escaping @Sendable (Ledger) -> T) async throws -> T {
        try await reads.wait(until: op, appliedOp: { [readModel] in readModel.op }, timeoutMs: timeoutMs, read)
    }

    func linearizableAccount(_ id: UInt128, timeoutMs: Int) async throws -> (account: Account?, op: UInt64) {
        do {
            let answer = try await pool.run { client in try client.lookupAccounts([id]) }
            return (answer.accounts.first ?? nil, answer.op)
        } catch {
            throw Problem.unavailable("no leader answered the read: \(error)")
        }
    }

    /// The leader's read index, then this replica's own state once it has applied that op (the
    /// read-index protocol: no write acknowledged before the call can be missing). The wire has
    /// no bare read-index request, so the barrier is a one-account look-up through the leader.
    func linearizableTransfer(_ id: UInt128, timeoutMs: Int) async throws -> WriteOutcome {
        let deadline = Date(timeIntervalSinceNow: Double(timeoutMs) / 1000)
        let readIndex: UInt64
        do {
            readIndex = try await pool.run { client in try client.lookupAccounts([id]) }.op
        } catch {
            throw Problem.unavailable("no leader answered the read: \(error)")
        }
        let (stored, storedOp) = try await storedTransfer(id, until: readIndex, deadline: deadline, timeoutMs: timeoutMs)
        return WriteOutcome(result: 0, op: max(readIndex, readModel.op), stored: stored, account: nil, storedOp: storedOp)
    }

    func consensusState() async -> (role: String, term: UInt64, commitOp: UInt64, digestMismatches: Int) {
        await withCheckedContinuation { continuation in
            let server = self.server
            server.onReplicaThread { _, _ in continuation.resume(returning: server.consensusState) }
        }
    }
}

/// Reads of this replica's ledger that wait for an op to be applied: a write's answer (the stored
/// transfer or account) and the linearizable look-ups. They run on the replica thread, where the
/// ledger lives: right after the batch that makes them due (`drain` from the observer), or, when
/// their op is already applied, in one hop that answers every read queued meanwhile. A read not due
/// within `request_timeout_ms` is answered 503 by the deadline sweep.
final class AppliedReads: @unchecked Sendable {
    private struct Waiter {
        let op: UInt64
        let read: (Ledger) -> Void
    }

    /// Runs a body on the replica thread with the ledger and its applied op (`onReplicaThread`).
    private let hop: (@escaping @Sendable (Ledger, UInt64) -> Void) -> Void
    private let lock = NSLock()
    private var waiters: [Waiter] = []
    /// A hop to the replica thread is queued and will answer every due read.
    private var hopQueued = false
    private let deadlines = DeadlineSweeper()

    init(hop: @escaping (@escaping @Sendable (Ledger, UInt64) -> Void) -> Void) {
        self.hop = hop
        deadlines.start(label: "wallet-replica-read-timeouts")
    }

    /// `read` of the ledger once op `op` is applied (`appliedOp`: the read model's op now).
    func wait<T: Sendable>(until op: UInt64, appliedOp: () -> UInt64, timeoutMs: Int, _ read: @escaping @Sendable (Ledger) -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let answer = AnswerOnce<T>(deadlineNs: monotonicNowNs() + UInt64(timeoutMs) * 1_000_000) { continuation.resume(with: $0) }
            deadlines.add(answer, timeoutMs: timeoutMs)
            lock.lock()
            waiters.append(Waiter(op: op, read: { ledger in if !answer.isAnswered { answer.resume(returning: read(ledger)) } }))
            // Already applied: no later batch may come soon, so hop to the replica thread (once for
            // every read queued until the hop runs). Not yet: the batch's `drain` answers it.
            let needsHop = !hopQueued && op <= appliedOp()
            if needsHop { hopQueued = true }
            lock.unlock()
            if needsHop {
                self.hop { [self] ledger, appliedOp in
                    lock.lock()
                    hopQueued = false
                    lock.unlock()
                    drain(ledger, appliedOp: appliedOp)
                }
            }
        }
    }

    /// On the replica thread, with the ledger as of `appliedOp`: answers every read that is due
    /// (one timed out meanwhile is dropped unread).
    func drain(_ ledger: Ledger, appliedOp: UInt64) {
        lock.lock()
        guard !waiters.isEmpty else { return lock.unlock() }
        var due: [Waiter] = []
        waiters.removeAll { waiter in
            guard waiter.op <= appliedOp else { return false }
            due.append(waiter)
            return true
        }
        lock.unlock()
        for waiter in due { waiter.read(ledger) }
    }
}
