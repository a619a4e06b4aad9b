// A blocking TCP connection that sends and receives frames, with timeouts: the client's transport.
import LedgerCore
import NIOCore
import NIOSSL

/// Why a connection failed: connect, send, receive, timeout, or a frame that fails its checks.
public struct ConnectionError: Error, CustomStringConvertible {
    public let address: PeerAddress
    public let message: String
    public var description: String { "\(address): \(message)" }
}

/// One socket to one replica. Blocking calls, bounded by `timeoutMs` each (SO_RCVTIMEO/SNDTIMEO
/// and a polled connect), so a hung replica costs a timeout, never a hang.
///
/// With a key, the connection authenticates as a client holding it before anything else (the
/// replica's `hello`, our `auth`, its `auth_ok`: `InitiatorHandshake`), and from then on every
/// frame sent is signed and every frame received must verify. Without one (tests of what a
/// stranger can do) it speaks raw frames, which a replica answers only with a refusal.
final class FrameConnection {
    let address: PeerAddress
    let clusterId: UInt128
    private let stream: ByteStream
    private var inbound: [UInt8] = []
    private var inboundStart = 0
    private var macs: SessionMACs?

    /// `asPeer`: authenticate as that replica of the cluster (with the cluster key), for tests of
    /// what a key holder can and cannot make a replica do; otherwise as a client.
    /// `tls`: a client TLS context (the replica's certificate checked against its CA), or plain TCP.
    init(address: PeerAddress, clusterId: UInt128, timeoutMs: Int, key: SecretKey?, asPeer: Int? = nil, tls: NIOSSLContext? = nil) throws {
        self.address = address
        self.clusterId = clusterId
        stream = try tls.map { try TLSStream(address: address, timeoutMs: timeoutMs, context: $0) } ?? SocketStream(address: address, timeoutMs: timeoutMs)
        do {
            if let key { try authenticate(key, role: asPeer.map { .peer($0) } ?? .client(keyId: key.id, scope: .write)) }
        } catch {
            stream.close()
            throw error
        }
    }

    /// The handshake as a client holding `key`. A refusal (a wrong key, another cluster) throws
    /// `ClientError.refused`, which no retry can cure; a lost connection throws `ConnectionError`.
    private func authenticate(_ key: SecretKey, role: ConnectionRole) throws {
        var handshake = InitiatorHandshake(clusterId: clusterId, role: role, key: key)
        do {
            let (helloHeader, helloBody) = try receiveFrame(checkingCluster: false)
            if helloHeader.command == .error { throw HandshakeError("the replica refused the connection: \(String(decoding: helloBody, as: UTF8.self))") }
            var body = ByteBufferAllocator().buffer(capacity: helloBody.count)
            body.writeBytes(helloBody)
            try send(try handshake.auth(replying: helloHeader, body: body, expectedReplica: nil))
            let (okHeader, okBody) = try receiveFrame(checkingCluster: true)
            var reply = ByteBufferAllocator().buffer(capacity: okBody.count)
            reply.writeBytes(okBody)
            macs = try handshake.finish(okHeader, body: reply)
        } catch let error as HandshakeError {
            throw ClientError.refused("\(address): \(error.message)")
        }
    }

    deinit { close() }

    func close() { stream.close() }

    func send(_ frame: ByteBuffer) throws {
        var frame = frame
        if var macs {
            macs.outbound.sign(&frame)
            self.macs = macs
        }
        try sendUnsigned(frame)
    }

    /// Bytes as they are, unsigned (for tests of what arrives cut short or forged).
    func sendUnsigned(_ frame: ByteBuffer) throws {
        try frame.withUnsafeReadableBytes { try stream.send($0) }
    }

    /// The next whole frame: its header and body bytes, both checked, and after the handshake its MAC.
    func receive() throws -> (FrameHeader, [UInt8]) {
        let (header, body) = try receiveFrame(checkingCluster: true)
        if var macs {
            guard body.withUnsafeBytes({ macs.inbound.verify(header, body: $0) }) else {
                throw ConnectionError(address: address, message: "a reply's MAC does not verify (changed in transit, or not from the replica)")
            }
            self.macs = macs
        }
        return (header, body)
    }

    /// The next frame, its checksums checked; the cluster too unless `checkingCluster` is false
    /// (the replica's `hello` names its own cluster, so a wrong `--cluster` can be said plainly).
    private func receiveFrame(checkingCluster: Bool) throws -> (FrameHeader, [UInt8]) {
        try fill(FrameHeader.sizeBytes)
        let header = try inbound.withUnsafeBytes { bytes -> FrameHeader in
            let window = UnsafeRawBufferPointer(rebasing: bytes[inboundStart..<(inboundStart + FrameHeader.sizeBytes)])
            let candidate = window.loadUnaligned(as: FrameHeader.self)
            if let problem = FrameHeader.problem(in: window, clusterId: checkingCluster ? clusterId : candidate.clusterId) {
                throw ConnectionError(address: address, message: problem.description)
            }
            return candidate
        }
        let total = FrameHeader.sizeBytes + Int(header.bodySizeBytes)
        try fill(total)
        let body = Array(inbound[(inboundStart + FrameHeader.sizeBytes)..<(inboundStart + total)])
        inboundStart += total
        guard body.withUnsafeBytes({ Checksum.crc32c($0) }) == header.bodyChecksum else {
            throw ConnectionError(address: address, message: "reply body checksum mismatch")
        }
        return (header, body)
    }

    private func fill(_ count: Int) throws {
        if inboundStart > 0 && inbound.count - inboundStart < count {
            inbound.removeFirst(inboundStart)
            inboundStart = 0
        }
        while inbound.count - inboundStart < count {
            let received = try stream.receive(upTo: max(65_536, count - (inbound.count - inboundStart)))
            if received.isEmpty { throw ConnectionError(address: address, message: "connection closed by the replica") }
            inbound.append(contentsOf: received)
        }
    }
}
