// Superblock, state checkpoint and lz4: round trips and damage detection.
import Foundation
import LedgerCore
@testable import Storage
import TestSupport
import XCTest

final class FilesTests: XCTestCase {
    func testFormatAndOpen() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/data"
        let formatted = try DataDirectory.format(path: path, clusterId: 77, replicaIndex: 1, replicaCount: 3, segmentSizeBytes: 8 << 20)
        let opened = try DataDirectory.open(path: path)
        XCTAssertEqual(opened.superblock, formatted.superblock)
        XCTAssertEqual(opened.superblock.clusterId, 77)
        XCTAssertEqual(opened.superblock.replicaIndex, 1)
        XCTAssertEqual(opened.superblock.replicaCount, 3)
        XCTAssertEqual(MemoryLayout<Superblock>.size, 128)
        XCTAssertEqual(MemoryLayout<SegmentHeader>.size, 128)
        XCTAssertEqual(MemoryLayout<StateCheckpoint>.size, 128)
        XCTAssertThrowsError(try DataDirectory.format(path: path, clusterId: 77)) { error in
            XCTAssertTrue("\(error)".contains("refusing to format"))
        }
    }

    func testBadFormatArguments() {
        let directory = TemporaryDirectory()
        XCTAssertThrowsError(try DataDirectory.format(path: directory.path + "/a", clusterId: 1, segmentSizeBytes: 4096))
        XCTAssertThrowsError(try DataDirectory.format(path: directory.path + "/b", clusterId: 1, replicaIndex: 3, replicaCount: 3))
    }

    func testDamagedSuperblockIsRefused() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/data"
        _ = try DataDirectory.format(path: path, clusterId: 5)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path + "/superblock"))
        bytes[20] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path + "/superblock"))
        XCTAssertThrowsError(try DataDirectory.open(path: path)) { error in
            XCTAssertTrue("\(error)".contains("damaged"))
        }
        XCTAssertThrowsError(try DataDirectory.open(path: directory.path + "/nothing")) { error in
            XCTAssertTrue("\(error)".contains("not a data directory"))
        }
    }

    func testStateCheckpointRoundTripAndDamage() throws {
        let directory = TemporaryDirectory()
        XCTAssertNil(try StateCheckpoint.read(directory: directory.path))
        let checkpoint = StateCheckpoint(op: 9, accountsCount: 3, transfersCount: 4, digest: Hash256(word0: 1, word1: 2, word2: 3, word3: 4))
        try checkpoint.write(directory: directory.path)
        XCTAssertEqual(try StateCheckpoint.read(directory: directory.path), checkpoint)
        let path = directory.path + "/" + StateCheckpoint.fileName
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[40] ^= 1
        try bytes.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try StateCheckpoint.read(directory: directory.path))
    }

    func testLZ4RoundTrip() throws {
        let buffer = BatchBuffer(recordKind: .transfers)
        for index in 0..<1_000 { buffer.append(Transfer(id: UInt128(index + 1), debitAccountId: UInt128(index % 17 + 1), creditAccountId: 99, amount: 250, ledger: 840)) }
        let batch = buffer.seal(op: 1, timestampNs: 1)
        let compressed = try LZ4.compress(batch.bytes)
        XCTAssertLessThan(compressed.count, batch.bytes.count / 2)
        let restored = try compressed.withUnsafeBytes { try LZ4.decompress($0, originalSizeBytes: batch.bytes.count) }
        XCTAssertEqual(restored, Array(batch.bytes))
        var damaged = compressed
        damaged[damaged.count / 2] ^= 0xFF
        damaged.removeLast(10)
        XCTAssertThrowsError(try damaged.withUnsafeBytes { try LZ4.decompress($0, originalSizeBytes: batch.bytes.count) })
    }
}
