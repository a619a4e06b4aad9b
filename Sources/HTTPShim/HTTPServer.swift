// The HTTP server: over one local node (`wallet serve`) or inside a replica (`wallet start --http`).
import Cluster
import Foundation
import Hummingbird
import HummingbirdCore
import LedgerCore
import NIOConcurrencyHelpers
import Replica
import Storage

/// Serves the REST API until a shutdown signal: Hummingbird (on SwiftNIO) takes the connections,
/// the read model answers reads, and writes go to the backend: the node's writer thread, or the
/// Raft cluster through this replica.
public final class HTTPServer: @unchecked Sendable {
    let readModel: ReadModel
    let events: EventHub
    let backend: any LedgerBackend
    /// The local node's writer (nil inside a replica).
    let writer: LedgerWriter?
    let node: LocalNode?
    let dataPath: String
    let host: String
    let port: Int
    let keys: APIKeys
    let limits: HTTPLimits
    let metrics: LedgerMetrics

    /// Over a local node; `snapshotIntervalTransfers`: the compactor's schedule (0: never).
    public init(node: LocalNode, host: String, port: Int, keys: APIKeys, metrics: LedgerMetrics, limits: HTTPLimits = HTTPLimits(),
                snapshotIntervalTransfers: Int = 10_000_000, clock: WallClock = SystemClock()) {
        self.node = node
        self.metrics = metrics
        self.host = host
        self.port = port
        self.keys = keys
        self.limits = limits
        dataPath = node.directory.path
        metrics.appliedOp.set(to: Double(node.log.lastOp))
        metrics.commitOp.set(to: Double(node.log.lastOp))
        let lastOp = node.log.lastOp
        readModel = ReadModel(ledger: node.ledger, op: lastOp,
                              opBatch: lastOp >= node.log.firstOp && lastOp > 0 ? BalanceHistory.BatchTime(node.log.header(op: lastOp)) : nil,
                              historyEntriesMax: limits.balanceHistoryEntriesMax)
        events = EventHub()
        let writer = LedgerWriter(node: node, readModel: readModel, events: events, metrics: metrics, clock: clock, limits: limits)
        writer.snapshotIntervalTransfers = snapshotIntervalTransfers
        self.writer = writer
        backend = writer
    }

    /// Inside a replica: call before the replica's `run()` (it reads the state and becomes the
    /// replica's observer). Writes go to the cluster through `addresses`, at most `clientsMax` at once.
    public init(replica: ReplicaServer, dataPath: String, addresses: [PeerAddress], host: String, port: Int, keys: APIKeys,
                metrics: LedgerMetrics, limits: HTTPLimits = HTTPLimits(), clientsMax: Int = 64) {
        node = nil
        writer = nil
        self.metrics = metrics
        self.host = host
        self.port = port
        self.keys = keys
        self.limits = limits
        self.dataPath = dataPath
        readModel = replica.withState { ledger, op in ReadModel(ledger: ledger, op: op, historyEntriesMax: limits.balanceHistoryEntriesMax) }
        metrics.appliedOp.set(to: Double(readModel.op))
        events = EventHub()
        let backend = ReplicaBackend(server: replica, readModel: readModel, events: events, metrics: metrics, addresses: addresses,
                                     requestTimeoutMs: limits.requestTimeoutMs, clientsMax: clientsMax)
        replica.observer = backend
        self.backend = backend
    }

    /// Runs until a shutdown signal; `onListening` gets the bound port (0 asks the kernel for one).
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        writer?.start()
        let api = WalletAPI(writer: backend, readModel: readModel, past: PastReads(dataPath: dataPath), events: events,
                            metrics: metrics, dataPath: dataPath, keys: keys, limits: limits)
        let app = Application(
            router: api.router(),
            server: HTTPServerBuilder { [readModel, backend, keys, limits, metrics] responder in
                WalletHTTP1Channel(responder: responder, limits: limits, door: metrics.door,
                                   fast: FastPathContext(readModel: readModel, backend: backend, keys: keys, limits: limits, inFlight: api.inFlight))
            },
            configuration: .init(address: .hostname(host, port: port), serverName: "wallet",
                                 availableConnectionsDelegate: MaximumAvailableConnections(limits.connectionsMax)),
            onServerRunning: { [listening] channel in
                listening.withLockedValue { $0 = true }
                onListening(channel.localAddress?.port ?? 0)
            })
        defer { writer?.stop() }
        do {
            try await app.runService()
        } catch {
            if !listening.withLockedValue({ $0 }) { throw HTTPListenError(host: host, port: port, cause: "\(error)") }
            throw error
        }
        // Hummingbird logs a failed bind and returns: a server that never listened is an error.
        if !listening.withLockedValue({ $0 }) {
            throw HTTPListenError(host: host, port: port, cause: "the server stopped before it listened (is the address in use?)")
        }
    }

    private let listening = NIOLockedValueBox(false)

    /// After `run` returns: a local node records its live digest, so `verify` can prove the state.
    public func finish() throws {
        writer?.stop()
        try node?.recordCheckpoint()
    }
}

/// The HTTP server never listened on its address.
public struct HTTPListenError: Error, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let cause: String
    public var description: String { "cannot listen on \(host):\(port): \(cause)" }
}
