// The replica's network edge on SwiftNIO: one listening port for peers and clients, one outbound
// connection to each peer (reconnecting with back-off).
import Consensus
import Foundation
import LedgerCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// Limits of the transport, each with its unit.
public struct TransportLimits: Sendable {
    /// Accepted connections (clients and peers together); more are told why and closed.
    public var connectionsMax = 1024
    /// A connection that sends nothing for this long is closed (peers send heartbeats far more often).
    public var connectionIdleTimeoutMs: Int64 = 60_000
    /// A connection must finish its handshake (`hello`, `auth`, `auth_ok`) within this, or it is closed.
    public var handshakeTimeoutMs: Int64 = 5_000
    /// Reconnect back-off to a peer: first delay, then doubling up to the cap.
    public var reconnectBackoffInitialMs: Int64 = 20
    public var reconnectBackoffMaxMs: Int64 = 1_000

    public init() {}
}

final class Transport: @unchecked Sendable {
    let group: MultiThreadedEventLoopGroup
    let replica: Int
    let addresses: [PeerAddress]
    let clusterId: UInt128
    let limits: TransportLimits
    let inbox: Inbox
    let clusterKey: SecretKey
    let clientKeys: ClientKeys
    private var serverChannel: Channel?
    private var links: [PeerLink] = []
    private let connections = NIOLockedValueBox(0)
    /// Handshakes that failed (a wrong key, a forged frame, a stranger), and frames whose MAC did not verify.
    let authenticationFailures = NIOLockedValueBox<UInt64>(0)
    private let authenticationLog = NIOLockedValueBox(BoundedLog())

    /// TLS contexts for accepted and for opened connections, when TLS is on.
    let tlsServer: NIOSSLContext?
    let tlsClient: NIOSSLContext?

    init(replica: Int, addresses: [PeerAddress], clusterId: UInt128, limits: TransportLimits, inbox: Inbox,
         clusterKey: SecretKey, clientKeys: ClientKeys, tls: TLSFiles?) throws {
        tlsServer = try tls?.serverContext()
        tlsClient = try tls?.peerClientContext()
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.replica = replica
        self.addresses = addresses
        self.clusterId = clusterId
        self.limits = limits
        self.inbox = inbox
        self.clusterKey = clusterKey
        self.clientKeys = clientKeys
    }

