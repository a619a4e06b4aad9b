// A log whose start moved forward: pruned archives, a reset to a snapshot, crashes in between, a damaged base.
import Foundation
import LedgerCore
@testable import Storage
import TestSupport
import XCTest

final class LogBaseTests: XCTestCase {
    static let clusterId: UInt128 = 0xBA5E
    static let segmentSizeBytes = Limits.segmentSizeBytesMin

    private func openLog(_ directory: TemporaryDirectory, readOnly: Bool = false) throws -> SegmentLog {
        try SegmentLog(directoryPath: directory.path + "/log", clusterId: LogBaseTests.clusterId,
                       segmentSizeBytes: LogBaseTests.segmentSizeBytes, readOnly: readOnly)
    }

    private func batchBytes(_ log: SegmentLog) throws -> [UInt64: Data] {
        guard log.lastOp >= log.firstOp else { return [:] }
        try log.loadArchives(from: log.firstOp, through: log.lastOp)
        return Dictionary(uniqueKeysWithValues: (log.firstOp...log.lastOp).map { ($0, Data(log.batch(op: $0).bytes)) })
    }

    private func logFiles(_ directory: TemporaryDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path + "/log").filter { $0.hasSuffix(".wlog") || $0.hasSuffix(".wlza") }.sorted()
    }

    func testPruningDropsWholeArchivesAndTheLogContinuesAfterThem() throws {
        let directory = TemporaryDirectory()
        let log = try openLog(directory)
        try log.appendTestBatches(count: 40)
        let before = try batchBytes(log)
        try log.archiveSealedSegments(throughOp: 30)
        let archives = log.archivePaths.count
        XCTAssertGreaterThan(archives, 3)
        let secondArchiveLastOp = try XCTUnwrap(log.archiveRange(containing: log.archiveRange(containing: 1)!.upperBound + 1)).upperBound
        // Through an op inside the third archive: only the first two (wholly covered) go.
        let deleted = try log.pruneArchives(throughOp: secondArchiveLastOp + 1)
        XCTAssertEqual(deleted.count, 2)
        XCTAssertEqual(log.baseOp, secondArchiveLastOp)
        XCTAssertEqual(log.firstOp, secondArchiveLastOp + 1)
        XCTAssertEqual(log.archivePaths.count, archives - 2)
        XCTAssertFalse(try logFiles(directory).contains(ArchiveFile.fileName(segmentIndex: 1)))
        XCTAssertEqual(log.headerHash(op: log.baseOp), Data(before[log.baseOp]!).withUnsafeBytes { $0.loadUnaligned(as: BatchHeader.self).hash() })
        XCTAssertEqual(log.term(op: log.baseOp), 1)
        // The rest reads back the same, appends go on, and the next segment is numbered on.
        XCTAssertEqual(try batchBytes(log), before.filter { $0.key > log.baseOp })
        try log.appendTestBatches(count: 12)
        log.releaseWriterLock()

        let reopened = try openLog(directory)
        XCTAssertEqual(reopened.baseOp, secondArchiveLastOp)
        XCTAssertEqual(reopened.lastOp, 52)
        XCTAssertEqual(try batchBytes(reopened).filter { $0.key <= 40 }, before.filter { $0.key > reopened.baseOp })
        // Pruning again and archiving what is sealed since works on the moved log too.
        try reopened.archiveSealedSegments(throughOp: .max)
        try reopened.pruneArchives(throughOp: 45)
        XCTAssertGreaterThan(reopened.baseOp, secondArchiveLastOp)
        let readOnly = try openLog(directory, readOnly: true)
        XCTAssertEqual(readOnly.baseOp, reopened.baseOp)
        XCTAssertEqual(readOnly.lastOp, 52)
        XCTAssertEqual(try batchBytes(readOnly), try batchBytes(reopened))
    }

    func testACrashBetweenTheBaseAndTheDeletionsIsFinishedOnOpen() throws {
        let directory = TemporaryDirectory()
        let logPath = directory.path + "/log"
        var kept: [UInt64: Data] = [:]
        var savedArchive = Data()
        do {
            let log = try openLog(directory)
            try log.appendTestBatches(count: 30)
            try log.archiveSealedSegments(throughOp: 30)
            savedArchive = try Data(contentsOf: URL(fileURLWithPath: logPath + "/" + ArchiveFile.fileName(segmentIndex: 1)))
            try log.pruneArchives(throughOp: log.archiveRange(containing: 1)!.upperBound)
            kept = try batchBytes(log)
        }
        // As if the process died after the base was durable, before the archive was deleted.
        try savedArchive.write(to: URL(fileURLWithPath: logPath + "/" + ArchiveFile.fileName(segmentIndex: 1)))
        let readOnly = try openLog(directory, readOnly: true)
        XCTAssertEqual(try batchBytes(readOnly), kept, "a reader ignores a file before the base")
        let reopened = try openLog(directory)
        XCTAssertEqual(try batchBytes(reopened), kept)
        XCTAssertFalse(FileManager.default.fileExists(atPath: logPath + "/" + ArchiveFile.fileName(segmentIndex: 1)), "a writer deletes it")
    }

    func testResetReplacesTheWholeLogAndAppendsContinueAfterTheBase() throws {
        let directory = TemporaryDirectory()
        let log = try openLog(directory)
        try log.appendTestBatches(count: 20)
        try log.archiveSealedSegments(throughOp: 10)
        let filesBefore = try logFiles(directory).count
        // A leader's snapshot at op 500 in term 3, of another history: nothing of this log is kept.
        let leaderHash = Hash256(word0: 7, word1: 7, word2: 7, word3: 7)
        try log.reset(baseOp: 500, baseTerm: 3, baseHeaderHash: leaderHash, baseRecordTimestampNs: 9_000_000)
        XCTAssertEqual(try logFiles(directory), [])
        XCTAssertEqual(log.lastOp, 500)
        XCTAssertEqual(log.lastHeaderHash, leaderHash)
        XCTAssertEqual(log.term(op: 500), 3)
        XCTAssertEqual(log.durableOp, 500)
        try log.appendTestBatches(count: 6, term: { _ in 3 })
        XCTAssertEqual(log.lastOp, 506)
        XCTAssertEqual(try logFiles(directory).first, SegmentLog.segmentFileName(filesBefore + 1), "file numbers are never reused")
        let appended = try batchBytes(log)
        // A truncation back to the base is allowed (a follower's unacknowledged suffix).
        try log.truncate(after: 503)
        XCTAssertEqual(log.lastOp, 503)
        log.releaseWriterLock()

        let reopened = try openLog(directory)
        XCTAssertEqual(reopened.baseOp, 500)
        XCTAssertEqual(try batchBytes(reopened), appended.filter { $0.key <= 503 })
        try reopened.truncate(after: 500)
        XCTAssertEqual(reopened.lastOp, 500)
        XCTAssertEqual(reopened.lastHeaderHash, leaderHash)
        try reopened.appendTestBatches(count: 1, term: { _ in 4 })
        XCTAssertEqual(reopened.header(op: 501).previousHeaderHash, leaderHash)
    }

    func testADamagedOrForeignBaseRefusesTheOpen() throws {
        let directory = TemporaryDirectory()
        do {
            let log = try openLog(directory)
            try log.appendTestBatches(count: 3)
            try log.reset(baseOp: 10, baseTerm: 1, baseHeaderHash: Hash256(word0: 1, word1: 1, word2: 1, word3: 1), baseRecordTimestampNs: 5)
        }
        let path = directory.path + "/log/" + LogBase.fileName
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[40] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try openLog(directory, readOnly: true)) { error in
            XCTAssertTrue("\(error)".contains("log base record: checksum mismatch"), "\(error)")
        }
        bytes[40] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try openLog(directory, readOnly: true).lastOp, 10)
        XCTAssertThrowsError(try SegmentLog(directoryPath: directory.path + "/log", clusterId: 0xFFFF, segmentSizeBytes: LogBaseTests.segmentSizeBytes,
                                            readOnly: true)) { error in
            XCTAssertTrue("\(error)".contains("belongs to cluster"), "\(error)")
        }
    }
}
