// Mutual authentication at connection start, and the keys that then sign every frame.
import Crypto
import Foundation
import LedgerCore
import NIOCore

/// Who opened a connection, as its handshake proved it: a peer replica (with the cluster key), or
/// a client holding the key named (the cluster key itself, id `cluster`, or a client key).
public enum ConnectionRole: Equatable, Sendable, CustomStringConvertible {
    case peer(Int)
    case client(keyId: String, scope: ClientScope)

    public var description: String {
        switch self {
        case .peer(let id): return "peer \(id)"
        case .client(let keyId, let scope): return "client '\(keyId)' (\(scope.rawValue))"
        }
    }
}

/// The handshake, three frames before anything else on a connection:
///
/// 1. responder → initiator `hello`: its replica index and a fresh 32-byte nonce. The frame's
///    header names the responder's cluster, so a client given the wrong `--cluster` can say which.
/// 2. initiator → responder `auth`: its role (peer N, or client with a key id), its own fresh
///    nonce, and `HMAC-SHA256(key, "initiator" ‖ transcript)`.
/// 3. responder → initiator `auth_ok`: `HMAC-SHA256(key, "responder" ‖ transcript)`.
///
/// The transcript binds the cluster id, the responder's index, the role and id claimed, and both
/// nonces: a proof is good for this connection only (a replayed `auth` meets a new nonce), for this
/// role only (a client key never proves a peer: peers prove the cluster key, and the role is in the
/// transcript), and each side's proof differs from the other's (no reflection). Nothing but the
/// handshake is decoded before it succeeds. Both sides then derive one key per direction from the
/// transcript, and every later frame carries a MAC under it (`FrameMAC`).
struct HandshakeTranscript {
    static let label = Array("wallet-handshake-v1".utf8)
    static let nonceSizeBytes = 32

    let bytes: [UInt8]

    init(clusterId: UInt128, responderReplica: Int, role: ConnectionRole, responderNonce: [UInt8], initiatorNonce: [UInt8]) {
        precondition(responderNonce.count == HandshakeTranscript.nonceSizeBytes && initiatorNonce.count == HandshakeTranscript.nonceSizeBytes)
        var bytes = HandshakeTranscript.label
        withUnsafeBytes(of: clusterId.littleEndian) { bytes += $0 }
        bytes.append(UInt8(responderReplica))
        switch role {
        case .peer(let id):
            bytes += [1, UInt8(id)]
        case .client(let keyId, _):
            bytes += [2, UInt8(keyId.utf8.count)] + Array(keyId.utf8)
        }
        self.bytes = bytes + responderNonce + initiatorNonce
    }

    func proof(_ key: SecretKey, initiator: Bool) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array((initiator ? "initiator" : "responder").utf8) + bytes, using: key.symmetric))
    }

    /// The two directions' frame keys.
    func sessionKeys(_ key: SecretKey) -> (initiatorToResponder: SymmetricKey, responderToInitiator: SymmetricKey) {
        let session = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array("session".utf8) + bytes, using: key.symmetric))
        func derive(_ label: String) -> SymmetricKey { SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(label.utf8), using: session)) }
        return (derive("initiator-to-responder"), derive("responder-to-initiator"))
    }

    static func nonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<nonceSizeBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}

/// One direction of an authenticated connection: every frame's header carries, where the reserved
/// bytes 48..<64 were, the first 16 bytes of `HMAC-SHA256(key, sequence ‖ header[4..<48] ‖ body)`,
/// `sequence` counting this direction's frames from 0. A frame changed, dropped, replayed or
/// reordered in transit fails the check (its sequence is not the one expected), TLS or not.
struct FrameMAC {
    static let tagOffset = 48
    private let key: SymmetricKey
    private(set) var sequence: UInt64 = 0

    init(key: SymmetricKey) { self.key = key }

    private func tag(sequence: UInt64, headerBytes: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) -> UInt128 {
        var mac = HMAC<SHA256>(key: key)
        withUnsafeBytes(of: sequence.littleEndian) { mac.update(data: $0) }
        mac.update(data: UnsafeRawBufferPointer(rebasing: headerBytes[4..<FrameMAC.tagOffset]))
        mac.update(data: body)
        return Data(mac.finalize()).withUnsafeBytes { $0.loadUnaligned(as: UInt128.self) }
    }

    /// Signs a sealed frame (header and body in `frame`) as the next of this direction.
    mutating func sign(_ frame: inout ByteBuffer) {
        precondition(frame.readableBytes >= FrameHeader.sizeBytes, "only whole frames are signed")
        let start = frame.readerIndex
        let value = frame.withUnsafeReadableBytes { bytes in
            tag(sequence: sequence, headerBytes: UnsafeRawBufferPointer(rebasing: bytes[0..<FrameHeader.sizeBytes]),
                body: UnsafeRawBufferPointer(rebasing: bytes[FrameHeader.sizeBytes...]))
        }
        sequence += 1
        frame.setInteger(UInt64(truncatingIfNeeded: value), at: start + FrameMAC.tagOffset, endianness: .little)
        frame.setInteger(UInt64(truncatingIfNeeded: value >> 64), at: start + FrameMAC.tagOffset + 8, endianness: .little)
        let checksum = frame.withUnsafeReadableBytes { Checksum.crc32c(UnsafeRawBufferPointer(rebasing: $0[4..<FrameHeader.sizeBytes])) }
        frame.setInteger(checksum, at: start, endianness: .little)
    }

    /// Whether `header` and `body` are the next frame of this direction, unchanged.
    mutating func verify(_ header: FrameHeader, body: UnsafeRawBufferPointer) -> Bool {
        let expected = withUnsafeBytes(of: header) { tag(sequence: sequence, headerBytes: $0, body: body) }
        // Compared whole, without an early exit: the time says nothing about the tag.
        let matches = (expected ^ header.mac) == 0
        if matches { sequence += 1 }
        return matches
    }
}