    func start() throws {
        let address = addresses[replica]
        let handlerContext = ConnectionContext(
            replica: replica, replicaCount: addresses.count, clusterId: clusterId, inbox: inbox,
            connections: connections, connectionsMax: limits.connectionsMax, clusterKey: clusterKey, clientKeys: clientKeys,
            handshakeTimeout: .milliseconds(limits.handshakeTimeoutMs), authenticationFailures: authenticationFailures,
            authenticationLog: authenticationLog)
        let idleTimeout = TimeAmount.milliseconds(limits.connectionIdleTimeoutMs)
        let clusterId = self.clusterId
        let tlsServer = self.tlsServer
        serverChannel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsServer { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsServer)) }
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(clusterId: clusterId)))
                    let signer = FrameSigner()
                    try channel.pipeline.syncOperations.addHandler(signer)
                    try channel.pipeline.syncOperations.addHandler(ConnectionHandler(handlerContext, signer: signer))
                }
            }
            .bind(host: address.host, port: address.port).wait()
        for peer in addresses.indices where peer != replica {
            let link = PeerLink(peer: peer, address: addresses[peer], group: group, limits: limits, tls: tlsClient,
                                handshake: { InitiatorHandshake(clusterId: clusterId, role: .peer(self.replica), key: self.clusterKey) },
                                logFailure: { line in FileHandle.standardError.write(Data("replica \(self.replica): \(line)\n".utf8)) })
            links.append(link)
            link.connect()
        }
    }

    /// Sends a frame to a peer if connected; otherwise drops it (Raft retries what matters).
    func send(to peer: Int, _ frame: ByteBuffer) {
        links.first { $0.peer == peer }?.send(frame)
    }

    /// Sends a frame to a peer and waits until it is written to the socket (or fails): for a bulk
    /// sender off the event loop (a snapshot's chunks), so it never queues more than one frame.
    /// Returns false when the peer is not connected or the write failed.
    func sendAndWait(to peer: Int, _ frame: ByteBuffer) -> Bool {
        links.first { $0.peer == peer }?.sendAndWait(frame) ?? false
    }

    /// Whether the outbound connection to `peer` is up right now.
    func isConnected(to peer: Int) -> Bool {
        links.first { $0.peer == peer }?.isConnected ?? false
    }

    /// Sends a frame to every peer that is connected.
    func broadcast(_ frame: ByteBuffer) {
        for link in links { link.send(frame) }
    }

    func shutdown() {
        for link in links { link.stop() }
        try? serverChannel?.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// What every accepted connection's handler needs.
struct ConnectionContext: @unchecked Sendable {
    let replica: Int
    let replicaCount: Int
    let clusterId: UInt128
    let inbox: Inbox
    let connections: NIOLockedValueBox<Int>
    let connectionsMax: Int
    let clusterKey: SecretKey
    let clientKeys: ClientKeys
    let handshakeTimeout: TimeAmount
    let authenticationFailures: NIOLockedValueBox<UInt64>
    let authenticationLog: NIOLockedValueBox<BoundedLog>
}

/// One accepted connection. First the handshake (`ResponderHandshake`): `hello` is sent at once,
/// the first frame must be the initiator's `auth`, and nothing else is decoded until it proves
/// its role; then every frame must carry a MAC that verifies (`FrameMAC`), and what a frame may
/// ask depends on the role proved: Raft and snapshot traffic only from a peer, and only under
/// its own index; requests only from a client, submits only with a write key. Anything that
/// cannot be trusted gets an `error` frame saying why, then the connection closes (a failed
/// handshake is logged, without secrets, and counted); other connections are untouched.
final class ConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer
    let context: ConnectionContext
    let signer: FrameSigner
    private var counted = false

    private enum Phase {
        case handshaking(ResponderHandshake)
        case authenticated(ConnectionRole, inbound: FrameMAC)
        case closing
    }
    private var phase: Phase
    private var handshakeDeadline: Scheduled<Void>?

    init(_ context: ConnectionContext, signer: FrameSigner) {
        self.context = context
        self.signer = signer
        phase = .handshaking(ResponderHandshake(clusterId: context.clusterId, replica: context.replica, replicaCount: context.replicaCount,
                                                clusterKey: context.clusterKey, clientKeys: context.clientKeys))
    }

    func channelActive(context channelContext: ChannelHandlerContext) {
        let count = context.connections.withLockedValue { value -> Int in value += 1; return value }
        counted = true
        if count > context.connectionsMax {
            refuse(channelContext, "too many connections (connections_max is \(context.connectionsMax))", requestId: 0)
        } else if case .handshaking(let handshake) = phase {
            channelContext.writeAndFlush(wrapOutboundOut(handshake.hello()), promise: nil)
            let loopBound = NIOLoopBound((self, channelContext), eventLoop: channelContext.eventLoop)
            handshakeDeadline = channelContext.eventLoop.scheduleTask(in: context.handshakeTimeout) {
                let (handler, channelContext) = loopBound.value
                if case .handshaking = handler.phase { handler.failAuthentication(channelContext, "no handshake within handshake_timeout_ms") }
            }
        }
        channelContext.fireChannelActive()
    }

    func channelInactive(context channelContext: ChannelHandlerContext) {
        if counted { context.connections.withLockedValue { $0 -= 1 } }
        counted = false
        handshakeDeadline?.cancel()
        channelContext.fireChannelInactive()
    }

    func channelRead(context channelContext: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch phase {
        case .closing:
            return
        case .handshaking(let handshake):
            do {
                let (role, authOk, macs) = try handshake.accept(frame)
                handshakeDeadline?.cancel()
                channelContext.writeAndFlush(wrapOutboundOut(authOk), promise: nil)
                // Every frame after auth_ok is signed, in the order written.
                signer.start(macs.outbound)
                phase = .authenticated(role, inbound: macs.inbound)
            } catch {
                failAuthentication(channelContext, "\(error)")
            }
        case .authenticated(let role, var inbound):
            let verified = frame.body.withUnsafeReadableBytes { inbound.verify(frame.header, body: $0) }
            guard verified else {
                failAuthentication(channelContext, "a frame's MAC does not verify (changed, dropped or replayed in transit)")
                return
            }
            phase = .authenticated(role, inbound: inbound)
            dispatch(frame, role: role, channelContext: channelContext)
        }
    }

    /// A frame of an authenticated connection, to the inbox if its role may send it.
    private func dispatch(_ frame: Frame, role: ConnectionRole, channelContext: ChannelHandlerContext) {
        let client = ClientConnection(channel: channelContext.channel)
        let requestId = frame.header.requestId
        do {
            let command = frame.header.command!
            switch (command, role) {
            case (.raft, .peer(let peer)):
                let message = try frame.body.withUnsafeReadableBytes {
                    try RaftMessageCodec.decode($0, localId: context.replica, replicaCount: context.replicaCount, clusterId: context.clusterId)
                }
                guard message.from == peer else { throw WireError.badBody("peer \(peer) sent a message as replica \(message.from)") }
                context.inbox.push(.raft(message))
            case (.snapshotDigest, .peer(let peer)):
                let message = try frame.body.withUnsafeReadableBytes {
                    try SnapshotDigestMessage.decode($0, localId: context.replica, replicaCount: context.replicaCount)
                }
                guard message.from == peer else { throw WireError.badBody("peer \(peer) sent a digest as replica \(message.from)") }
                context.inbox.push(.peerSnapshotDigest(message))
            case (.snapshotChunk, .peer(let peer)):
                let chunk = try frame.body.withUnsafeReadableBytes {
                    try SnapshotChunkMessage.decode($0, localId: context.replica, replicaCount: context.replicaCount)
                }
                guard chunk.from == peer else { throw WireError.badBody("peer \(peer) sent a snapshot chunk as replica \(chunk.from)") }
                context.inbox.push(.snapshotChunk(chunk))
            case (.submit, .client(_, let scope)):
                guard scope == .write else {
                    client.send(ClientMessages.error("forbidden: this client key may only read", clusterId: context.clusterId, requestId: requestId))
                    return
                }
                switch frame.body.withUnsafeReadableBytes({ ClientMessages.decodeSubmit($0) }) {
                case .success(let records): context.inbox.push(.submit(client, requestId: requestId, records: records))
                case .failure(let refused): client.send(ClientMessages.error("\(refused.status): \(refused.message)", clusterId: context.clusterId, requestId: requestId))
                }
            case (.lookupAccounts, .client):
                switch frame.body.withUnsafeReadableBytes({ ClientMessages.decodeLookupAccounts($0) }) {
                case .success(let ids): context.inbox.push(.lookupAccounts(client, requestId: requestId, ids: ids))
                case .failure(let refused): client.send(ClientMessages.error("\(refused.status): \(refused.message)", clusterId: context.clusterId, requestId: requestId))
                }
            case (.status, .client):
                context.inbox.push(.status(client, requestId: requestId))
            default:
                throw WireError.badBody("\(role) may not send \(command) frames")
            }
        } catch {
            refuse(channelContext, "\(error)", requestId: requestId)
        }
    }

    /// A handshake that failed, or a frame whose MAC does not verify: logged without secrets,
    /// counted, answered with why (unsigned: the other side may hold no key), and closed.
    private func failAuthentication(_ channelContext: ChannelHandlerContext, _ reason: String) {
        context.authenticationFailures.withLockedValue { $0 += 1 }
        let remote = channelContext.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let line = "authentication FAILED for \(remote): \(reason)"
        if let admitted = context.authenticationLog.withLockedValue({ $0.admit(line, nowNs: DispatchTime.now().uptimeNanoseconds) }) {
            FileHandle.standardError.write(Data("replica \(context.replica): \(admitted)\n".utf8))
        }
        if case .authenticated = phase {
            refuse(channelContext, "authentication failed: \(reason)", requestId: 0)
        } else {
            phase = .closing
            channelContext.writeAndFlush(wrapOutboundOut(ClientMessages.error("authentication failed: \(reason)", clusterId: context.clusterId, requestId: 0)))
                .whenComplete { _ in channelContext.close(promise: nil) }
        }
    }

    func errorCaught(context channelContext: ChannelHandlerContext, error: Error) {
        if let wire = error as? WireError {
            // Bytes that are not even a frame before the handshake: a failed handshake too.
            if case .handshaking = phase { return failAuthentication(channelContext, wire.description) }
            guard case .closing = phase else { return refuse(channelContext, wire.description, requestId: 0) }
        } else {
            channelContext.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context channelContext: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            refuse(channelContext, "idle for connection_idle_timeout_ms", requestId: 0)
        } else {
            channelContext.fireUserInboundEventTriggered(event)
        }
    }

    private func refuse(_ channelContext: ChannelHandlerContext, _ message: String, requestId: UInt64) {
        phase = .closing
        let frame = ClientMessages.error(message, clusterId: context.clusterId, requestId: requestId)
        channelContext.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in channelContext.close(promise: nil) }
    }
}

