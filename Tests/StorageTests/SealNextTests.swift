// Sealing the next batch of a log, the one place every write path seals.
import Foundation
import LedgerCore
@testable import Storage
import TestSupport
import XCTest

final class SealNextTests: XCTestCase {
    private func openLog(_ directory: TemporaryDirectory) throws -> SegmentLog {
        try SegmentLog(directoryPath: directory.path + "/log", clusterId: 7, segmentSizeBytes: Limits.segmentSizeBytesMin, readOnly: false)
    }

    private func buffer(records: Int, firstId: UInt128) -> BatchBuffer {
        let buffer = BatchBuffer(recordKind: .transfers)
        for index in 0..<records {
            buffer.append(Transfer(id: firstId + UInt128(index), debitAccountId: 1, creditAccountId: 2, amount: 5, ledger: 1))
        }
        return buffer
    }

    func testBatchesChainAndTheirTimestampsIncreaseWhateverTheClockSays() throws {
        let directory = TemporaryDirectory()
        let log = try openLog(directory)
        // A sealed view points into its buffer: the buffers live as long as the views.
        let firstBuffer = buffer(records: 3, firstId: 1)
        let first = try log.sealNext(firstBuffer, clusterId: 7, term: 1, nowNs: 1_000, durableOp: 0)
        XCTAssertEqual(first.header.op, 1)
        XCTAssertEqual(first.header.timestampNs, 1_000)
        try log.append(first)
        // The clock stepped back: the next batch is stamped just after the last record (1,002).
        let secondBuffer = buffer(records: 2, firstId: 10)
        let second = try log.sealNext(secondBuffer, clusterId: 7, term: 1, nowNs: 5, durableOp: log.durableOp, op: 2)
        XCTAssertEqual(second.header.timestampNs, 1_003)
        XCTAssertEqual(second.header.previousHeaderHash, log.lastHeaderHash)
        try log.append(second)
        XCTAssertEqual(log.lastRecordTimestampNs, 1_004)
        withExtendedLifetime((firstBuffer, secondBuffer)) {}
    }

    /// A log stamped at the end of time (only a crafted file can be) is an error, not a trap.
    func testALogWhoseTimestampsAreExhaustedRefusesTheNextBatch() throws {
        let directory = TemporaryDirectory()
        let log = try openLog(directory)
        let lateBuffer = buffer(records: 1, firstId: 1)
        let late = lateBuffer.seal(clusterId: 7, term: 1, op: 1, timestampNs: UInt64.max - 10, previousHeaderHash: log.lastHeaderHash,
                                                      rulesVersion: Ledger.rulesVersion, durableOp: 0)
        try log.append(late)
        let next = buffer(records: 1, firstId: 5)
        XCTAssertThrowsError(try log.sealNext(next, clusterId: 7, term: 1, nowNs: 1, durableOp: 0)) { error in
            XCTAssertTrue(error is LogTimestampsExhausted, "\(error)")
        }
        withExtendedLifetime((lateBuffer, next)) {}
    }
}
