// The handshake's three frames, and each side's steps through them.
import Crypto
import LedgerCore
import NIOCore

/// Why a handshake failed. Logged (never with a secret) and counted; the connection closes.
public struct HandshakeError: Error, CustomStringConvertible, Equatable {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The keys an authenticated connection signs and checks frames with.
struct SessionMACs {
    var outbound: FrameMAC
    var inbound: FrameMAC
}

/// The accepting replica's side.
///
/// Frame bodies (little-endian): `hello`: replica u8, replica_count u8, reserved u16, reserved
/// u32, nonce (32 bytes). `auth`: role u8 (1 peer, 2 client), id length u8, reserved u16,
/// reserved u32, id (the peer's index as one byte, or the client key's id), nonce (32), proof (32).
/// `auth_ok`: proof (32).
struct ResponderHandshake {
    let clusterId: UInt128
    let replica: Int
    let replicaCount: Int
    let clusterKey: SecretKey
    let clientKeys: ClientKeys
    let nonce = HandshakeTranscript.nonce()

    func hello() -> ByteBuffer {
        var frame = FrameBuilder(command: .hello, clusterId: clusterId, requestId: 0, bodyCapacityBytes: 40)
        frame.write(UInt8(replica))
        frame.write(UInt8(replicaCount))
        frame.write(UInt16(0))
        frame.write(UInt32(0))
        nonce.withUnsafeBytes { frame.write(bytes: $0) }
        return frame.seal()
    }

    /// Checks the initiator's `auth`: the role it claims, the key that role must hold, its proof.
    /// Returns the role proved, the `auth_ok` to send, and the connection's MACs.
    func accept(_ frame: Frame) throws -> (role: ConnectionRole, authOk: ByteBuffer, macs: SessionMACs) {
        guard frame.header.command == .auth, frame.header.mac == 0 else { throw HandshakeError("expected the auth frame first, got \(frame.header.command.map { "\($0)" } ?? "?")") }
        let (roleCode, idBytes, initiatorNonce, proof) = try frame.body.withUnsafeReadableBytes { bytes -> (UInt8, [UInt8], [UInt8], [UInt8]) in
            var reader = WireReader(bytes)
            let roleCode = try reader.read(UInt8.self)
            let idLength = Int(try reader.read(UInt8.self))
            guard try reader.read(UInt16.self) == 0, try reader.read(UInt32.self) == 0 else { throw HandshakeError("auth: reserved bytes are not zero") }
            guard idLength >= 1, idLength <= SecretKey.idBytesMax else { throw HandshakeError("auth: an id of \(idLength) bytes") }
            let idBytes = Array(try reader.readBytes(idLength))
            let initiatorNonce = Array(try reader.readBytes(HandshakeTranscript.nonceSizeBytes))
            let proof = Array(try reader.readBytes(32))
            try reader.expectEnd()
            return (roleCode, idBytes, initiatorNonce, proof)
        }
        let role: ConnectionRole
        let key: SecretKey
        switch roleCode {
        case 1:
            guard idBytes.count == 1, Int(idBytes[0]) < replicaCount, Int(idBytes[0]) != replica else {
                throw HandshakeError("auth: peer \(idBytes.first.map(String.init) ?? "?") is not another replica of this \(replicaCount)-replica cluster")
            }
            role = .peer(Int(idBytes[0]))
            key = clusterKey
        case 2:
            guard let id = String(validating: idBytes, as: UTF8.self), SecretKey.isValidId(id) else { throw HandshakeError("auth: a client key id that is not one") }
            if id == SecretKey.clusterKeyId {
                role = .client(keyId: id, scope: .write)
                key = clusterKey
            } else if let known = clientKeys.key(id: id) {
                role = .client(keyId: id, scope: known.scope)
                key = known.key
            } else {
                throw HandshakeError("auth: unknown client key '\(id)'")
            }
        default:
            throw HandshakeError("auth: unknown role \(roleCode)")
        }
        let transcript = HandshakeTranscript(clusterId: clusterId, responderReplica: replica, role: role, responderNonce: nonce, initiatorNonce: initiatorNonce)
        guard HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: Array("initiator".utf8) + transcript.bytes, using: key.symmetric) else {
            throw HandshakeError("auth: the proof for \(role) does not verify (a different key?)")
        }
        var reply = FrameBuilder(command: .authOk, clusterId: clusterId, requestId: 0, bodyCapacityBytes: 32)
        transcript.proof(key, initiator: false).withUnsafeBytes { reply.write(bytes: $0) }
        let keys = transcript.sessionKeys(key)
        return (role, reply.seal(), SessionMACs(outbound: FrameMAC(key: keys.responderToInitiator), inbound: FrameMAC(key: keys.initiatorToResponder)))
    }
}

