// Install snapshot between real replica processes: a leader that pruned what a follower needs
// streams it a snapshot; the follower's log then starts after it, and it keeps up from there.
import Cluster
import Foundation
import LedgerCore
import Storage
import TestSupport
import Workload
import XCTest

final class InstallSnapshotProcessTests: XCTestCase {
    func testAFollowerBehindThePrunedLogIsSentASnapshotThenTheTail() throws {
        let directory = TemporaryDirectory()
        let clusterId: UInt128 = 15
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path, replicaCount: 3, clusterId: clusterId, segmentSizeMib: 4)
        cluster.startArguments = ["--snapshot-interval-transfers", "30000", "--snapshots-retained", "2", "--prune-archives"]
        defer { cluster.stopAll() }
        try cluster.startAll()
        let leader = try cluster.waitForLeader()
        // One follower is down while the other two commit, snapshot, archive and prune.
        let absent = (leader + 1) % 3
        cluster.kill(absent)
        var spec = WorkloadSpec(accounts: 100, transfers: 150_000)
        spec.seed = 11
        let workload = Workload(spec: spec)
        let submitter = ConcurrentSubmitter(addresses: cluster.addresses, clusterId: clusterId, key: cluster.key, clients: 2)
        XCTAssertEqual(workload.accounts().withUnsafeBytes { submitter.run(SubmitRequest.split(kind: .accounts, records: $0, recordsPerRequest: 8191)) }.failures, [])
        XCTAssertEqual(workload.transfers().withUnsafeBytes { submitter.run(SubmitRequest.split(kind: .transfers, records: $0, recordsPerRequest: 8191)) }.failures, [])
        func baseOp(_ replica: Int) -> UInt64 {
            guard let log = try? SegmentLog(directoryPath: cluster.dataPath(replica) + "/log", clusterId: clusterId,
                                            segmentSizeBytes: 4 << 20, readOnly: true) else { return 0 }
            return log.baseOp
        }
        let deadline = Date(timeIntervalSinceNow: 30)
        while baseOp(leader) == 0 && Date() < deadline { usleep(100_000) }
        let leaderBase = baseOp(leader)
        XCTAssertGreaterThan(leaderBase, 0, "the leader pruned archives")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cluster.dataPath(leader) + "/log/archive-0000000001.wlza"))

        // Back with an empty log: op 1 is gone from the leader, so it is sent a snapshot, then the tail.
        try cluster.start(absent)
        let statuses = try cluster.waitUntilConverged(timeoutMs: 40_000)
        XCTAssertEqual(Set(statuses.map(\.digest)).count, 1)
        XCTAssertEqual(statuses.first { $0.replica == absent }?.transfersCount, 150_000)
        let followerLog = try String(contentsOfFile: cluster.logPath(absent), encoding: .utf8)
        XCTAssertTrue(followerLog.contains("installed the snapshot at op"), followerLog)
        XCTAssertFalse(followerLog.contains("MISMATCH"), followerLog)
        let leaderLog = try String(contentsOfFile: cluster.logPath(leader), encoding: .utf8)
        XCTAssertTrue(leaderLog.contains("sending the snapshot at op"), leaderLog)
        XCTAssertGreaterThan(baseOp(absent), 0, "the follower's log starts after the snapshot")

        // It takes part from there: more transfers commit with it (the other follower stopped).
        let other = (0..<3).first { $0 != leader && $0 != absent }!
        cluster.kill(other)
        // (The same transfers again: each answered `exists`, but every batch is still replicated,
        // and the leader needs the follower's acknowledgement to commit it.)
        let lastOpBefore = statuses[0].commitOp
        XCTAssertEqual(workload.transfers().prefix(20_000).withUnsafeBytes { submitter.run(SubmitRequest.split(kind: .transfers, records: $0, recordsPerRequest: 8191)) }.failures, [])
        let two = try cluster.waitUntilConverged(replicas: [leader, absent])
        XCTAssertEqual(Set(two.map(\.digest)).count, 1)
        XCTAssertGreaterThan(two[0].commitOp, lastOpBefore)

        // A restart of the follower opens from the installed snapshot and its log after it; its
        // data directory verifies offline from that snapshot on.
        cluster.kill(absent)
        try cluster.start(absent)
        XCTAssertEqual(Set(try cluster.waitUntilConverged(replicas: [leader, absent]).map(\.digest)).count, 1)
        cluster.stopAll()
        let verify = try WalletBinary.run(["verify", "--data", cluster.dataPath(absent), "--json"])
        XCTAssertEqual(verify.status, 0, verify.stdout)
        XCTAssertTrue(verify.stdout.contains("\"ok\":true"), verify.stdout)
    }
}
