// The blocking byte streams a client's `FrameConnection` runs over: a plain socket, or TLS on NIO.
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif

/// Bytes to and from one replica, every call bounded by the stream's timeout.
protocol ByteStream: AnyObject {
    func send(_ bytes: UnsafeRawBufferPointer) throws
    /// At least one byte; empty when the replica closed the connection.
    func receive(upTo count: Int) throws -> [UInt8]
    func close()
}

/// A plain TCP socket, with SO_RCVTIMEO/SNDTIMEO and a polled connect.
final class SocketStream: ByteStream {
    let address: PeerAddress
    private var fd: Int32

    init(address: PeerAddress, timeoutMs: Int) throws {
        self.address = address
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ConnectionError(address: address, message: "socket: \(String(cString: strerror(errno)))") }
        do {
            try connect(timeoutMs: timeoutMs)
        } catch {
            close()
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

    func send(_ bytes: UnsafeRawBufferPointer) throws {
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

    func receive(upTo count: Int) throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: count)
        while true {
            let received = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if received >= 0 { return Array(chunk[0..<received]) }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw ConnectionError(address: address, message: "no reply within the request timeout") }
            throw fail("recv")
        }
    }
}

/// TLS (swift-nio-ssl) on a NIO channel, behind the same blocking calls: writes wait until they
/// are on the socket, reads wait on what the channel has delivered, each up to the timeout.
final class TLSStream: ByteStream, @unchecked Sendable {
    let address: PeerAddress
    private let timeoutMs: Int
    private let channel: Channel
    private let inbound: InboundBytes

    /// Received bytes, and the end or the error that closed the stream, handed across threads.
    final class InboundBytes: @unchecked Sendable {
        let condition = NSCondition()
        var bytes: [UInt8] = []
        var closed = false
        var error: Error?
    }

    private final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let inbound: InboundBytes
        init(_ inbound: InboundBytes) { self.inbound = inbound }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            inbound.condition.lock()
            inbound.bytes.append(contentsOf: buffer.readableBytesView)
            inbound.condition.signal()
            inbound.condition.unlock()
        }

        func channelInactive(context: ChannelHandlerContext) { finish(nil) }
        func errorCaught(context: ChannelHandlerContext, error: Error) {
            finish(error)
            context.close(promise: nil)
        }

        private func finish(_ error: Error?) {
            inbound.condition.lock()
            inbound.closed = true
            if inbound.error == nil { inbound.error = error }
            inbound.condition.signal()
            inbound.condition.unlock()
        }
    }

    init(address: PeerAddress, timeoutMs: Int, context: NIOSSLContext) throws {
        self.address = address
        self.timeoutMs = timeoutMs
        let inbound = InboundBytes()
        self.inbound = inbound
        do {
            channel = try ClientBootstrap(group: NIOSingletons.posixEventLoopGroup)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.milliseconds(Int64(timeoutMs)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                        try channel.pipeline.syncOperations.addHandler(Collector(inbound))
                    }
                }
                .connect(host: address.host, port: address.port).wait()
        } catch {
            throw ConnectionError(address: address, message: "connect (TLS): \(error)")
        }
    }

    deinit { close() }

    func close() { channel.close(promise: nil) }

    func send(_ bytes: UnsafeRawBufferPointer) throws {
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        do {
            try channel.writeAndFlush(buffer).wait()
        } catch {
            throw ConnectionError(address: address, message: "send (TLS): \(inboundError() ?? error)")
        }
    }

    private func inboundError() -> Error? {
        inbound.condition.lock()
        defer { inbound.condition.unlock() }
        return inbound.error
    }

    func receive(upTo count: Int) throws -> [UInt8] {
        let deadline = Date(timeIntervalSinceNow: Double(timeoutMs) / 1000)
        inbound.condition.lock()
        defer { inbound.condition.unlock() }
        while inbound.bytes.isEmpty && !inbound.closed {
            guard inbound.condition.wait(until: deadline) else {
                throw ConnectionError(address: address, message: "no reply within the request timeout")
            }
        }
        if inbound.bytes.isEmpty {
            if let error = inbound.error { throw ConnectionError(address: address, message: "TLS: \(error)") }
            return []
        }
        let taken = Array(inbound.bytes.prefix(count))
        inbound.bytes.removeFirst(taken.count)
        return taken
    }
}
