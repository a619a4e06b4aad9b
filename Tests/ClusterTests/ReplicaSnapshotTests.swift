// The replicas' compactors: snapshots at the same ops with the same digests, and restarts from them.
import Cluster
import Foundation
import LedgerCore
import Storage
import TestSupport
import Workload
import XCTest

final class ReplicaSnapshotTests: XCTestCase {
    func testReplicasSnapshotTheSameStateAndRestartFromIt() throws {
        let directory = TemporaryDirectory()
        let clusterId: UInt128 = 13
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path, replicaCount: 3, clusterId: clusterId, segmentSizeMib: 4)
        cluster.startArguments = ["--snapshot-interval-transfers", "40000", "--snapshots-retained", "2"]
        defer { cluster.stopAll() }
        try cluster.startAll()
        _ = try cluster.waitForLeader()

        var spec = WorkloadSpec(accounts: 200, transfers: 150_000)
        spec.seed = 3
        let workload = Workload(spec: spec)
        let accounts = workload.accounts()
        let transfers = workload.transfers()
        let submitter = ConcurrentSubmitter(addresses: cluster.addresses, clusterId: clusterId, key: cluster.key, clients: 2)
        XCTAssertEqual(accounts.withUnsafeBytes { submitter.run(SubmitRequest.split(kind: .accounts, records: $0, recordsPerRequest: 8191)) }.failures, [])
        XCTAssertEqual(transfers.withUnsafeBytes { submitter.run(SubmitRequest.split(kind: .transfers, records: $0, recordsPerRequest: 8191)) }.failures, [])

        // Every replica's compactor snapshots after the same committed batches: same ops, same digests.
        var statuses = try cluster.waitUntilConverged()
        let deadline = Date(timeIntervalSinceNow: 20)
        // 150,000 transfers every 40,000: three snapshots each, of which two are kept. The
        // compactors run behind the replicas (at a lower priority): wait for them to finish.
        func snapshotFiles(_ replica: Int) -> Int { (try? SnapshotFile.list(dataPath: cluster.dataPath(replica)).count) ?? 0 }
        while (Set(statuses.map(\.snapshotOp)).count != 1 || (0..<3).contains { snapshotFiles($0) < 2 }) && Date() < deadline {
            usleep(100_000)
            statuses = try cluster.waitUntilConverged()
        }
        XCTAssertEqual(Set(statuses.map(\.snapshotOp)).count, 1, "\(statuses.map(\.snapshotOp))")
        XCTAssertGreaterThan(statuses[0].snapshotOp, 0)
        XCTAssertEqual(Set(statuses.map(\.snapshotDigest)).count, 1, "replicas disagree at snapshot op \(statuses[0].snapshotOp)")
        for replica in 0..<3 {
            let files = try SnapshotFile.list(dataPath: cluster.dataPath(replica))
            XCTAssertEqual(files.count, 2, "snapshots_retained is 2")
            // The file of the op the statuses agree on (a later snapshot may be published meanwhile).
            guard let agreed = files.first(where: { $0.op == statuses[0].snapshotOp }) else {
                XCTAssertTrue(files.allSatisfy { $0.op > statuses[0].snapshotOp }, "replica \(replica): \(files.map(\.op))")
                continue
            }
            let header = try SnapshotFile.readHeader(path: agreed.path, clusterId: clusterId)
            XCTAssertEqual(header.digest, statuses[0].snapshotDigest)
        }

        // Each replica compares its snapshot digests with its peers' (sent after each snapshot and
        // every second): the three snapshots so far, each against two peers, all equal.
        let compareDeadline = Date(timeIntervalSinceNow: 10)
        while statuses.contains(where: { $0.digestsCompared < 2 }) && Date() < compareDeadline {
            usleep(100_000)
            statuses = try cluster.waitUntilConverged()
        }
        for status in statuses {
            XCTAssertGreaterThanOrEqual(status.digestsCompared, 2, "replica \(status.replica)")
            XCTAssertEqual(status.digestMismatches, 0, "replica \(status.replica)")
        }

