// Truncation (a Raft follower dropping a conflicting suffix): nothing of the suffix survives a reopen.
import Foundation
import LedgerCore
@testable import Storage
import TestSupport
import XCTest

final class SegmentLogTruncateTests: XCTestCase {
    static let clusterId: UInt128 = 0xABC

    private func openLog(_ directory: TemporaryDirectory, readOnly: Bool = false) throws -> SegmentLog {
        try SegmentLog(directoryPath: directory.path + "/log", clusterId: Self.clusterId, segmentSizeBytes: Limits.segmentSizeBytesMin, readOnly: readOnly)
    }

    /// Appends batches of `records` transfers in `term`, with ids that differ by term.
    private func append(_ log: SegmentLog, count: Int, records: Int, term: UInt64) throws {
        let buffer = BatchBuffer(recordKind: .transfers)
        for _ in 0..<count {
            buffer.reset(recordKind: .transfers)
            for index in 0..<records {
                let id = UInt128(term) << 96 | UInt128(log.lastOp + 1) << 32 | UInt128(index + 1)
                buffer.append(Transfer(id: id, debitAccountId: 1, creditAccountId: 2, amount: 5, ledger: 1))
            }
            try log.append(buffer.seal(clusterId: Self.clusterId, term: term, op: log.lastOp + 1, timestampNs: log.lastRecordTimestampNs + 1,
                                       previousHeaderHash: log.lastHeaderHash, durableOp: log.durableOp))
        }
        try log.sync()
    }

    func testTruncateWithinASegmentThenAppendAnotherTerm() throws {
        let directory = TemporaryDirectory()
        let log = try openLog(directory)
        try append(log, count: 6, records: 4, term: 1)
        let hashAtThree = log.batch(op: 3).header.hash()
        try log.truncate(after: 3)
        XCTAssertEqual(log.lastOp, 3)
        XCTAssertEqual(log.lastHeaderHash, hashAtThree)
        try append(log, count: 2, records: 2, term: 2)
        let reopened = try openLog(directory, readOnly: true)
        XCTAssertNil(reopened.tailTruncation, "the dropped suffix was zeroed: no torn tail to cut")
        XCTAssertEqual(reopened.lastOp, 5)
        XCTAssertEqual(reopened.batch(op: 4).header.term, 2)
        XCTAssertEqual(reopened.batch(op: 5).recordCount, 2)
    }

    func testTruncateAcrossSegmentsDeletesLaterSegments() throws {
        let directory = TemporaryDirectory()
        let log = try openLog(directory)
        // Largest batches: one per segment of the minimum size.
        try append(log, count: 5, records: Limits.batchRecordsMax, term: 1)
        XCTAssertEqual(log.segmentCount, 5)
        try log.truncate(after: 2)
        // Op 3 opened segment 3: it stays, emptied, and op 3 goes there again; 4 and 5 are gone.
        XCTAssertEqual(log.segmentCount, 3)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/log").filter { $0.hasSuffix(".wlog") }.count, 3)
        try append(log, count: 1, records: 10, term: 3)
        let reopened = try openLog(directory, readOnly: true)
        XCTAssertEqual(reopened.lastOp, 3)
        XCTAssertEqual(reopened.batch(op: 3).header.term, 3)
    }

    func testTruncateEverything() throws {
        let directory = TemporaryDirectory()
        let log = try openLog(directory)
        try append(log, count: 3, records: 1, term: 1)
        try log.truncate(after: 0)
        XCTAssertEqual(log.lastOp, 0)
        XCTAssertEqual(log.lastHeaderHash, Hash256.genesis(clusterId: Self.clusterId))
        try append(log, count: 1, records: 1, term: 2)
        let reopened = try openLog(directory, readOnly: true)
        XCTAssertEqual(reopened.lastOp, 1)
        XCTAssertEqual(reopened.batch(op: 1).header.term, 2)
    }
}
