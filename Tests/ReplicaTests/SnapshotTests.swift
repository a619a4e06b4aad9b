// Snapshots: restore gives the same state, damage is detected and skipped, retention is kept.
import Foundation
import LedgerCore
@testable import Replica
import Storage
import Workload
import TestSupport
import XCTest

final class SnapshotTests: XCTestCase {
    private func format(_ directory: TemporaryDirectory) throws -> String {
        let path = directory.path + "/data"
        _ = try DataDirectory.format(path: path, clusterId: 42, segmentSizeBytes: 4 << 20)
        return path
    }

    /// A workload with pending, posted and voided transfers, duplicates and invalid ones.
    private func workload() -> Workload {
        var spec = WorkloadSpec(accounts: 500, transfers: 40_000)
        spec.duplicateFraction = 0.05
        spec.invalidFraction = 0.05
        spec.seed = 5
        return Workload(spec: spec)
    }

    func testRestoreFromSnapshotReachesTheSameStateAsAFullReplay() throws {
        let directory = TemporaryDirectory()
        let path = try format(directory)
        let workload = workload()
        let transfers = workload.transfers()
        do {
            let node = try LocalNode(path: path)
            try node.ingest(accounts: workload.accounts(), transfers: transfers[0..<20_000])
            let written = try node.compact()
            XCTAssertEqual(written.op, node.log.lastOp)
            try node.ingest(transfers: transfers[20_000...])
        }
        let restored = try LocalNode(path: path)
        let replayed = try LocalNode(path: path, readOnly: true, useSnapshots: false)
        XCTAssertGreaterThan(restored.snapshotOp, 0)
        XCTAssertEqual(restored.snapshotProblems, [])
        XCTAssertLessThan(restored.replayedTransfers, replayed.replayedTransfers, "only the tail after the snapshot is replayed")
        XCTAssertEqual(restored.ledger.digest(), replayed.ledger.digest())
        // The restored state keeps working: the same new transfers give the same results.
        let more = (1...100).map { Transfer(id: 9_000_000 + UInt128($0), debitAccountId: 1, creditAccountId: 2 + UInt128($0 % 7), amount: 3, ledger: workload.spec.ledger) }
        var left = [UInt8](repeating: 9, count: 100)
        var right = [UInt8](repeating: 9, count: 100)
        more.withUnsafeBufferPointer { records in
            left.withUnsafeMutableBufferPointer { restored.ledger.createTransfers(records, timestampNs: restored.ledger.lastTimestampNs + 1, results: $0) }
            right.withUnsafeMutableBufferPointer { replayed.ledger.createTransfers(records, timestampNs: replayed.ledger.lastTimestampNs + 1, results: $0) }
        }
        XCTAssertEqual(left, right)
        XCTAssertEqual(restored.ledger.digest(), replayed.ledger.digest())
    }

    func testDamagedOrTruncatedSnapshotIsReportedAndAnOlderOneIsUsed() throws {
        let directory = TemporaryDirectory()
        let path = try format(directory)
        let workload = workload()
        let transfers = workload.transfers()
        let expected: Hash256
        do {
            let node = try LocalNode(path: path)
            try node.ingest(accounts: workload.accounts(), transfers: transfers[0..<10_000])
            try node.compact()
            try node.ingest(transfers: transfers[10_000...])
            try node.compact()
            expected = node.ledger.digest()
        }
        let snapshots = try SnapshotFile.list(dataPath: path)
        XCTAssertEqual(snapshots.count, 2)
        let newest = snapshots[1]
        let original = try Data(contentsOf: URL(fileURLWithPath: newest.path))

        // Every kind of damage: header, meta, a chunk body deep inside, and a cut-off end.
        for (label, damaged) in [
            ("header", flipping(original, at: 40)),
            ("meta chunk", flipping(original, at: 128 + 16 + 3)),
            ("a chunk body", flipping(original, at: original.count / 2)),
            ("truncated", original.prefix(original.count - 100)),
        ] {
            try damaged.write(to: URL(fileURLWithPath: newest.path))
            let node = try LocalNode(path: path, readOnly: true)
            XCTAssertEqual(node.snapshotOp, snapshots[0].op, "\(label): the older snapshot is used")
            XCTAssertEqual(node.snapshotProblems.count, 1, label)
            XCTAssertTrue(node.snapshotProblems[0].contains(newest.path), "\(label): the problem names the file: \(node.snapshotProblems)")
            XCTAssertEqual(node.ledger.digest(), expected, "\(label): the state is still right")
            XCTAssertThrowsError(try SnapshotFile.read(path: newest.path, clusterId: 42, hashSeed: node.ledger.hashSeed), label)
        }
        // Both damaged: genesis.
        try flipping(try Data(contentsOf: URL(fileURLWithPath: snapshots[0].path)), at: 200).write(to: URL(fileURLWithPath: snapshots[0].path))
        let node = try LocalNode(path: path, readOnly: true)
        XCTAssertEqual(node.snapshotOp, 0)
        XCTAssertEqual(node.snapshotProblems.count, 2)
        XCTAssertEqual(node.ledger.digest(), expected)
    }

    func testRetentionKeepsTheNewestSnapshots() throws {
        let directory = TemporaryDirectory()
        let path = try format(directory)
        let workload = workload()
        let transfers = workload.transfers()
        let node = try LocalNode(path: path)
        try node.ingest(accounts: workload.accounts(), transfers: transfers[0..<1])
        var ops: [UInt64] = []
        for round in 0..<4 {
            try node.ingest(transfers: transfers[(1 + round * 1000)..<(1 + (round + 1) * 1000)])
            ops.append(try node.compact(retainedCount: 2).op)
        }
        XCTAssertEqual(try SnapshotFile.list(dataPath: path).map(\.op), Array(ops.suffix(2)))
    }

    func testSnapshotOfAnotherLogIsRefused() throws {
        let directory = TemporaryDirectory()
        let path = try format(directory)
        let other = directory.path + "/other"
        _ = try DataDirectory.format(path: other, clusterId: 42, segmentSizeBytes: 4 << 20)
        let workload = workload()
        let transfers = workload.transfers()
        do {
            let node = try LocalNode(path: path)
            try node.ingest(accounts: workload.accounts(), transfers: transfers[0..<5_000])
            let otherNode = try LocalNode(path: other)
            try otherNode.ingest(accounts: workload.accounts(), transfers: transfers[5_000..<10_000])
            try otherNode.compact()
        }
        // Move the other directory's snapshot (same op, same cluster) into this one.
        let foreign = try SnapshotFile.list(dataPath: other)[0]
        try FileManager.default.createDirectory(atPath: SnapshotFile.directoryPath(path), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: foreign.path, toPath: SnapshotFile.directoryPath(path) + "/" + SnapshotFile.fileName(op: foreign.op))
        let node = try LocalNode(path: path, readOnly: true)
        XCTAssertEqual(node.snapshotOp, 0)
        XCTAssertTrue(node.snapshotProblems.first?.contains("another log") == true, "\(node.snapshotProblems)")
    }

    private func flipping(_ data: Data, at offset: Int) -> Data {
        var copy = data
        copy[offset] ^= 0x5A
        return copy
    }
}