        // After each snapshot, the sealed segments it covers are archived (in the background).
        let archiveDeadline = Date(timeIntervalSinceNow: 20)
        func archives(_ replica: Int) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: cluster.dataPath(replica) + "/log").filter { $0.hasSuffix(".wlza") }
        }
        while try (0..<3).contains(where: { try archives($0).isEmpty }) && Date() < archiveDeadline { usleep(100_000) }
        for replica in 0..<3 { XCTAssertFalse(try archives(replica).isEmpty, "replica \(replica) archived nothing") }

        // A replica killed and restarted loads its newest snapshot and catches up to the same state.
        let victim = statuses.first { $0.role != "leader" }!.replica
        cluster.kill(victim)
        try cluster.start(victim)
        let after = try cluster.waitUntilConverged()
        XCTAssertEqual(Set(after.map(\.digest)).count, 1)
        XCTAssertEqual(after.first { $0.replica == victim }?.transfersCount, 150_000)
        let log = try String(contentsOfFile: cluster.logPath(victim), encoding: .utf8)
        XCTAssertTrue(log.contains("loaded the snapshot at op"), log)
        XCTAssertFalse(log.contains("MISMATCH"), log)
        XCTAssertFalse(log.contains("FAILED"), log)
        // Its data directory, archives and all, verifies offline.
        cluster.stopAll()
        for replica in 0..<3 {
            let directory = try DataDirectory.open(path: cluster.dataPath(replica))
            let replicaLog = try directory.openLog(readOnly: true)
            XCTAssertGreaterThan(replicaLog.archivePaths.count, 0)
            try replicaLog.loadArchives(from: 1, through: replicaLog.lastOp)
        }
    }

    func testAFollowerThatMissedEverythingIsSentBatchesFromArchives() throws {
        let directory = TemporaryDirectory()
        let clusterId: UInt128 = 14
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path, replicaCount: 3, clusterId: clusterId, segmentSizeMib: 4)
        cluster.startArguments = ["--snapshot-interval-transfers", "30000"]
        defer { cluster.stopAll() }
        try cluster.startAll()
        let leader = try cluster.waitForLeader()
        // One follower is down for the whole workload; the other two commit it, snapshot and archive.
        let absent = (leader + 1) % 3
        cluster.kill(absent)
        var spec = WorkloadSpec(accounts: 100, transfers: 120_000)
        spec.seed = 9
        let workload = Workload(spec: spec)
        let submitter = ConcurrentSubmitter(addresses: cluster.addresses, clusterId: clusterId, key: cluster.key, clients: 2)
        XCTAssertEqual(workload.accounts().withUnsafeBytes { submitter.run(SubmitRequest.split(kind: .accounts, records: $0, recordsPerRequest: 8191)) }.failures, [])
        XCTAssertEqual(workload.transfers().withUnsafeBytes { submitter.run(SubmitRequest.split(kind: .transfers, records: $0, recordsPerRequest: 8191)) }.failures, [])
        let deadline = Date(timeIntervalSinceNow: 20)
        func archived(_ replica: Int) -> Int {
            ((try? FileManager.default.contentsOfDirectory(atPath: cluster.dataPath(replica) + "/log")) ?? []).filter { $0.hasSuffix(".wlza") }.count
        }
        while archived(leader) == 0 && Date() < deadline { usleep(100_000) }
        XCTAssertGreaterThan(archived(leader), 0, "the leader archived sealed segments")

        // Back up with an empty log: the leader sends it everything, the first batches from archives.
        try cluster.start(absent)
        let statuses = try cluster.waitUntilConverged()
        XCTAssertEqual(Set(statuses.map(\.digest)).count, 1)
        XCTAssertEqual(statuses.first { $0.replica == absent }?.transfersCount, 120_000)
    }
}
