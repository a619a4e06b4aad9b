// The segment log: append, reopen, rotate, torn tails cut at every offset, corruption refused.
import Foundation
import LedgerCore
@testable import Storage
import TestSupport
import XCTest

final class SegmentLogTests: XCTestCase {
    static let clusterId: UInt128 = 0xABC
    /// The smallest segment: a header and one largest batch.
    static let segmentSizeBytes = Limits.segmentSizeBytesMin

    private func openLog(_ directory: TemporaryDirectory, readOnly: Bool = false) throws -> SegmentLog {
        try SegmentLog(directoryPath: directory.path + "/log", clusterId: SegmentLogTests.clusterId,
                       segmentSizeBytes: SegmentLogTests.segmentSizeBytes, readOnly: readOnly)
    }

    /// Appends `count` batches of `records` transfers each, then syncs.
    private func appendBatches(_ log: SegmentLog, count: Int, records: Int = 3) throws {
        let buffer = BatchBuffer(recordKind: .transfers)
        for _ in 0..<count {
            buffer.reset(recordKind: .transfers)
            for index in 0..<records {
                let id = UInt128(log.lastOp + 1) << 32 | UInt128(index + 1)
                buffer.append(Transfer(id: id, debitAccountId: 1, creditAccountId: 2, amount: 5, ledger: 1))
            }
            let sealed = buffer.seal(clusterId: log.clusterId, term: 1, op: log.lastOp + 1,
                                     timestampNs: log.lastRecordTimestampNs + 1, previousHeaderHash: log.lastHeaderHash,
                                     durableOp: log.durableOp)
            try log.append(sealed)
        }
        try log.sync()
    }

    private func segmentPath(_ directory: TemporaryDirectory, _ index: Int = 1) -> String {
        directory.path + "/log/" + SegmentLog.segmentFileName(index)
    }

