// Archived segments: same batches after archiving, replayable, crash leftovers resolved, damage named.
import Foundation
import LedgerCore
@testable import Storage
import TestSupport
import XCTest

final class ArchiveTests: XCTestCase {
    static let clusterId: UInt128 = 0xA4C
    static let segmentSizeBytes = Limits.segmentSizeBytesMin

    private func openLog(_ directory: TemporaryDirectory, readOnly: Bool = false) throws -> SegmentLog {
        try SegmentLog(directoryPath: directory.path + "/log", clusterId: ArchiveTests.clusterId,
                       segmentSizeBytes: ArchiveTests.segmentSizeBytes, readOnly: readOnly)
    }

    private func batchBytes(_ log: SegmentLog) throws -> [Data] {
        try log.loadArchives(from: 1, through: log.lastOp)
        return (1...log.lastOp).map { Data(log.batch(op: $0).bytes) }
    }

    func testArchivedLogHoldsTheSameBatchesAndKeepsGrowing() throws {
        let directory = TemporaryDirectory()
        let log = try openLog(directory)
        try log.appendTestBatches(count: 40)
        XCTAssertGreaterThan(log.segmentCount, 5)
        let before = try batchBytes(log)
        let reports = try log.archiveSealedSegments(throughOp: 25)
        XCTAssertFalse(reports.isEmpty)
        XCTAssertTrue(reports.allSatisfy { $0.lastOp <= 25 && $0.archiveSizeBytes < $0.dataSizeBytes }, "compressed, and only what is covered")
        XCTAssertEqual(log.archivePaths.count, reports.count)
        XCTAssertEqual(log.archivedThroughOp, reports.last!.lastOp)
        for report in reports { XCTAssertFalse(FileManager.default.fileExists(atPath: directory.path + "/log/" + SegmentLog.segmentFileName(log.archivePaths.firstIndex(of: report.path)! + 1))) }
        XCTAssertEqual(try batchBytes(log), before, "the same batches, read from the archives")
        try log.appendTestBatches(count: 3)
        log.releaseWriterLock()

        let reopened = try openLog(directory)
        XCTAssertEqual(reopened.lastOp, 43)
        XCTAssertEqual(reopened.archivePaths, log.archivePaths)
        XCTAssertEqual(Array(try batchBytes(reopened).prefix(40)), before)
        try reopened.appendTestBatches(count: 2)
        // Archiving everything sealed, twice, is fine; the last segment is never archived.
        try reopened.archiveSealedSegments(throughOp: .max)
        try reopened.archiveSealedSegments(throughOp: .max)
        XCTAssertEqual(reopened.segmentPaths.count, 1)
        let readOnly = try openLog(directory, readOnly: true)
        XCTAssertEqual(readOnly.lastOp, 45)
        XCTAssertEqual(Array(try batchBytes(readOnly).prefix(40)), before)
    }

    func testCrashLeftoversAreResolvedOnOpen() throws {
        let directory = TemporaryDirectory()
        let logPath = directory.path + "/log"
        var before: [Data] = []
        do {
            let log = try openLog(directory)
            try log.appendTestBatches(count: 30)
            before = try batchBytes(log)
            try log.archiveSealedSegments(throughOp: 10)
        }
        let archive = logPath + "/" + ArchiveFile.fileName(segmentIndex: 1)
        let segment = logPath + "/" + SegmentLog.segmentFileName(1)
        // A crash after the archive was published but before the segment was deleted: both exist.
        // (Recreate the segment from the archive's bytes, as it was.)
        let restored = try openLog(directory, readOnly: true)
        try restored.loadArchives(from: 1, through: 1)
        let segmentImage = NSMutableData(length: ArchiveTests.segmentSizeBytes)!
        let firstArchive = try ArchiveFile.readIndex(path: archive, clusterId: ArchiveTests.clusterId, segmentIndex: 1, segmentSizeBytes: ArchiveTests.segmentSizeBytes,
                                                     firstOp: 1, previousHeaderHash: Hash256.genesis(clusterId: ArchiveTests.clusterId), previousRecordTimestampNs: 0)
        let data = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(firstArchive.header.dataSizeBytes), alignment: 16)
        defer { data.deallocate() }
        try ArchiveFile.readData(path: archive, header: firstArchive.header, into: data)
        segmentImage.replaceBytes(in: NSRange(location: 0, length: data.count), withBytes: data.baseAddress!)
        try (segmentImage as Data).write(to: URL(fileURLWithPath: segment))
        // And a crash mid-write of another archive: its temporary file.
        try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: logPath + "/" + ArchiveFile.fileName(segmentIndex: 2) + ".tmp"))

        let reopened = try openLog(directory)
        XCTAssertFalse(FileManager.default.fileExists(atPath: segment), "the archiving is finished: the segment goes")
        XCTAssertFalse(FileManager.default.fileExists(atPath: logPath + "/" + ArchiveFile.fileName(segmentIndex: 2) + ".tmp"))
        XCTAssertEqual(try batchBytes(reopened), before)
    }

    func testDamageIsNamedWithFileOffsetAndOp() throws {
        let directory = TemporaryDirectory()
        let logPath = directory.path + "/log"
        do {
            let log = try openLog(directory)
            try log.appendTestBatches(count: 30)
            try log.archiveSealedSegments(throughOp: 20)
        }
        let archive = logPath + "/" + ArchiveFile.fileName(segmentIndex: 2)
        let original = try Data(contentsOf: URL(fileURLWithPath: archive))

        // A flipped byte in the compressed data: the open succeeds (headers are fine), the read names it.
        var damaged = original
        damaged[damaged.count - 100] ^= 0x20
        try damaged.write(to: URL(fileURLWithPath: archive))
        let log = try openLog(directory, readOnly: true)
        XCTAssertNoThrow(try log.loadArchives(from: 1, through: 1))
        XCTAssertThrowsError(try log.loadArchives(from: 1, through: log.lastOp)) { error in
            let failure = error as? ArchiveError
            XCTAssertEqual(failure?.path, archive)
            XCTAssertGreaterThan(failure?.offset ?? 0, ArchiveHeader.sizeBytes)
            XCTAssertTrue("\(error)".contains("checksum"), "\(error)")
        }

        // A flipped header byte or a truncated file: the log refuses to open, naming the archive.
        for variant in 0..<2 {
            var bad = original
            if variant == 0 { bad[40] ^= 1 } else { bad = bad.prefix(bad.count - 1) }
            try bad.write(to: URL(fileURLWithPath: archive))
            XCTAssertThrowsError(try openLog(directory, readOnly: true)) { error in
                XCTAssertTrue("\(error)".contains(archive), "\(error)")
            }
        }

        // A whole archived segment removed: a gap, refused, naming the missing segment.
        try FileManager.default.removeItem(atPath: archive)
        XCTAssertThrowsError(try openLog(directory, readOnly: true)) { error in
            XCTAssertTrue("\(error)".contains("segment 2 is missing"), "\(error)")
        }

        // Two archives swapped (a reordering): each names the other's segment index.
        try original.write(to: URL(fileURLWithPath: archive))
        let first = logPath + "/" + ArchiveFile.fileName(segmentIndex: 1)
        try FileManager.default.moveItem(atPath: first, toPath: first + ".x")
        try FileManager.default.moveItem(atPath: archive, toPath: first)
        try FileManager.default.moveItem(atPath: first + ".x", toPath: archive)
        XCTAssertThrowsError(try openLog(directory, readOnly: true)) { error in
            XCTAssertTrue("\(error)".contains("holds segment 2, its name says 1"), "\(error)")
        }
    }
}
