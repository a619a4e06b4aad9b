// The writer's compactor: snapshots and archives on its schedule, without stopping the writer.
import Foundation
import LedgerCore
import Replica
import Storage

extension LedgerWriter {
    /// The compactor on its schedule, without stopping the writer for the snapshot: the state is
    /// copied here (a memory copy, well under a second per GB), then the copy's digest and snapshot
    /// are written, and the sealed segments it covers archived, on another thread; only the swap of
    /// segments for archives comes back to this thread.
    func startCompaction(op: UInt64) {
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

    func installArchives(_ jobs: [ArchiveJob], snapshotOp: UInt64, error: Error?) {
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
