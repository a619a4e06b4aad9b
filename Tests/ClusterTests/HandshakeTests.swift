// The handshake and frame MACs, side by side in memory: who may prove what, and what a MAC catches.
@testable import Cluster
import Foundation
import LedgerCore
import NIOCore
import TestSupport
import XCTest

final class HandshakeTests: XCTestCase {
    static let clusterId: UInt128 = 44

    private func frame(_ buffer: ByteBuffer) -> Frame {
        let header = buffer.withUnsafeReadableBytes { $0.loadUnaligned(as: FrameHeader.self) }
        return Frame(header: header, body: buffer.getSlice(at: buffer.readerIndex + FrameHeader.sizeBytes, length: Int(header.bodySizeBytes))!)
    }

    private func responder(clusterKey: SecretKey, clientKeys: ClientKeys = ClientKeys()) -> ResponderHandshake {
        ResponderHandshake(clusterId: Self.clusterId, replica: 0, replicaCount: 3, clusterKey: clusterKey, clientKeys: clientKeys)
    }

    /// Runs the three frames; returns the role the responder proved and both sides' MACs.
    private func handshake(_ responder: ResponderHandshake, role: ConnectionRole, key: SecretKey) throws
        -> (role: ConnectionRole, initiator: SessionMACs, responder: SessionMACs) {
        var initiator = InitiatorHandshake(clusterId: Self.clusterId, role: role, key: key)
        let hello = frame(responder.hello())
        let auth = try initiator.auth(replying: hello.header, body: hello.body, expectedReplica: 0)
        let (proved, authOk, responderMACs) = try responder.accept(frame(auth))
        let ok = frame(authOk)
        return (proved, try initiator.finish(ok.header, body: ok.body), responderMACs)
    }

    func testPeersAndClientsProveTheirKeysAndRoles() throws {
        let clusterKey = try SecretKey.random(id: SecretKey.clusterKeyId)
        let reader = try SecretKey.random(id: "dashboard")
        let writer = try SecretKey.random(id: "payments")
        let server = responder(clusterKey: clusterKey, clientKeys: ClientKeys([(reader, .read), (writer, .write)]))
        XCTAssertEqual(try handshake(server, role: .peer(2), key: clusterKey).role, .peer(2))
        XCTAssertEqual(try handshake(server, role: .client(keyId: "dashboard", scope: .write), key: reader).role, .client(keyId: "dashboard", scope: .read),
                       "the scope is the replica's, whatever the client claims")
        XCTAssertEqual(try handshake(server, role: .client(keyId: "payments", scope: .write), key: writer).role, .client(keyId: "payments", scope: .write))
        XCTAssertEqual(try handshake(server, role: .client(keyId: "cluster", scope: .write), key: clusterKey).role, .client(keyId: "cluster", scope: .write))
    }

    func testWhatCannotBeProvedIsRefused() throws {
        let clusterKey = try SecretKey.random(id: SecretKey.clusterKeyId)
        let client = try SecretKey.random(id: "payments")
        let server = responder(clusterKey: clusterKey, clientKeys: ClientKeys([(client, .write)]))
        let stranger = try SecretKey.random(id: SecretKey.clusterKeyId)
        let cases: [(ConnectionRole, SecretKey, String)] = [
            (.peer(1), stranger, "does not verify"),                     // another cluster's key
            (.peer(1), try SecretKey(id: SecretKey.clusterKeyId, bytes: client.bytes), "does not verify"),  // a client key posing as a peer
            (.peer(0), clusterKey, "is not another replica"),           // the replica itself
            (.peer(3), clusterKey, "is not another replica"),           // no such replica
            (.client(keyId: "payments", scope: .write), stranger, "does not verify"),
            (.client(keyId: "nobody", scope: .read), client, "unknown client key"),
        ]
        for (role, key, words) in cases {
            XCTAssertThrowsError(try handshake(server, role: role, key: key), "\(role)") { error in
                XCTAssertTrue("\(error)".contains(words), "\(error) lacks '\(words)'")
            }
        }
        // A replayed auth meets a new nonce: a second responder never takes the first one's proof.
        var initiator = InitiatorHandshake(clusterId: Self.clusterId, role: .peer(1), key: clusterKey)
        let hello = frame(server.hello())
        let auth = try initiator.auth(replying: hello.header, body: hello.body, expectedReplica: 0)
        XCTAssertNoThrow(try server.accept(frame(auth)))
        XCTAssertThrowsError(try responder(clusterKey: clusterKey).accept(frame(auth)))
        // Anything but auth first is refused, and nothing of it is decoded.
        XCTAssertThrowsError(try server.accept(frame(FrameBuilder(command: .status, clusterId: Self.clusterId, requestId: 1).seal()))) { error in
            XCTAssertTrue("\(error)".contains("expected the auth frame first"))
        }
    }