/// The connecting side's (a peer replica's, or a client's).
struct InitiatorHandshake {
    let clusterId: UInt128
    let role: ConnectionRole
    let key: SecretKey
    let nonce = HandshakeTranscript.nonce()
    /// Set by `auth(replying:)`: what the responder's proof must be, and the keys.
    private var transcript: HandshakeTranscript?

    init(clusterId: UInt128, role: ConnectionRole, key: SecretKey) {
        self.clusterId = clusterId
        self.role = role
        self.key = key
    }

    /// The `auth` answering the responder's `hello` (its header and body).
    mutating func auth(replying header: FrameHeader, body: ByteBuffer, expectedReplica: Int?) throws -> ByteBuffer {
        guard header.command == .hello else { throw HandshakeError("expected the replica's hello first, got \(header.command.map { "\($0)" } ?? "?")") }
        guard header.clusterId == clusterId else {
            throw HandshakeError("this is cluster \(header.clusterId), not \(clusterId): pass --cluster \(header.clusterId)")
        }
        let (replica, responderNonce) = try body.withUnsafeReadableBytes { bytes -> (Int, [UInt8]) in
            var reader = WireReader(bytes)
            let replica = Int(try reader.read(UInt8.self))
            _ = try reader.read(UInt8.self)
            guard try reader.read(UInt16.self) == 0, try reader.read(UInt32.self) == 0 else { throw HandshakeError("hello: reserved bytes are not zero") }
            let responderNonce = Array(try reader.readBytes(HandshakeTranscript.nonceSizeBytes))
            try reader.expectEnd()
            return (replica, responderNonce)
        }
        if let expectedReplica, replica != expectedReplica { throw HandshakeError("the address answers as replica \(replica), not \(expectedReplica)") }
        let transcript = HandshakeTranscript(clusterId: clusterId, responderReplica: replica, role: role, responderNonce: responderNonce, initiatorNonce: nonce)
        self.transcript = transcript
        var frame = FrameBuilder(command: .auth, clusterId: clusterId, requestId: 0, bodyCapacityBytes: 112)
        let idBytes: [UInt8]
        let roleCode: UInt8
        switch role {
        case .peer(let id): (idBytes, roleCode) = ([UInt8(id)], 1)
        case .client(let keyId, _): (idBytes, roleCode) = (Array(keyId.utf8), 2)
        }
        frame.write(roleCode)
        frame.write(UInt8(idBytes.count))
        frame.write(UInt16(0))
        frame.write(UInt32(0))
        idBytes.withUnsafeBytes { frame.write(bytes: $0) }
        nonce.withUnsafeBytes { frame.write(bytes: $0) }
        transcript.proof(key, initiator: true).withUnsafeBytes { frame.write(bytes: $0) }
        return frame.seal()
    }

    /// Checks the responder's `auth_ok` (an `error` frame says why it refused) and returns the MACs.
    func finish(_ header: FrameHeader, body: ByteBuffer) throws -> SessionMACs {
        guard let transcript else { throw HandshakeError("auth_ok before hello") }
        if header.command == .error { throw HandshakeError("the replica refused the handshake: \(String(buffer: body))") }
        guard header.command == .authOk, body.readableBytes == 32 else { throw HandshakeError("expected auth_ok, got \(header.command.map { "\($0)" } ?? "?")") }
        let proof = Array(body.readableBytesView)
        guard HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: Array("responder".utf8) + transcript.bytes, using: key.symmetric) else {
            throw HandshakeError("the replica's proof does not verify: it does not hold this key")
        }
        let keys = transcript.sessionKeys(key)
        return SessionMACs(outbound: FrameMAC(key: keys.initiatorToResponder), inbound: FrameMAC(key: keys.responderToInitiator))
    }
}
