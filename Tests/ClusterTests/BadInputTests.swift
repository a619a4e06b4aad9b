// Garbled frames, a wrong cluster, oversize frames and requests, silent and half-sent clients:
// each connection gets a clear error or is closed, and the replica keeps serving everyone else.
@testable import Cluster
import Foundation
import LedgerCore
import NIOCore
import TestSupport
import XCTest

final class BadInputTests: XCTestCase {
    static let clusterId: UInt128 = 5

    func testBadClientsGetErrorsAndTheReplicaKeepsServing() throws {
        let directory = TemporaryDirectory()
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path, replicaCount: 1, clusterId: Self.clusterId, segmentSizeMib: 16)
        defer { cluster.stopAll() }
        try cluster.startAll()
        _ = try cluster.waitForLeader()
        let address = cluster.addresses[0]

        // A client that connects and sends nothing stays connected meanwhile; nobody waits on it.
        let silent = try FrameConnection(address: address, clusterId: Self.clusterId, timeoutMs: 2_000, key: nil)
        defer { silent.close() }

        // Garbage instead of a header.
        try expectError(address, sending: raw([UInt8](repeating: 0xAB, count: 64)), containing: "garbled frame", closes: true)

        // A valid frame of another cluster.
        let foreign = FrameBuilder(command: .status, clusterId: 999, requestId: 1).seal()
        try expectError(address, sending: foreign, containing: "wrong cluster id 999", closes: true)

        // A header announcing a body over frame_body_size_bytes_max: refused before any body is read.
        var huge = FrameBuilder(command: .submit, clusterId: Self.clusterId, requestId: 2).seal()
        var header = huge.withUnsafeReadableBytes { $0.loadUnaligned(as: FrameHeader.self) }
        header.bodySizeBytes = UInt32(WireLimits.frameBodySizeBytesMax + 1)
        header.headerChecksum = header.computeHeaderChecksum()
        withUnsafeBytes(of: header) { _ = huge.setBytes($0, at: 0) }
        try expectError(address, sending: huge, containing: "frame_body_size_bytes_max", closes: true)

        // A body that fails its checksum.
        var flipped = FrameBuilder(command: .lookupAccounts, clusterId: Self.clusterId, requestId: 3)
        flipped.write(UInt32(1)); flipped.write(UInt32(0)); flipped.write(UInt64(0)); flipped.write(UInt128(1))
        var flippedFrame = flipped.seal()
        flippedFrame.setInteger(UInt8(0x77), at: FrameHeader.sizeBytes + 20)
        try expectError(address, sending: flippedFrame, containing: "checksum", closes: true)

        // A well-formed request from a client that never authenticated: refused at the handshake.
        try expectError(address, sending: FrameBuilder(command: .status, clusterId: Self.clusterId, requestId: 7).seal(),
                        containing: "authentication failed: expected the auth frame first", closes: true)

        // A request over request_records_max: refused with a reason; the connection stays usable.
        let oversize = [UInt8](repeating: 0, count: (WireLimits.requestRecordsMax + 1) * Limits.recordSizeBytes)
        let request = oversize.withUnsafeBytes { ClientMessages.submit(kind: .transfers, records: $0, clusterId: Self.clusterId, requestId: 4) }
        let connection = try FrameConnection(address: address, clusterId: Self.clusterId, timeoutMs: 5_000, key: cluster.key)
        try connection.send(request)
        let (refusal, text) = try connection.receive()
        XCTAssertEqual(refusal.command, .error)
        XCTAssertTrue(String(decoding: text, as: UTF8.self).contains("request_records_max"), String(decoding: text, as: UTF8.self))
        try connection.send(FrameBuilder(command: .status, clusterId: Self.clusterId, requestId: 5).seal())
        let (statusHeader, _) = try connection.receive()
        XCTAssertEqual(statusHeader.command, .statusReply)
        connection.close()

        // Disconnects mid-header and mid-body: the partial frames are dropped, nothing else happens.
        let midHeader = try FrameConnection(address: address, clusterId: Self.clusterId, timeoutMs: 2_000, key: cluster.key)
        try midHeader.sendUnsigned(raw(Array(repeating: 0x57, count: 20)))
        midHeader.close()
        let accounts = [Account(id: 42, ledger: 1)]
        var partial = accounts.withUnsafeBytes { ClientMessages.submit(kind: .accounts, records: $0, clusterId: Self.clusterId, requestId: 6) }
        partial.moveWriterIndex(to: partial.writerIndex - 50)
        let midBody = try FrameConnection(address: address, clusterId: Self.clusterId, timeoutMs: 2_000, key: cluster.key)
        try midBody.send(partial)
        midBody.close()

        // Everyone else is still served, and nothing of the half-sent request was applied.
        let client = ClusterClient(addresses: cluster.addresses, clusterId: Self.clusterId, key: cluster.key)
        defer { client.close() }
        let (before, _) = try client.lookupAccounts([42])
        XCTAssertNil(before[0], "a request cut off mid-frame must not be applied")
        let outcome = try accounts.withUnsafeBytes { try client.submit(kind: .accounts, records: $0) }
        XCTAssertEqual(outcome.results, [AccountResult.ok.rawValue])
        let status = try client.status(ofReplica: 0)
        XCTAssertEqual(status.role, "leader")
        XCTAssertEqual(status.accountsCount, 1)
        XCTAssertGreaterThanOrEqual(status.authenticationFailures, 1, "the unauthenticated request is counted")
    }

    private func raw(_ bytes: [UInt8]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return buffer
    }

    /// Sends `frame` on a fresh connection and expects an `error` frame whose text contains
    /// `containing`, then (if `closes`) the connection to be closed by the replica.
    private func expectError(_ address: PeerAddress, sending frame: ByteBuffer, containing: String, closes: Bool,
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let connection = try FrameConnection(address: address, clusterId: Self.clusterId, timeoutMs: 5_000, key: nil)
        defer { connection.close() }
        try connection.send(frame)
        // The replica's hello comes first on every connection.
        var (header, body) = try connection.receive()
        while header.command == .hello { (header, body) = try connection.receive() }
        XCTAssertEqual(header.command, .error, file: file, line: line)
        let text = String(decoding: body, as: UTF8.self)
        XCTAssertTrue(text.contains(containing), "error '\(text)' does not mention '\(containing)'", file: file, line: line)
        if closes {
            XCTAssertThrowsError(try connection.receive(), "the replica closes a connection it cannot trust", file: file, line: line)
        }
    }
}
