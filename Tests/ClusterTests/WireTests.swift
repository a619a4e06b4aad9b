// The wire formats: frame headers, Raft messages with whole batches, client requests and replies.
@testable import Cluster
import Consensus
import LedgerCore
import NIOCore
import XCTest

final class WireTests: XCTestCase {
    func testFrameHeaderLayout() {
        XCTAssertEqual(MemoryLayout<FrameHeader>.size, FrameHeader.sizeBytes)
        XCTAssertEqual(MemoryLayout<FrameHeader>.offset(of: \FrameHeader.clusterId), 16)
        XCTAssertEqual(MemoryLayout<FrameHeader>.offset(of: \FrameHeader.bodyChecksum), 32)
        XCTAssertEqual(MemoryLayout<FrameHeader>.offset(of: \FrameHeader.requestId), 40)
    }

    func testHeaderProblemsAreNamed() {
        let frame = FrameBuilder(command: .status, clusterId: 3, requestId: 9).seal()
        frame.withUnsafeReadableBytes { bytes in
            XCTAssertNil(FrameHeader.problem(in: bytes, clusterId: 3))
            XCTAssertEqual(FrameHeader.problem(in: bytes, clusterId: 4), .wrongCluster(3, expected: 4))
        }
        for offset in [4, 8, 10, 12, 20, 40] {
            var damaged = frame
            damaged.setInteger(damaged.getInteger(at: offset, as: UInt8.self)! ^ 0x01, at: offset)
            damaged.withUnsafeReadableBytes { bytes in
                XCTAssertNotNil(FrameHeader.problem(in: bytes, clusterId: 3), "a flipped bit at \(offset) is caught")
            }
        }
    }

    private func batch(op: UInt64, term: UInt64, records: Int) -> OwnedBatch {
        let buffer = BatchBuffer(recordKind: .transfers)
        for index in 0..<records {
            buffer.append(Transfer(id: UInt128(op * 1000 + UInt64(index) + 1), debitAccountId: 1, creditAccountId: 2, amount: 3, ledger: 1))
        }
        let view = buffer.seal(clusterId: 3, term: term, op: op, timestampNs: op * 10_000)
        return try! OwnedBatch(copying: view.bytes)
    }

    func testAppendEntriesRoundTripCarriesWholeBatches() throws {
        let stored = [batch(op: 5, term: 2, records: 3), batch(op: 6, term: 2, records: 0), batch(op: 7, term: 3, records: 8191)]
        let entries = stored.map { Entry(term: $0.view.header.term, payload: LogEntryPayload(.stored)) }
        let message = Message<LogEntryPayload>(from: 1, to: 2, term: 3, body: .appendEntries(
            previousIndex: 4, previousTerm: 2, entries: entries, commitIndex: 4, readContext: 17))
        let frame = RaftMessageCodec.encode(message, clusterId: 3) { stored[Int($0 - 5)].view.bytes }
        let body = frame.getSlice(at: FrameHeader.sizeBytes, length: frame.readableBytes - FrameHeader.sizeBytes)!
        let decoded = try body.withUnsafeReadableBytes { try RaftMessageCodec.decode($0, localId: 2, replicaCount: 3, clusterId: 3) }
        XCTAssertEqual(decoded.from, 1)
        XCTAssertEqual(decoded.term, 3)
        guard case .appendEntries(let previousIndex, let previousTerm, let got, let commitIndex, let readContext) = decoded.body else {
            return XCTFail("wrong kind")
        }
        XCTAssertEqual([previousIndex, previousTerm, commitIndex, readContext], [4, 2, 4, 17])
        XCTAssertEqual(got.map(\.term), [2, 2, 3])
        for (position, entry) in got.enumerated() {
            guard case .received(let batch) = entry.payload.content else { return XCTFail("not a received batch") }
            XCTAssertEqual(Array(batch.view.bytes), Array(stored[position].view.bytes))
        }
        // A wrong destination, a foreign sender, a cut-short entry: refused, never trapped.
        try body.withUnsafeReadableBytes { bytes in
            XCTAssertThrowsError(try RaftMessageCodec.decode(bytes, localId: 1, replicaCount: 3, clusterId: 3))
            XCTAssertThrowsError(try RaftMessageCodec.decode(bytes, localId: 2, replicaCount: 3, clusterId: 4))
            XCTAssertThrowsError(try RaftMessageCodec.decode(UnsafeRawBufferPointer(rebasing: bytes[0..<(bytes.count - 1)]), localId: 2, replicaCount: 3, clusterId: 3))
        }
    }

