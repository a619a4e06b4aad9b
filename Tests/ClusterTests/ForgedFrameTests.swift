// The two forged frames that once took a cluster down, at a real 3-replica cluster over real
// sockets: refused at the handshake from a stranger; from a key holder, dropped by the Raft core's
// input checks and counted; the cluster keeps serving and agreeing. A replica whose persisted term is impossible refuses to start, naming the field.
@testable import Cluster
import Consensus
import Foundation
import LedgerCore
import NIOCore
import Storage
import TestSupport
import XCTest

final class ForgedFrameTests: XCTestCase {
    static let clusterId: UInt128 = 31

    /// A `raft` frame written by hand from docs/FORMAT.md, as an attacker would: kind, from, to,
    /// reserved, term, then the kind's fields.
    static func raftFrame(kind: UInt8, from: Int, to: Int, term: UInt64, fields: (inout FrameBuilder) -> Void) -> ByteBuffer {
        var frame = FrameBuilder(command: .raft, clusterId: clusterId, requestId: 0)
        frame.write(kind)
        frame.write(UInt8(from))
        frame.write(UInt8(to))
        frame.write(UInt8(0))
        frame.write(UInt32(0))
        frame.write(term)
        fields(&frame)
        return frame.seal()
    }

    /// request_vote (3) with term 2^64-1 and valid checksums: it once made all three persist that
    /// term and trap on `term + 1` in `startPreVote`, at every restart.
    static func maximalTermVote(from: Int, to: Int) -> ByteBuffer {
        raftFrame(kind: 3, from: from, to: to, term: .max) { frame in
            frame.write(UInt64(0))
            frame.write(UInt64(0))
        }
    }

    /// append_entries (5) "from" `leader` with `term`, previous (0, 0) and one no-op batch at op 1:
    /// it once tripped "a committed entry conflicts with the leader" on a follower.
    static func forgedAppend(from leader: Int, to: Int, term: UInt64) -> ByteBuffer {
        let buffer = BatchBuffer(recordKind: .noop, capacityBytes: Limits.batchHeaderSizeBytes)
        let batch = buffer.seal(clusterId: clusterId, term: term, op: 1, timestampNs: 1_000, previousHeaderHash: Hash256.genesis(clusterId: clusterId),
                                rulesVersion: Ledger.rulesVersion, durableOp: 0)
        return raftFrame(kind: 5, from: leader, to: to, term: term) { frame in
            for value: UInt64 in [0, 0, 1, 0] { frame.write(value) }  // previous index, previous term, commit index, read context
            frame.write(UInt32(1))
            frame.write(bytes: batch.bytes)
        }
    }

    /// Sends `frame` on a new connection: unauthenticated (`key` nil), or authenticated as peer `asPeer`.
    private func send(_ frame: ByteBuffer, to address: PeerAddress, key: SecretKey?, asPeer: Int?) throws {
        let connection = try FrameConnection(address: address, clusterId: Self.clusterId, timeoutMs: 2_000, key: key, asPeer: asPeer)
        defer { connection.close() }
        try connection.send(frame)
        if key == nil {
            // A stranger: the hello, then the refusal of the handshake, then the close.
            var (header, body) = try connection.receive()
            while header.command == .hello { (header, body) = try connection.receive() }
            XCTAssertEqual(header.command, .error)
            XCTAssertTrue(String(decoding: body, as: UTF8.self).contains("authentication failed"), String(decoding: body, as: UTF8.self))
        }
    }

    private func statuses(_ cluster: LocalCluster) throws -> [ReplicaStatus] {
        let client = ClusterClient(addresses: cluster.addresses, clusterId: Self.clusterId, key: cluster.key)
        defer { client.close() }
        return try (0..<3).map { try client.status(ofReplica: $0) }
    }

    func testForgedFramesAreDroppedAndTheClusterKeepsServing() throws {
        let directory = TemporaryDirectory()
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path, replicaCount: 3, clusterId: Self.clusterId, segmentSizeMib: 16)
        defer { cluster.stopAll() }
        try cluster.startAll()
        let leader = try cluster.waitForLeader()
        let client = ClusterClient(addresses: cluster.addresses, clusterId: Self.clusterId, key: cluster.key)
        defer { client.close() }
        let accounts = [Account(id: 1, ledger: 1), Account(id: 2, ledger: 1)]
        XCTAssertEqual(try accounts.withUnsafeBytes { try client.submit(kind: .accounts, records: $0) }.results, [0, 0])
        let before = try cluster.waitUntilConverged()
        let term = before[leader].term

