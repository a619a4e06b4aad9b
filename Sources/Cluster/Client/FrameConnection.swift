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
final class FrameConnection {
    let address: PeerAddress
    let clusterId: UInt128
    private var fd: Int32
    private var inbound: [UInt8] = []
    private var inboundStart = 0

    init(address: PeerAddress, clusterId: UInt128, timeoutMs: Int) throws {
        self.address = address
        self.clusterId = clusterId
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ConnectionError(address: address, message: "socket: \(String(cString: strerror(errno)))") }
        do {
            try connect(timeoutMs: timeoutMs)
        } catch {
            Glibc.close(fd)
            throw error
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

    /// The next whole frame: its header and body bytes, both checked.
    func receive() throws -> (FrameHeader, [UInt8]) {
        try fill(FrameHeader.sizeBytes)
        let header = try inbound.withUnsafeBytes { bytes -> FrameHeader in
            let window = UnsafeRawBufferPointer(rebasing: bytes[inboundStart..<(inboundStart + FrameHeader.sizeBytes)])
            if let problem = FrameHeader.problem(in: window, clusterId: clusterId) {
                throw ConnectionError(address: address, message: problem.description)
            }
            return window.loadUnaligned(as: FrameHeader.self)
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