/// The outbound connection to one peer. Sends are fire-and-forget; while disconnected they are
/// dropped, and the link reconnects with exponential back-off.
final class PeerLink: @unchecked Sendable {
    let peer: Int
    let address: PeerAddress
    let group: EventLoopGroup
    let limits: TransportLimits
    let handshake: @Sendable () -> InitiatorHandshake
    let logFailure: @Sendable (String) -> Void
    let tls: NIOSSLContext?
    private let state = NIOLockedValueBox<(channel: Channel?, stopped: Bool, backoffMs: Int64)>((nil, false, 0))

    init(peer: Int, address: PeerAddress, group: EventLoopGroup, limits: TransportLimits, tls: NIOSSLContext?,
         handshake: @escaping @Sendable () -> InitiatorHandshake, logFailure: @escaping @Sendable (String) -> Void) {
        self.tls = tls
        self.peer = peer
        self.address = address
        self.group = group
        self.limits = limits
        self.handshake = handshake
        self.logFailure = logFailure
    }

    /// Connects, authenticates (`PeerHandshakeHandler`), and only then takes sends; a failure or a
    /// close reconnects with back-off.
    func connect() {
        if state.withLockedValue({ $0.stopped }) { return }
        let timeout = TimeAmount.milliseconds(limits.handshakeTimeoutMs)
        let future = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.milliseconds(500))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let signer = FrameSigner()
                    if let tls = self.tls { try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: nil)) }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(clusterId: self.handshake().clusterId)))
                    try channel.pipeline.syncOperations.addHandler(signer)
                    try channel.pipeline.syncOperations.addHandler(PeerHandshakeHandler(
                        handshake: self.handshake(), peer: self.peer, signer: signer, timeout: timeout,
                        authenticated: { channel in self.authenticated(channel) }, log: self.logFailure))
                }
            }
            .connect(host: address.host, port: address.port)
        future.whenSuccess { channel in
            channel.closeFuture.whenComplete { _ in
                self.state.withLockedValue { if $0.channel === channel { $0.channel = nil } }
                self.scheduleReconnect()
            }
        }
        future.whenFailure { _ in self.scheduleReconnect() }
    }

    private func authenticated(_ channel: Channel) {
        let keep = state.withLockedValue { state -> Bool in
            if state.stopped { return false }
            state.channel = channel
            state.backoffMs = 0
            return true
        }
        if !keep { channel.close(promise: nil) }
    }

    private func scheduleReconnect() {
        let delay = state.withLockedValue { state -> Int64? in
            if state.stopped { return nil }
            state.backoffMs = state.backoffMs == 0 ? limits.reconnectBackoffInitialMs : min(state.backoffMs * 2, limits.reconnectBackoffMaxMs)
            return state.backoffMs
        }
        guard let delay else { return }
        group.next().scheduleTask(in: .milliseconds(delay)) { self.connect() }
    }

    func send(_ frame: ByteBuffer) {
        guard let channel = state.withLockedValue({ $0.channel }) else { return }
        channel.writeAndFlush(frame, promise: nil)
    }

    var isConnected: Bool { state.withLockedValue { $0.channel != nil } }

    func sendAndWait(_ frame: ByteBuffer) -> Bool {
        guard let channel = state.withLockedValue({ $0.channel }) else { return false }
        do {
            try channel.writeAndFlush(frame).wait()
            return true
        } catch {
            return false
        }
    }

    func stop() {
        let channel = state.withLockedValue { state -> Channel? in
            state.stopped = true
            return state.channel
        }
        try? channel?.close().wait()
    }
}
