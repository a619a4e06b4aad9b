// The replica's network edge on SwiftNIO: one listening port for peers and clients, one outbound
// connection to each peer (reconnecting with back-off).
import Consensus
import Foundation
import LedgerCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Limits of the transport, each with its unit.
public struct TransportLimits: Sendable {
    /// Accepted connections (clients and peers together); more are told why and closed.
    public var connectionsMax = 1024
    /// A connection that sends nothing for this long is closed (peers send heartbeats far more often).
    public var connectionIdleTimeoutMs: Int64 = 60_000
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
    private var serverChannel: Channel?
    private var links: [PeerLink] = []
    private let connections = NIOLockedValueBox(0)

    init(replica: Int, addresses: [PeerAddress], clusterId: UInt128, limits: TransportLimits, inbox: Inbox) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.replica = replica
        self.addresses = addresses
        self.clusterId = clusterId
        self.limits = limits
        self.inbox = inbox
    }

    func start() throws {
        let address = addresses[replica]
        let handlerContext = ConnectionContext(
            replica: replica, replicaCount: addresses.count, clusterId: clusterId, inbox: inbox,
            connections: connections, connectionsMax: limits.connectionsMax)
        let idleTimeout = TimeAmount.milliseconds(limits.connectionIdleTimeoutMs)
        let clusterId = self.clusterId
        serverChannel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(clusterId: clusterId)))
                    try channel.pipeline.syncOperations.addHandler(ConnectionHandler(handlerContext))
                }
            }
            .bind(host: address.host, port: address.port).wait()
        for peer in addresses.indices where peer != replica {
            let link = PeerLink(peer: peer, address: addresses[peer], group: group, limits: limits)
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
}

/// One accepted connection: decodes requests and Raft messages into the inbox. Anything that
/// cannot be trusted gets an `error` frame saying why, then the connection closes; other
/// connections are untouched.
final class ConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer
    let context: ConnectionContext
    private var counted = false

    init(_ context: ConnectionContext) { self.context = context }

    func channelActive(context channelContext: ChannelHandlerContext) {
        let count = context.connections.withLockedValue { value -> Int in value += 1; return value }
        counted = true
        if count > context.connectionsMax {
            refuse(channelContext, "too many connections (connections_max is \(context.connectionsMax))", requestId: 0)
        }
        channelContext.fireChannelActive()
    }

    func channelInactive(context channelContext: ChannelHandlerContext) {
        if counted { context.connections.withLockedValue { $0 -= 1 } }
        counted = false
        channelContext.fireChannelInactive()
    }

    func channelRead(context channelContext: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let client = ClientConnection(channel: channelContext.channel)
        let requestId = frame.header.requestId
        do {
            switch frame.header.command! {
            case .raft:
                let message = try frame.body.withUnsafeReadableBytes {
                    try RaftMessageCodec.decode($0, localId: context.replica, replicaCount: context.replicaCount, clusterId: context.clusterId)
                }
                context.inbox.push(.raft(message))
            case .snapshotDigest:
                let message = try frame.body.withUnsafeReadableBytes {
                    try SnapshotDigestMessage.decode($0, localId: context.replica, replicaCount: context.replicaCount)
                }
                context.inbox.push(.peerSnapshotDigest(message))
            case .snapshotChunk:
                let chunk = try frame.body.withUnsafeReadableBytes {
                    try SnapshotChunkMessage.decode($0, localId: context.replica, replicaCount: context.replicaCount)
                }
                context.inbox.push(.snapshotChunk(chunk))
            case .submit:
                switch frame.body.withUnsafeReadableBytes({ ClientMessages.decodeSubmit($0) }) {
                case .success(let records): context.inbox.push(.submit(client, requestId: requestId, records: records))
                case .failure(let refused): client.send(ClientMessages.error("\(refused.status): \(refused.message)", clusterId: context.clusterId, requestId: requestId))
                }
            case .lookupAccounts:
                switch frame.body.withUnsafeReadableBytes({ ClientMessages.decodeLookupAccounts($0) }) {
                case .success(let ids): context.inbox.push(.lookupAccounts(client, requestId: requestId, ids: ids))
                case .failure(let refused): client.send(ClientMessages.error("\(refused.status): \(refused.message)", clusterId: context.clusterId, requestId: requestId))
                }
            case .status:
                context.inbox.push(.status(client, requestId: requestId))
            case .submitReply, .lookupAccountsReply, .statusReply, .error:
                throw WireError.badBody("a replica does not accept \(frame.header.command!) frames")
            }
        } catch {
            refuse(channelContext, "\(error)", requestId: requestId)
        }
    }

    func errorCaught(context channelContext: ChannelHandlerContext, error: Error) {
        if let wire = error as? WireError {
            refuse(channelContext, wire.description, requestId: 0)
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
    private let state = NIOLockedValueBox<(channel: Channel?, stopped: Bool, backoffMs: Int64)>((nil, false, 0))

    init(peer: Int, address: PeerAddress, group: EventLoopGroup, limits: TransportLimits) {
        self.peer = peer
        self.address = address
        self.group = group
        self.limits = limits
    }

    func connect() {
        if state.withLockedValue({ $0.stopped }) { return }
        let future = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.milliseconds(500))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DiscardingInboundHandler())
                }
            }
            .connect(host: address.host, port: address.port)
        future.whenSuccess { channel in
            let keep = self.state.withLockedValue { state -> Bool in
                if state.stopped { return false }
                state.channel = channel
                state.backoffMs = 0
                return true
            }
            if !keep { channel.close(promise: nil); return }
            channel.closeFuture.whenComplete { _ in
                self.state.withLockedValue { $0.channel = nil }
                self.scheduleReconnect()
            }
        }
        future.whenFailure { _ in self.scheduleReconnect() }
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
        channel.writeAndFlush(NIOAny(frame), promise: nil)
    }

    var isConnected: Bool { state.withLockedValue { $0.channel != nil } }

    func sendAndWait(_ frame: ByteBuffer) -> Bool {
        guard let channel = state.withLockedValue({ $0.channel }) else { return false }
        do {
            try channel.writeAndFlush(NIOAny(frame)).wait()
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

/// Peers answer on their own outbound connections, so nothing is expected back on ours; an error
/// frame (a peer refusing us) is ignored, and the link reconnects if the peer closes.
final class DiscardingInboundHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