    func testTheInitiatorNamesAWrongClusterAndChecksTheReplicasProof() throws {
        let clusterKey = try SecretKey.random(id: SecretKey.clusterKeyId)
        let other = ResponderHandshake(clusterId: 99, replica: 0, replicaCount: 3, clusterKey: clusterKey, clientKeys: ClientKeys())
        var initiator = InitiatorHandshake(clusterId: Self.clusterId, role: .client(keyId: "cluster", scope: .write), key: clusterKey)
        let hello = frame(other.hello())
        XCTAssertThrowsError(try initiator.auth(replying: hello.header, body: hello.body, expectedReplica: nil)) { error in
            XCTAssertTrue("\(error)".contains("this is cluster 99, not 44: pass --cluster 99"), "\(error)")
        }
        // A replica that does not hold the key cannot fake auth_ok.
        let server = responder(clusterKey: clusterKey)
        let serverHello = frame(server.hello())
        _ = try initiator.auth(replying: serverHello.header, body: serverHello.body, expectedReplica: nil)
        var fake = FrameBuilder(command: .authOk, clusterId: Self.clusterId, requestId: 0)
        [UInt8](repeating: 7, count: 32).withUnsafeBytes { fake.write(bytes: $0) }
        let forged = frame(fake.seal())
        XCTAssertThrowsError(try initiator.finish(forged.header, body: forged.body)) { error in
            XCTAssertTrue("\(error)".contains("does not hold this key"))
        }
    }

    /// After the handshake a frame changed, dropped, replayed or sent the other way fails its MAC.
    func testFrameMACsCatchChangesDropsAndReplays() throws {
        let clusterKey = try SecretKey.random(id: SecretKey.clusterKeyId)
        var (_, initiator, responder) = try handshake(self.responder(clusterKey: clusterKey), role: .peer(1), key: clusterKey)
        func signed(_ requestId: UInt64) -> ByteBuffer {
            var builder = FrameBuilder(command: .status, clusterId: Self.clusterId, requestId: requestId)
            builder.write(UInt64(requestId))
            var buffer = builder.seal()
            initiator.outbound.sign(&buffer)
            return buffer
        }
        func verifies(_ buffer: ByteBuffer) -> Bool {
            let received = frame(buffer)
            XCTAssertNil(buffer.withUnsafeReadableBytes { FrameHeader.problem(in: $0, clusterId: Self.clusterId) }, "the header checksum covers the MAC")
            return received.body.withUnsafeReadableBytes { responder.inbound.verify(received.header, body: $0) }
        }
        let first = signed(1)
        XCTAssertTrue(verifies(first))
        XCTAssertFalse(verifies(first), "replayed")
        var changed = signed(2)
        changed.setInteger(UInt8(0xEE), at: FrameHeader.sizeBytes)  // a body byte (the CRC aside: a forger recomputes it)
        let changedFrame = frame(changed)
        XCTAssertFalse(changedFrame.body.withUnsafeReadableBytes { responder.inbound.verify(changedFrame.header, body: $0) }, "changed")
        _ = signed(3)  // dropped in transit
        XCTAssertFalse(verifies(signed(4)), "the frame after a dropped one")
        // The other direction's key never verifies this direction's frames.
        var reflected = FrameBuilder(command: .status, clusterId: Self.clusterId, requestId: 9).seal()
        responder.outbound.sign(&reflected)
        XCTAssertFalse(verifies(reflected), "reflected")
    }

    func testKeyFilesAreWrittenPrivateAndReadOnlyWhenPrivate() throws {
        let directory = TemporaryDirectory()
        let key = try SecretKey.random(id: "payments")
        let path = directory.path + "/key"
        try key.write(path: path)
        XCTAssertEqual(try SecretKey.read(path: path), key)
        var status = stat()
        stat(path, &status)
        XCTAssertEqual(status.st_mode & 0o777, 0o600)
        chmod(path, 0o644)
        XCTAssertThrowsError(try SecretKey.read(path: path)) { XCTAssertTrue("\($0)".contains("chmod 600"), "\($0)") }
        XCTAssertFalse(key.description.contains(key.fileText.split(separator: " ")[4].prefix(16)), "a key's description never shows the secret")
        XCTAssertThrowsError(try SecretKey.parse(line: "wallet key v1 payments 1234"))
        XCTAssertThrowsError(try SecretKey.parse(line: "wallet key v1 bad/id " + String(repeating: "a", count: 64)))
        let keys = try ClientKeys.parse("# clients\n" + ClientKeys.line(for: key, scope: .read), path: "keys")
        XCTAssertEqual(keys.key(id: "payments")?.scope, .read)
        XCTAssertThrowsError(try ClientKeys.parse("cluster " + String(repeating: "a", count: 64) + " write\n", path: "keys"))
        XCTAssertThrowsError(try ClientKeys.parse("x " + String(repeating: "a", count: 64) + " admin\n", path: "keys"))
    }
}