    func testEveryOtherRaftMessageRoundTrips() throws {
        let bodies: [MessageBody<LogEntryPayload>] = [
            .preVote(lastIndex: 9, lastTerm: 2), .preVoteResponse(granted: true), .requestVote(lastIndex: 1, lastTerm: 1),
            .requestVoteResponse(granted: false), .appendEntriesResponse(success: true, matchIndex: 40, hintIndex: 41, readContext: 5),
            .installSnapshot(index: 1234, snapshotTerm: 7),
        ]
        for body in bodies {
            let frame = RaftMessageCodec.encode(Message(from: 0, to: 1, term: 8, body: body), clusterId: 3) { _ in fatalError() }
            let slice = frame.getSlice(at: FrameHeader.sizeBytes, length: frame.readableBytes - FrameHeader.sizeBytes)!
            let decoded = try slice.withUnsafeReadableBytes { try RaftMessageCodec.decode($0, localId: 1, replicaCount: 3, clusterId: 3) }
            XCTAssertEqual(String(describing: decoded.body), String(describing: body))
            XCTAssertEqual(decoded.term, 8)
        }
    }

    func testSnapshotChunksRoundTripAndBadOnesAreRefused() throws {
        let data: [UInt8] = (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        func body(offset: UInt64, fileSize: UInt64, to: Int = 2) -> ByteBuffer {
            let frame = data.withUnsafeBytes {
                SnapshotChunkMessage.encode(from: 0, to: to, leaderTerm: 4, snapshotOp: 99, snapshotTerm: 3, fileSizeBytes: fileSize, offset: offset, data: $0, clusterId: 3)
            }
            return frame.getSlice(at: FrameHeader.sizeBytes, length: frame.readableBytes - FrameHeader.sizeBytes)!
        }
        let decoded = try body(offset: 1000, fileSize: 6000).withUnsafeReadableBytes { try SnapshotChunkMessage.decode($0, localId: 2, replicaCount: 3) }
        XCTAssertEqual(decoded.bytes, data)
        XCTAssertEqual([decoded.from, decoded.to], [0, 2])
        XCTAssertEqual([decoded.leaderTerm, decoded.snapshotOp, decoded.snapshotTerm, decoded.fileSizeBytes, decoded.offset], [4, 99, 3, 6000, 1000])
        // Past the announced file size, to another replica, or a file larger than snapshot_file_size_bytes_max.
        for bad in [body(offset: 1001, fileSize: 6000), body(offset: 0, fileSize: 6000, to: 1), body(offset: 0, fileSize: SnapshotChunkMessage.fileSizeBytesMax + 1)] {
            XCTAssertThrowsError(try bad.withUnsafeReadableBytes { try SnapshotChunkMessage.decode($0, localId: 2, replicaCount: 3) })
        }
    }

    func testSubmitRequestsAreCheckedBeforeQueueing() {
        func decode(_ frame: ByteBuffer) -> Result<OwnedRecords, RefusedRequest> {
            frame.getSlice(at: FrameHeader.sizeBytes, length: frame.readableBytes - FrameHeader.sizeBytes)!
                .withUnsafeReadableBytes { ClientMessages.decodeSubmit($0) }
        }
        let records = [UInt8](repeating: 1, count: 3 * 128)
        let good = records.withUnsafeBytes { ClientMessages.submit(kind: .transfers, records: $0, clusterId: 3, requestId: 1) }
        guard case .success(let owned) = decode(good) else { return XCTFail("valid request refused") }
        XCTAssertEqual(owned.count, 3)
        XCTAssertEqual(owned.kind, .transfers)
        let noop = records.withUnsafeBytes { ClientMessages.submit(kind: .noop, records: $0, clusterId: 3, requestId: 1) }
        guard case .failure(let refusedNoop) = decode(noop) else { return XCTFail("no-op accepted") }
        XCTAssertEqual(refusedNoop.status, .invalid)
        let empty = ClientMessages.submit(kind: .accounts, records: UnsafeRawBufferPointer(start: nil, count: 0), clusterId: 3, requestId: 1)
        guard case .failure(let refusedEmpty) = decode(empty) else { return XCTFail("empty request accepted") }
        XCTAssertEqual(refusedEmpty.status, .tooLarge)
    }

    func testAddressesAreParsedStrictly() throws {
        XCTAssertEqual(try PeerAddress.parseList("127.0.0.1:3001, localhost:3002"), [PeerAddress(host: "127.0.0.1", port: 3001), PeerAddress(host: "127.0.0.1", port: 3002)])
        for bad in ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "example.com:80", "1.2.3:4", ""] {
            XCTAssertThrowsError(try PeerAddress.parseList(bad), bad)
        }
    }
}
