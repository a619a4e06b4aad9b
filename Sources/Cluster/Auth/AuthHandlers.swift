// The handshake and frame MACs in NIO pipelines: signing what goes out, and a peer link's handshake.
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Signs every outbound frame with the connection's outbound `FrameMAC` once the handshake has
/// started it; before that (the handshake's own frames) frames pass unsigned. Frames are signed
/// in the order they are written, which is the order the other side checks them in.
final class FrameSigner: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var mac: FrameMAC?

    /// On the channel's event loop, after the last unsigned frame was written.
    func start(_ mac: FrameMAC) {
        precondition(self.mac == nil, "a connection's frame keys are set once")
        self.mac = mac
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard var mac else { return context.write(data, promise: promise) }
        var frame = unwrapOutboundIn(data)
        mac.sign(&frame)
        self.mac = mac
        context.write(wrapOutboundOut(frame), promise: promise)
    }
}

/// A replica's outbound connection to a peer: answers the peer's `hello` with `auth` as
/// `peer <own index>`, checks its `auth_ok`, then starts signing and reports the channel usable.
/// Peers answer on their own outbound connections, so after the handshake whatever arrives (an
/// `error` before the peer closes) is only logged.
final class PeerHandshakeHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer
    private var handshake: InitiatorHandshake
    private let peer: Int
    private let signer: FrameSigner
    private let timeout: TimeAmount
    private let authenticated: @Sendable (Channel) -> Void
    private let log: @Sendable (String) -> Void
    private var state = 0  // 0: waiting for hello, 1: waiting for auth_ok, 2: authenticated
    private var deadline: Scheduled<Void>?

    init(handshake: InitiatorHandshake, peer: Int, signer: FrameSigner, timeout: TimeAmount,
         authenticated: @escaping @Sendable (Channel) -> Void, log: @escaping @Sendable (String) -> Void) {
        self.handshake = handshake
        self.peer = peer
        self.signer = signer
        self.timeout = timeout
        self.authenticated = authenticated
        self.log = log
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        let peer = self.peer
        let log = self.log
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            log("the handshake with replica \(peer) did not finish within handshake_timeout_ms: reconnecting")
            channel.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        do {
            switch state {
            case 0:
                let auth = try handshake.auth(replying: frame.header, body: frame.body, expectedReplica: peer)
                context.writeAndFlush(wrapOutboundOut(auth), promise: nil)
                state = 1
            case 1:
                let macs = try handshake.finish(frame.header, body: frame.body)
                signer.start(macs.outbound)
                state = 2
                deadline?.cancel()
                authenticated(context.channel)
            default:
                if frame.header.command == .error { log("replica \(peer) said: \(String(buffer: frame.body))") }
            }
        } catch {
            log("authentication with replica \(peer) FAILED: \(error)")
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        log("the connection to replica \(peer) failed: \(error)")
        context.close(promise: nil)
    }
}
