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

    func testADamagedSegmentIsCutAtTheDamageAndTheRestSetAside() throws {
        let directory = TemporaryDirectory()
        var firstOpOfSecond: UInt64 = 0
        do {
            let log = try openLog(directory)
            try log.appendTestBatches(count: 30, term: { $0 < 20 ? 1 : 2 })
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
            try log.appendTestBatches(count: 30, term: { $0 < 20 ? 1 : 2 })
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
