// The past over HTTP: balances at an op or instant, and an account's changes, rebuilt by `History`.
import Foundation
import LedgerCore
import Replica
import Storage

/// Historical reads run on their own threads against a read-only view of the log (the writer's
/// appends never disturb them: readers take no lock, and every op they ask for is durable). Each
/// restores a whole ledger from a snapshot, so at most `historical_reads_max` run at once; more
/// are answered 503.
final class PastReads: @unchecked Sendable {
    /// Historical reads at once (each may hold a full copy of the state in memory).
    static let historicalReadsMax = 2
    /// Entries one page of an account's transfers may list (`history_page_entries_max`).
    static let pageEntriesMax = 1000

    let dataPath: String
    private let running = InFlightCounter()

    init(dataPath: String) { self.dataPath = dataPath }

    private func offThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        guard running.enter(limit: PastReads.historicalReadsMax) else {
            var problem = Problem(.serviceUnavailable, "too-many-historical-reads", "Too many historical reads",
                                  detail: "historical_reads_max (\(PastReads.historicalReadsMax)) are running: retry with back-off")
            problem.headers[.retryAfter] = "1"
            throw problem
        }
        defer { running.leave() }
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// The account right after op `atOp`, or at instant `atTimeNs` (exact to the record), never
    /// past `appliedOp`. Returns the account (nil: it did not exist then) and the point.
    func account(_ id: UInt128, atOp: UInt64?, atTimeNs: UInt64?, appliedOp: UInt64) async throws -> (account: Account?, point: HistoryPoint, snapshotOp: UInt64) {
        let dataPath = self.dataPath
        return try await offThread {
            let directory = try DataDirectory.open(path: dataPath)
            let log = try directory.openLog(readOnly: true)
            let point: HistoryPoint
            do {
                if let atOp {
                    guard atOp <= appliedOp else { throw Problem.invalidField("at_op", "op \(atOp) is past the last applied op \(appliedOp)") }
                    point = try History.point(afterOp: atOp, in: log)
                } else {
                    guard let found = try History.point(atTimeNs: atTimeNs!, in: log) else {
                        throw Problem.notFound("no record is at or before \(Instant.format(ns: atTimeNs!)): the log starts later")
                    }
                    point = found.op > appliedOp ? try History.point(afterOp: appliedOp, in: log) : found
                }
                var problems: [String] = []
                let past = try History.ledger(at: point, dataPath: dataPath, log: log, clusterId: directory.superblock.clusterId, problems: &problems)
                return (past.ledger.account(id: id), point, past.snapshotOp)
            } catch let error as HistoryError {
                throw Problem(.unprocessableContent, "past-unavailable", "That past state cannot be rebuilt", detail: error.message)
            }
        }
    }

    /// The account's changes in ops `fromOp...toOp`, at most about `limit` (a page ends after the
    /// batch that reaches it), and where the next page starts.
    func transfers(_ id: UInt128, fromOp: UInt64, toOp: UInt64, limit: Int) async throws -> (entries: [AccountHistoryEntry], nextFromOp: UInt64?) {
        let dataPath = self.dataPath
        return try await offThread {
            let directory = try DataDirectory.open(path: dataPath)
            let log = try directory.openLog(readOnly: true)
            guard fromOp >= log.firstOp, fromOp <= toOp, toOp <= log.lastOp else {
                throw Problem(.unprocessableContent, "past-unavailable", "That past state cannot be rebuilt",
                              detail: "ops \(fromOp)...\(toOp) are not all in the log (ops \(log.firstOp)...\(log.lastOp): it was pruned, or is behind)")
            }
            var problems: [String] = []
            do {
                let found = try History.account(id, ops: fromOp...toOp, entriesMax: limit, wholeBatches: true, dataPath: dataPath, log: log,
                                                clusterId: directory.superblock.clusterId, problems: &problems)
                return (found.entries, found.continueFromOp)
            } catch let error as HistoryError {
                throw Problem(.unprocessableContent, "past-unavailable", "That past state cannot be rebuilt", detail: error.message)
            }
        }
    }
}
