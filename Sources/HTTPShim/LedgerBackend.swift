// Where the API's writes go: the local writer of `wallet serve`, or the Raft cluster of a replica.
import Foundation
import LedgerCore

/// The write side and the linearizable reads, behind one interface, so the same routes serve a
/// single node and a replica.
protocol LedgerBackend: Sendable {
    /// A record to create (or a transfer to look up), answered once durable and applied (and,
    /// in a replica, applied by this replica too, so the answer is readable here).
    func submit(_ work: LedgerWriter.Work, timeoutMs: Int) async throws -> WriteOutcome
    /// `submit`, answered through `completion` (on any thread) instead of a task: for the event
    /// loop's fast path, which has no task to suspend.
    func submit(_ work: LedgerWriter.Work, timeoutMs: Int, completion: @escaping @Sendable (Result<WriteOutcome, Error>) -> Void)
    /// An account as of an op at least as late as every write acknowledged before the call.
    func linearizableAccount(_ id: UInt128, timeoutMs: Int) async throws -> (account: Account?, op: UInt64)
    /// A transfer as of an op at least as late as every write acknowledged before the call.
    func linearizableTransfer(_ id: UInt128, timeoutMs: Int) async throws -> WriteOutcome
    /// Role, term, commit op and digest mismatches, for the metrics.
    func consensusState() async -> (role: String, term: UInt64, commitOp: UInt64, digestMismatches: Int)
    /// Nil while writes are taken; else why they are refused now (`/readyz` answers 503 with it).
    var writesRefusedBecause: String? { get }
}

extension LedgerBackend {
    var writesRefusedBecause: String? { nil }

    func submit(_ work: LedgerWriter.Work, timeoutMs: Int, completion: @escaping @Sendable (Result<WriteOutcome, Error>) -> Void) {
        Task {
            do { completion(.success(try await submit(work, timeoutMs: timeoutMs))) } catch { completion(.failure(error)) }
        }
    }
}

extension LedgerWriter: LedgerBackend {
    /// A single node is the only writer and answers only after publishing to the read model: the
    /// read model is linearizable.
    func linearizableAccount(_ id: UInt128, timeoutMs: Int) async throws -> (account: Account?, op: UInt64) {
        readModel.account(id: id)
    }

    /// The writer's own queue: after every write queued before it.
    func linearizableTransfer(_ id: UInt128, timeoutMs: Int) async throws -> WriteOutcome {
        try await submit(.lookupTransfer(id), timeoutMs: timeoutMs)
    }

    func consensusState() async -> (role: String, term: UInt64, commitOp: UInt64, digestMismatches: Int) {
        ("leader", 1, readModel.op, 0)
    }
}
