// Setting aside a damaged suffix: what is moved, what stays, and how far the log had reached.
import Foundation
import LedgerCore
@testable import Storage
import TestSupport
import XCTest

final class SegmentLogRepairTests: XCTestCase {
    static let clusterId: UInt128 = 0xDA
    static let segmentSizeBytes = Limits.segmentSizeBytesMin

    private func openLog(_ directory: TemporaryDirectory) throws -> SegmentLog {
        try SegmentLog(directoryPath: directory.path + "/log", clusterId: SegmentLogRepairTests.clusterId, segmentSizeBytes: SegmentLogRepairTests.segmentSizeBytes)
    }

    /// 30 batches of 2000 transfers, the last ten in term 2.
    private func fill(_ log: SegmentLog) throws {
        let buffer = BatchBuffer(recordKind: .transfers)
        for position in 0..<30 {
            buffer.reset(recordKind: .transfers)
            for index in 0..<2000 {
                buffer.append(Transfer(id: UInt128(log.lastOp + 1) << 32 | UInt128(index + 1), debitAccountId: 2, creditAccountId: 9, amount: 1, ledger: 1))
            }
            try log.append(buffer.seal(clusterId: log.clusterId, term: position < 20 ? 1 : 2, op: log.lastOp + 1, timestampNs: log.lastRecordTimestampNs + 1,
                                       previousHeaderHash: log.lastHeaderHash, durableOp: log.durableOp))
            try log.sync()
        }
    }

    func testADamagedSegmentIsCutAtTheDamageAndTheRestSetAside() throws {
        let directory = TemporaryDirectory()
        var firstOpOfSecond: UInt64 = 0
        do {
            let log = try openLog(directory)
            try fill(log)
            firstOpOfSecond = try XCTUnwrap((1...log.lastOp).first { log.locations[Int($0 - 1)].segment == 1 })
        }
        // Flip a byte in the body of the second batch of segment 2.
        let segment = directory.path + "/log/" + SegmentLog.segmentFileName(2)
        let file = try MappedFile(path: segment, writable: true)
        let firstSize = file.bytes.load(fromByteOffset: 4096, as: BatchHeader.self).batchSizeBytes
        let damagedOffset = 4096 + firstSize
        file.base.storeBytes(of: file.base.load(fromByteOffset: damagedOffset + 1000, as: UInt8.self) ^ 1, toByteOffset: damagedOffset + 1000, as: UInt8.self)
        try file.syncAll()
        var damage: Error?
        XCTAssertThrowsError(try openLog(directory)) { damage = $0 }
        var floorSeen: (UInt64, (op: UInt64, term: UInt64)?)?
        let aside = try SegmentLog.setAsideDamage(directoryPath: directory.path + "/log", clusterId: SegmentLogRepairTests.clusterId,
                                                  damage: try XCTUnwrap(damage), nowNs: 42) { floorSeen = ($0, $1) }
        XCTAssertEqual(aside.firstDiscardedOp, firstOpOfSecond + 1)
        XCTAssertEqual(floorSeen?.0, firstOpOfSecond + 1)
        XCTAssertEqual(floorSeen?.1?.op, 30, "the highest readable header")
        XCTAssertEqual(floorSeen?.1?.term, 2)
        XCTAssertEqual(aside.files.first, SegmentLog.segmentFileName(2))
        let quarantined = try FileManager.default.contentsOfDirectory(atPath: aside.quarantinePath)
        XCTAssertEqual(Set(quarantined), Set(aside.files))
        // The log opens again, ending just before the damage; appends continue from there.
        let reopened = try openLog(directory)
        XCTAssertEqual(reopened.lastOp, firstOpOfSecond)
        XCTAssertNil(reopened.tailTruncation)
    }

    func testADamagedArchiveHeaderSetsAsideTheArchiveAndEverythingAfter() throws {
        let directory = TemporaryDirectory()
        var secondArchiveFirstOp: UInt64 = 0
        do {
            let log = try openLog(directory)
            try fill(log)
            try log.archiveSealedSegments(throughOp: 25)
            secondArchiveFirstOp = try XCTUnwrap(log.archiveRange(containing: 1)).upperBound + 1
        }
        let archive = directory.path + "/log/" + ArchiveFile.fileName(segmentIndex: 2)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        bytes[40] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: archive))
        var damage: Error?
        XCTAssertThrowsError(try openLog(directory)) { damage = $0 }
        XCTAssertTrue(damage is ArchiveError, "\(String(describing: damage))")
        let aside = try SegmentLog.setAsideDamage(directoryPath: directory.path + "/log", clusterId: SegmentLogRepairTests.clusterId,
                                                  damage: try XCTUnwrap(damage), nowNs: 43) { _, reached in
            XCTAssertEqual(reached?.op, 30)
            XCTAssertEqual(reached?.term, 2)
        }
        XCTAssertEqual(aside.files.first, ArchiveFile.fileName(segmentIndex: 2))
        let reopened = try openLog(directory)
        XCTAssertEqual(reopened.lastOp, secondArchiveFirstOp - 1, "only the first archive is left")
        XCTAssertEqual(reopened.archivePaths.count, 1)
        XCTAssertEqual(reopened.segmentPaths, [])
    }
}
