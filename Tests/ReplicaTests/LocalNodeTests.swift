// The single-node path: durable ingest, group commit, restart by replay, checkpoints.
import Foundation
import LedgerCore
@testable import Replica
import Storage
import Workload
import TestSupport
import XCTest

final class LocalNodeTests: XCTestCase {
    private func format(_ directory: TemporaryDirectory) throws -> String {
        let path = directory.path + "/data"
        _ = try DataDirectory.format(path: path, clusterId: 42, segmentSizeBytes: 4 << 20)
        return path
    }

    func testIngestIsDurableAndReplaysToTheSameDigest() throws {
        let directory = TemporaryDirectory()
        let path = try format(directory)
        var spec = WorkloadSpec(accounts: 300, transfers: 30_000)
        spec.duplicateFraction = 0.05
        spec.invalidFraction = 0.05
        let workload = Workload(spec: spec)
        let digest: Hash256
        let expectedOk: Int
        do {
            let node = try LocalNode(path: path)
            let report = try node.ingest(accounts: workload.accounts(), transfers: workload.transfers()[...])
            XCTAssertEqual(report.accountsCount, 300)
            XCTAssertEqual(report.accountResults[0], 300)
            XCTAssertEqual(report.transfersCount, 30_000)
            XCTAssertEqual(report.transferResults.reduce(0, +), 30_000)
            XCTAssertGreaterThan(report.transferResults[Int(TransferResult.exists.rawValue)], 0)
            XCTAssertEqual(report.batchLatenciesNs.count, report.batchesCount)
            // 30,000 transfers need 4 batches of at most 8,191; accounts take one more.
            XCTAssertEqual(node.log.lastOp, 5)
            expectedOk = report.transferResults[0]
            digest = node.ledger.digest()
            for (_, totals) in node.ledger.totalsByLedger() { XCTAssertTrue(totals.isBalanced) }
        }
        let reopened = try LocalNode(path: path)
        XCTAssertEqual(reopened.ledger.digest(), digest)
        XCTAssertEqual(reopened.replayedTransfers, 30_000)
        XCTAssertEqual(try StateCheckpoint.read(directory: path)?.digest, digest)
        var okStored = 0
        for index in 0..<30_000 where reopened.ledger.transfer(id: workload.transferId(index))?.result == .ok { okStored += 1 }
        XCTAssertLessThanOrEqual(okStored, expectedOk)  // duplicates reuse ids
        XCTAssertGreaterThan(okStored, 20_000)
    }

    func testSmallSubmissionsShareOneBatch() throws {
        let directory = TemporaryDirectory()
        let node = try LocalNode(path: try format(directory))
        let accounts = (1...50).map { Account(id: UInt128($0), ledger: 1) }
        // 50 submissions of one account each: group commit packs them into one batch.
        let report: IngestReport = try accounts.withUnsafeBytes { bytes in
            let submissions = (0..<50).map { Submission(kind: .accounts, records: UnsafeRawBufferPointer(rebasing: bytes[($0 * 128)..<($0 * 128 + 128)])) }
            return try node.ingest(submissions)
        }
        XCTAssertEqual(report.batchesCount, 1)
        XCTAssertEqual(report.accountResults[0], 50)
        XCTAssertEqual(node.log.batch(op: 1).recordCount, 50)
    }

    func testBatchesAreStampedAndChained() throws {
        let directory = TemporaryDirectory()
        let node = try LocalNode(path: try format(directory))
        _ = try node.ingest(accounts: [Account(id: 1, ledger: 1), Account(id: 2, ledger: 1)])
        _ = try node.ingest(transfers: [Transfer(id: 9, debitAccountId: 1, creditAccountId: 2, amount: 5, ledger: 1)])
        let first = node.log.batch(op: 1).header
        let second = node.log.batch(op: 2).header
        XCTAssertEqual(first.previousHeaderHash, Hash256.genesis(clusterId: 42))
        XCTAssertEqual(second.previousHeaderHash, first.hash())
        XCTAssertGreaterThan(second.timestampNs, first.timestampNs + 1)
        XCTAssertEqual(second.term, LocalNode.term)
        XCTAssertEqual(second.rulesVersion, Ledger.rulesVersion)
        XCTAssertEqual(node.ledger.transfer(id: 9)?.transfer.timestamp, second.timestampNs)
    }

    func testRotatesSegmentsDuringIngest() throws {
        let directory = TemporaryDirectory()
        let path = try format(directory)
        let workload = Workload(spec: WorkloadSpec(accounts: 1_000, transfers: 60_000))
        let digest: Hash256
        do {
            let node = try LocalNode(path: path)
            let report = try node.ingest(accounts: workload.accounts(), transfers: workload.transfers()[...])
            XCTAssertGreaterThan(node.log.segmentCount, 1)
            XCTAssertEqual(report.batchLatenciesNs.count, report.batchesCount)
            digest = node.ledger.digest()
        }
        XCTAssertEqual(try LocalNode(path: path).ledger.digest(), digest)
    }

    func testLatenciesTakeTheLaterOfDurableAndApplied() {
        let latencies = IngestPipeline.latencies(
            firstOp: 10, sealedNs: [100, 200, 300], appliedNs: [150, 260, 390],
            durableMarks: [(lastOp: 11, ns: 250), (lastOp: 12, ns: 380), (lastOp: 10, ns: 500)])
        XCTAssertEqual(latencies, [150, 60, 90])
    }
}
