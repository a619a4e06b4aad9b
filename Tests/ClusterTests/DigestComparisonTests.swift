// The cross-replica digest check: equal digests at the same op count as compared, a different one is reported once.
@testable import Cluster
import LedgerCore
import NIOCore
import XCTest

final class DigestComparisonTests: XCTestCase {
    private func digest(_ byte: UInt8) -> Hash256 {
        [UInt8](repeating: byte, count: 32).withUnsafeBytes { Hash256(sha256Of: $0) }
    }

    func testMatchingAndMismatchingDigestsInEitherOrder() {
        var comparison = DigestComparison()
        XCTAssertEqual(comparison.recordPeer(1, op: 10, digest: digest(1)), nil, "nothing to compare with yet")
        XCTAssertEqual(comparison.recordOwn(op: 10, digest: digest(1)), [], "peer first, then own: equal")
        XCTAssertEqual(comparison.comparedCount, 1)
        XCTAssertEqual(comparison.recordOwn(op: 20, digest: digest(2)), [])
        let mismatch = comparison.recordPeer(2, op: 20, digest: digest(3))
        XCTAssertEqual(mismatch, DigestComparison.Mismatch(op: 20, peer: 2, local: digest(2), remote: digest(3)))
        XCTAssertTrue(mismatch!.description.contains("MISMATCH at op 20"))
        XCTAssertEqual(comparison.mismatchCount, 1)
        // A resent digest (every second) is not compared or counted again.
        XCTAssertNil(comparison.recordPeer(2, op: 20, digest: digest(3)))
        XCTAssertEqual(comparison.recordOwn(op: 20, digest: digest(2)), [])
        XCTAssertEqual(comparison.comparedCount, 2)
        XCTAssertEqual(comparison.mismatchCount, 1)
        // Own digest arriving after two peers': compared with both.
        _ = comparison.recordPeer(1, op: 30, digest: digest(4))
        _ = comparison.recordPeer(2, op: 30, digest: digest(5))
        XCTAssertEqual(comparison.recordOwn(op: 30, digest: digest(4)).map(\.peer), [2])
        XCTAssertEqual(comparison.comparedCount, 4)
        XCTAssertEqual(comparison.latestOwn?.op, 30)
    }

    func testMemoryIsBounded() {
        var comparison = DigestComparison()
        for op in 1...UInt64(1000) {
            _ = comparison.recordOwn(op: op, digest: digest(UInt8(op % 200)))
            _ = comparison.recordPeer(1, op: op, digest: digest(UInt8(op % 200)))
        }
        XCTAssertLessThanOrEqual(comparison.own.count, DigestComparison.opsRemembered)
        XCTAssertLessThanOrEqual(comparison.peers[1]!.count, DigestComparison.opsRemembered)
        XCTAssertEqual(comparison.comparedCount, 1000)
        XCTAssertEqual(comparison.mismatchCount, 0)
    }

    func testTheMessageRoundTripsAndRefusesStrangers() throws {
        let message = SnapshotDigestMessage(from: 2, op: 77, digest: digest(9))
        var frame = message.encode(clusterId: 5)
        let header = frame.readBytes(length: 64)!
        XCTAssertEqual(header.withUnsafeBytes { $0.loadUnaligned(as: FrameHeader.self).command }, .snapshotDigest)
        let body = frame.readBytes(length: frame.readableBytes)!
        XCTAssertEqual(body.count, SnapshotDigestMessage.bodySizeBytes)
        XCTAssertEqual(try body.withUnsafeBytes { try SnapshotDigestMessage.decode($0, localId: 0, replicaCount: 3) }, message)
        XCTAssertThrowsError(try body.withUnsafeBytes { try SnapshotDigestMessage.decode($0, localId: 2, replicaCount: 3) }, "from itself")
        XCTAssertThrowsError(try body.withUnsafeBytes { try SnapshotDigestMessage.decode($0, localId: 0, replicaCount: 2) }, "not a replica")
        XCTAssertThrowsError(try body.dropLast().withUnsafeBytes { try SnapshotDigestMessage.decode($0, localId: 0, replicaCount: 3) }, "short")
    }
}
