// A blocking TCP connection that sends and receives frames, with timeouts: the client's transport.
import LedgerCore
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

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
    private var fd: Int32
    private var inbound: [UInt8] = []
    private var inboundStart = 0
    private var macs: SessionMACs?

    /// `asPeer`: authenticate as that replica of the cluster (with the cluster key), for tests of
    /// what a key holder can and cannot make a replica do; otherwise as a client.
    init(address: PeerAddress, clusterId: UInt128, timeoutMs: Int, key: SecretKey?, asPeer: Int? = nil) throws {
        self.address = address
        self.clusterId = clusterId
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ConnectionError(address: address, message: "socket: \(String(cString: strerror(errno)))") }
        do {
            try connect(timeoutMs: timeoutMs)
            if let key { try authenticate(key, role: asPeer.map { .peer($0) } ?? .client(keyId: key.id, scope: .write)) }
        } catch {
            Glibc.close(fd)
            fd = -1
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

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    private func fail(_ what: String) -> ConnectionError {
        ConnectionError(address: address, message: "\(what): \(String(cString: strerror(errno)))")
    }

    private func connect(timeoutMs: Int) throws {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: timeoutMs / 1000, tv_usec: (timeoutMs % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = in_port_t(UInt16(address.port).bigEndian)
        guard inet_pton(AF_INET, address.host, &socketAddress.sin_addr) == 1 else {
            throw ConnectionError(address: address, message: "not an IPv4 address")
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        let result = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 {
            guard errno == EINPROGRESS else { throw fail("connect") }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&poller, 1, Int32(timeoutMs))
            guard ready == 1 else { throw ConnectionError(address: address, message: "connect timed out after \(timeoutMs) ms") }
            var socketError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
            guard socketError == 0 else {
                throw ConnectionError(address: address, message: "connect: \(String(cString: strerror(socketError)))")
            }
        }
        _ = fcntl(fd, F_SETFL, flags)
    }

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
        try frame.withUnsafeReadableBytes { bytes in
            var sent = 0
            while sent < bytes.count {
                let count = Glibc.send(fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
                if count < 0 {
                    if errno == EINTR { continue }
                    throw fail("send")
                }
                sent += count
            }
        }
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
            var chunk = [UInt8](repeating: 0, count: max(65_536, count - (inbound.count - inboundStart)))
            let received = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if received == 0 { throw ConnectionError(address: address, message: "connection closed by the replica") }
            if received < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw ConnectionError(address: address, message: "no reply within the request timeout") }
                throw fail("recv")
            }
            inbound.append(contentsOf: chunk[0..<received])
        }
    }
}