        // From a stranger: refused at the handshake, before anything is decoded.
        for target in 0..<3 {
            try send(Self.maximalTermVote(from: (target + 1) % 3, to: target), to: cluster.addresses[target], key: nil, asPeer: nil)
            try send(Self.forgedAppend(from: leader == target ? (target + 1) % 3 : leader, to: target, term: term + 1), to: cluster.addresses[target],
                     key: nil, asPeer: nil)
        }
        let refused = try statuses(cluster)
        XCTAssertEqual(refused.map(\.authenticationFailures), [2, 2, 2])
        XCTAssertEqual(refused.map(\.messagesDropped), [0, 0, 0], "nothing of a stranger's frames reaches the core")
        XCTAssertEqual(refused.map(\.term), before.map(\.term))

        // From a key holder speaking as a peer (Raft cannot stand a lying peer, but it must not
        // trap on one): the term past the bound and the contradicting append are dropped by the core.
        for target in 0..<3 {
            let voter = (target + 1) % 3
            try send(Self.maximalTermVote(from: voter, to: target), to: cluster.addresses[target], key: cluster.key, asPeer: voter)
            let sender = leader == target ? (target + 1) % 3 : leader
            try send(Self.forgedAppend(from: sender, to: target, term: term + 1), to: cluster.addresses[target], key: cluster.key, asPeer: sender)
        }
        // Each replica counts the two drops (bounded wait: the frames may take a moment to arrive).
        let deadline = Date(timeIntervalSinceNow: 10)
        var seen = try statuses(cluster)
        while Date() < deadline && !seen.allSatisfy({ $0.messagesDropped >= 2 }) {
            usleep(50_000)
            seen = try statuses(cluster)
        }
        XCTAssertEqual(seen.map(\.messagesDropped), [2, 2, 2], "every forged frame is dropped and counted")
        for replica in 0..<3 {
            XCTAssertTrue(cluster.isRunning(replica), "replica \(replica) exited:\n" + ((try? String(contentsOfFile: cluster.logPath(replica), encoding: .utf8)) ?? ""))
            XCTAssertLessThanOrEqual(seen[replica].term, term + 1, "the forged term was not taken")
            let log = try String(contentsOfFile: cluster.logPath(replica), encoding: .utf8)
            XCTAssertTrue(log.contains("ERROR: DROPPED a Raft message"), log)
        }

        // The cluster still serves and agrees, and a restarted replica comes back.
        let transfers = (1...20).map { Transfer(id: UInt128($0), debitAccountId: 1, creditAccountId: 2, amount: 5, ledger: 1) }
        XCTAssertEqual(Set(try transfers.withUnsafeBytes { try client.submit(kind: .transfers, records: $0) }.results), [TransferResult.ok.rawValue])
        let follower = (leader + 1) % 3
        cluster.kill(follower)
        try cluster.start(follower)
        let after = try cluster.waitUntilConverged()
        XCTAssertEqual(Set(after.map(\.digest)).count, 1)
        XCTAssertEqual(after[0].transfersCount, 20)
    }

    /// A replica that persisted an impossible term (as the forged vote once made them) refuses to
    /// start with an error naming the file and the field, instead of trapping in a loop.
    func testAnImpossiblePersistedTermRefusesTheStart() throws {
        let directory = TemporaryDirectory()
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path, replicaCount: 3, clusterId: Self.clusterId, segmentSizeMib: 16)
        defer { cluster.stopAll() }
        try RaftStateRecord(term: .max, votedFor: 1, votingFloorIndex: 0, votingFloorTerm: 0).write(directory: cluster.dataPath(0))
        let start = try WalletBinary.run(["start", "--data", cluster.dataPath(0), "--replica", "0", "--addresses", cluster.addressList])
        XCTAssertNotEqual(start.status, 0)
        XCTAssertTrue(start.stderr.contains("raft-state") && start.stderr.contains("field term is 18446744073709551615"), start.stderr)
        XCTAssertFalse(start.stderr.contains("Fatal error"), start.stderr)
        try RaftStateRecord(term: 3, votedFor: 7, votingFloorIndex: 0, votingFloorTerm: 0).write(directory: cluster.dataPath(0))
        let badVote = try WalletBinary.run(["start", "--data", cluster.dataPath(0), "--replica", "0", "--addresses", cluster.addressList])
        XCTAssertNotEqual(badVote.status, 0)
        XCTAssertTrue(badVote.stderr.contains("field voted_for is 7"), badVote.stderr)
    }
}
