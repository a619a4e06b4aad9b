// A replica that finds a damaged batch in its own log sets the rest aside and is repaired by the leader.
import Cluster
import Foundation
import LedgerCore
import Storage
import TestSupport
import Workload
import XCTest

final class RepairFromPeerTests: XCTestCase {
    func testAFollowerWithADamagedSegmentIsRepairedByTheLeaderAndVotesAgain() throws {
        let directory = TemporaryDirectory()
        let clusterId: UInt128 = 16
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path, replicaCount: 3, clusterId: clusterId, segmentSizeMib: 4)
        cluster.startArguments = ["--snapshot-interval-transfers", "0"]
        defer { cluster.stopAll() }
        try cluster.startAll()
        let leader = try cluster.waitForLeader()
        var spec = WorkloadSpec(accounts: 100, transfers: 100_000)
        spec.seed = 21
        let workload = Workload(spec: spec)
        let submitter = ConcurrentSubmitter(addresses: cluster.addresses, clusterId: clusterId, key: cluster.key, clients: 2)
        XCTAssertEqual(workload.accounts().withUnsafeBytes { submitter.run(SubmitRequest.split(kind: .accounts, records: $0, recordsPerRequest: 8191)) }.failures, [])
        XCTAssertEqual(workload.transfers().withUnsafeBytes { submitter.run(SubmitRequest.split(kind: .transfers, records: $0, recordsPerRequest: 8191)) }.failures, [])
        let before = try cluster.waitUntilConverged()

        // Bit rot in the first batch of a follower's second segment: an acknowledged batch, well
        // before the tail, so its log no longer opens as it was.
        let damaged = (leader + 1) % 3
        cluster.kill(damaged)
        let segment = cluster.dataPath(damaged) + "/log/" + "segment-0000000002.wlog"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        bytes[4096 + 128 + 5_000] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: segment))
        XCTAssertNotEqual(try WalletBinary.run(["verify", "--data", cluster.dataPath(damaged)]).status, 0, "the damage is real")

        try cluster.start(damaged)
        let after = try cluster.waitUntilConverged()
        XCTAssertEqual(Set(after.map(\.digest)).count, 1)
        XCTAssertEqual(after[0].digest, before[0].digest)
        XCTAssertEqual(after.first { $0.replica == damaged }?.transfersCount, 100_000)
        let log = try String(contentsOfFile: cluster.logPath(damaged), encoding: .utf8)
        XCTAssertTrue(log.contains("ERROR: DAMAGED LOG"), log)
        XCTAssertTrue(log.contains("set aside ops"), log)
        let record = try XCTUnwrap(try RaftStateRecord.read(directory: cluster.dataPath(damaged)))
        XCTAssertGreaterThanOrEqual(record.votingFloorIndex, before[0].appliedOp - 1, "the floor is where its log had reached")
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: cluster.dataPath(damaged) + "/log").contains { $0.hasPrefix("damaged-") },
                      "the damaged bytes are kept aside for inspection")

        // Repaired past its floor, it votes again: with the leader gone, it and the third replica
        // elect a new one and commit more.
        cluster.kill(leader)
        let newLeader = try cluster.waitForLeader()
        XCTAssertNotEqual(newLeader, leader)
        let survivors = (0..<3).filter { $0 != leader }
        XCTAssertEqual(workload.transfers().prefix(8191).withUnsafeBytes { submitter.run(SubmitRequest.split(kind: .transfers, records: $0, recordsPerRequest: 8191)) }.failures, [])
        let two = try cluster.waitUntilConverged(replicas: survivors)
        XCTAssertEqual(Set(two.map(\.digest)).count, 1)
        XCTAssertGreaterThan(two[0].commitOp, before[0].commitOp)
        cluster.stopAll()
        let verify = try WalletBinary.run(["verify", "--data", cluster.dataPath(damaged), "--json"])
        XCTAssertEqual(verify.status, 0, verify.stdout)
    }
}