    private func patch(_ path: String, offset: Int, _ change: (inout UInt8) -> Void) throws {
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        var byte = try XCTUnwrap(handle.readData(ofLength: 1).first)
        change(&byte)
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data([byte]))
    }

    private func zero(_ path: String, from offset: Int, count: Int) throws {
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(count: count))
    }

    func testAppendReopenIterate() throws {
        let directory = TemporaryDirectory()
        var hashes: [Hash256] = []
        do {
            let log = try openLog(directory)
            try appendBatches(log, count: 5)
            log.forEachBatch { hashes.append($0.header.hash()) }
            XCTAssertEqual(log.lastOp, 5)
        }
        let reopened = try openLog(directory)
        XCTAssertNil(reopened.tailTruncation)
        XCTAssertEqual(reopened.lastOp, 5)
        var reread: [Hash256] = []
        var ops: [UInt64] = []
        reopened.forEachBatch {
            reread.append($0.header.hash())
            ops.append($0.header.op)
        }
        XCTAssertEqual(reread, hashes)
        XCTAssertEqual(ops, [1, 2, 3, 4, 5])
        XCTAssertEqual(reopened.lastHeaderHash, hashes.last)
        XCTAssertEqual(reopened.batch(op: 3).transfers[2].id, UInt128(3) << 32 | 3)
        try appendBatches(reopened, count: 2)
        XCTAssertEqual(reopened.lastOp, 7)
    }

    func testRotatesSegmentsAndNeverSplitsABatch() throws {
        let directory = TemporaryDirectory()
        do {
            let log = try openLog(directory)
            // Each batch is about half a segment's data area: two never fit together.
            try appendBatches(log, count: 5, records: 4_500)
            XCTAssertEqual(log.segmentCount, 5)
        }
        let reopened = try openLog(directory)
        XCTAssertEqual(reopened.lastOp, 5)
        XCTAssertEqual(reopened.segmentCount, 5)
        for op in UInt64(1)...5 { XCTAssertEqual(reopened.batch(op: op).recordCount, 4_500) }
    }

    func testOneWriterAtATime() throws {
        let directory = TemporaryDirectory()
        let writer = try openLog(directory)
        try appendBatches(writer, count: 2)
        // A second writer (another `wallet ingest` or `compact` next to a running replica) is refused...
        XCTAssertThrowsError(try openLog(directory)) { error in
            XCTAssertEqual((error as? LogInUse)?.path, directory.path + "/log")
            // ...and told who holds it: the process that took the lock wrote its pid and command.
            XCTAssertTrue("\(error)".contains("open for writing by process \(getpid()): "), "\(error)")
        }
        // ...readers are not...
        XCTAssertEqual(try openLog(directory, readOnly: true).lastOp, 2)
        // ...and once the first is done, the next writer gets the log.
        writer.releaseWriterLock()
        let next = try openLog(directory)
        try appendBatches(next, count: 1)
        XCTAssertEqual(next.lastOp, 3)
    }

    func testEmptyLog() throws {
        let directory = TemporaryDirectory()
        XCTAssertEqual(try openLog(directory).lastOp, 0)
        XCTAssertEqual(try openLog(directory).lastOp, 0)
    }

    /// The last batch torn at every byte offset: recovery keeps the whole batches before it, cuts
    /// the rest, and the log takes new appends.
    func testTornLastBatchAtEveryOffset() throws {
        let directory = TemporaryDirectory()
        let firstBatchEnd: Int
        let lastBatchSize: Int
        let original: Data
        do {
            let log = try openLog(directory)
            try appendBatches(log, count: 2, records: 3)
            firstBatchEnd = Limits.segmentHeaderSizeBytes + log.batch(op: 1).bytes.count
            lastBatchSize = log.batch(op: 2).bytes.count
        }
        original = try Data(contentsOf: URL(fileURLWithPath: segmentPath(directory)))
        for cut in 0..<lastBatchSize {
            // The write reached `cut` bytes into the last batch; the rest never landed (zeros).
            var torn = original
            torn.replaceSubrange((firstBatchEnd + cut)..<(firstBatchEnd + lastBatchSize), with: Data(count: lastBatchSize - cut))
            try torn.write(to: URL(fileURLWithPath: segmentPath(directory)))
            let log = try openLog(directory)
            // Bytes past `cut` that were zero anyway make no tear: the batch is whole.
            let lost = original[(firstBatchEnd + cut)..<(firstBatchEnd + lastBatchSize)].contains { $0 != 0 }
            if !lost {
                XCTAssertEqual(log.lastOp, 2, "cut at \(cut)")
                XCTAssertNil(log.tailTruncation)
                continue
            }
            XCTAssertEqual(log.lastOp, 1, "cut at \(cut)")
            if cut > 0 {
                let truncation = try XCTUnwrap(log.tailTruncation, "cut at \(cut)")
                XCTAssertEqual(truncation.op, 2)
                XCTAssertEqual(truncation.offset, firstBatchEnd)
            }
            if cut == lastBatchSize - 1 || cut == 1 {
                try appendBatches(log, count: 1)
                XCTAssertEqual(try openLog(directory, readOnly: true).lastOp, 2)
            }
        }
    }

    func testTornWriteWithGarbageAfterTheLastBatch() throws {
        let directory = TemporaryDirectory()
        let end: Int
        do {
            let log = try openLog(directory)
            try appendBatches(log, count: 3)
            end = Limits.segmentHeaderSizeBytes + 3 * log.batch(op: 1).bytes.count
        }
        // A page of a later write landed without its header.
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: segmentPath(directory)))
        try handle.seek(toOffset: UInt64(end + 4096))
        try handle.write(contentsOf: Data(repeating: 0x5A, count: 4096))
        try handle.close()
        let log = try openLog(directory)
        XCTAssertEqual(log.lastOp, 3)
        XCTAssertNotNil(log.tailTruncation)
        try appendBatches(log, count: 40)
        let again = try openLog(directory, readOnly: true)
        XCTAssertEqual(again.lastOp, 43)
        XCTAssertNil(again.tailTruncation)
    }

    /// A flipped byte anywhere in a batch that has whole batches after it beyond the torn-write
    /// window is refused with the segment, offset and op; inside the window it is cut and reported.
    func testFlippedByteBeforeTheTailIsCorruption() throws {
        let directory = TemporaryDirectory()
        let batchSize: Int
        do {
            let log = try openLog(directory)
            try appendBatches(log, count: 2, records: 4)
            batchSize = log.batch(op: 1).bytes.count
            // Then a later segment, so op 1 and 2 are not the tail.
            try appendBatches(log, count: 2, records: 8_000)
            XCTAssertGreaterThanOrEqual(log.segmentCount, 2)
        }
        let original = try Data(contentsOf: URL(fileURLWithPath: segmentPath(directory)))
        for offset in Limits.segmentHeaderSizeBytes..<(Limits.segmentHeaderSizeBytes + batchSize) {
            try patch(segmentPath(directory), offset: offset) { $0 ^= 0x04 }
            XCTAssertThrowsError(try openLog(directory), "flip at \(offset)") { error in
                guard let corruption = error as? LogCorruption else { return XCTFail("\(error)") }
                XCTAssertEqual(corruption.op, 1)
                XCTAssertEqual(corruption.offset, Limits.segmentHeaderSizeBytes)
                XCTAssertEqual(corruption.segmentPath, segmentPath(directory))
            }
            try original.write(to: URL(fileURLWithPath: segmentPath(directory)))
        }
        XCTAssertEqual(try openLog(directory).lastOp, 4)
    }

    func testFlippedByteInTheLastBatchIsReportedAndCut() throws {
        let directory = TemporaryDirectory()
        let secondOffset: Int
        do {
            let log = try openLog(directory)
            try appendBatches(log, count: 2)
            secondOffset = Limits.segmentHeaderSizeBytes + log.batch(op: 1).bytes.count
        }
        try patch(segmentPath(directory), offset: secondOffset + 200) { $0 ^= 0x01 }
        let log = try openLog(directory, readOnly: true)
        XCTAssertEqual(log.lastOp, 1)
        let truncation = try XCTUnwrap(log.tailTruncation)
        XCTAssertEqual(truncation.op, 2)
        XCTAssertTrue(truncation.reason.contains("body checksum"), truncation.reason)
    }

    /// Damage to a batch that a later batch records as durable is corruption even inside the
    /// torn-write window: it was acknowledged, so it cannot be a torn write.
    func testDamageToAnAcknowledgedBatchInTheLastSegmentIsCorruption() throws {
        let directory = TemporaryDirectory()
        do {
            let log = try openLog(directory)
            try appendBatches(log, count: 2)
            try appendBatches(log, count: 1)  // formed after ops 1 and 2 were synced
            XCTAssertEqual(log.batch(op: 3).header.durableOp, 2)
        }
        try patch(segmentPath(directory), offset: Limits.segmentHeaderSizeBytes + 128 + 9) { $0 ^= 0x20 }
        XCTAssertThrowsError(try openLog(directory)) { error in
            guard let corruption = error as? LogCorruption else { return XCTFail("\(error)") }
            XCTAssertEqual(corruption.op, 1)
            XCTAssertTrue(corruption.reason.contains("records op 2 as durable"), corruption.reason)
        }
    }

    func testRemovedBatchBreaksTheChain() throws {
        let directory = TemporaryDirectory()
        let batchSize: Int
        do {
            let log = try openLog(directory)
            try appendBatches(log, count: 4)
            batchSize = log.batch(op: 1).bytes.count
        }
        // Remove op 2 by shifting ops 3 and 4 down over it.
        var data = try Data(contentsOf: URL(fileURLWithPath: segmentPath(directory)))
        let start = Limits.segmentHeaderSizeBytes + batchSize
        let rest = data.subdata(in: (start + batchSize)..<(start + 3 * batchSize))
        data.replaceSubrange(start..<(start + 3 * batchSize), with: rest + Data(count: batchSize))
        try data.write(to: URL(fileURLWithPath: segmentPath(directory)))
        // Op 3 now sits where op 2 belongs: inside the torn window it is cut, never applied as op 2.
        let log = try openLog(directory, readOnly: true)
        XCTAssertEqual(log.lastOp, 1)
        XCTAssertTrue(try XCTUnwrap(log.tailTruncation).reason.contains("op 3 where op 2"))
    }

    func testSegmentOfAnotherClusterIsRefused() throws {
        let directory = TemporaryDirectory()
        try appendBatches(try openLog(directory), count: 1)
        XCTAssertThrowsError(try SegmentLog(directoryPath: directory.path + "/log", clusterId: 999, segmentSizeBytes: SegmentLogTests.segmentSizeBytes)) { error in
            XCTAssertTrue("\(error)".contains("cluster"), "\(error)")
        }
    }

    func testDamagedSegmentHeaderBeforeTheLastIsCorruption() throws {
        let directory = TemporaryDirectory()
        try appendBatches(try openLog(directory), count: 3, records: 6_000)
        try patch(segmentPath(directory, 2), offset: 40) { $0 ^= 1 }
        XCTAssertThrowsError(try openLog(directory)) { error in
            XCTAssertEqual((error as? LogCorruption)?.segmentPath, segmentPath(directory, 2))
        }
    }

    func testIncompleteNewSegmentIsRemoved() throws {
        let directory = TemporaryDirectory()
        try appendBatches(try openLog(directory), count: 2)
        // A crash right after creating segment 2, before its header was synced.
        _ = FileManager.default.createFile(atPath: segmentPath(directory, 2), contents: Data(count: SegmentLogTests.segmentSizeBytes))
        let log = try openLog(directory)
        XCTAssertEqual(log.lastOp, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: segmentPath(directory, 2)))
        try appendBatches(log, count: 1)
        XCTAssertEqual(try openLog(directory, readOnly: true).lastOp, 3)
    }

    func testMissingSegmentFileIsCorruption() throws {
        let directory = TemporaryDirectory()
        try appendBatches(try openLog(directory), count: 3, records: 6_000)
        try FileManager.default.removeItem(atPath: segmentPath(directory, 2))
        XCTAssertThrowsError(try openLog(directory)) { error in
            XCTAssertTrue(error is LogCorruption, "\(error)")
        }
    }
}
