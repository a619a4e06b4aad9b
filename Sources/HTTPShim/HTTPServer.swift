// `wallet serve`: one local node behind the REST API.
import Foundation
import Hummingbird
import HummingbirdCore
import LedgerCore
import Replica
import Storage

/// Serves a data directory over HTTP until SIGTERM or SIGINT: the node's writer thread takes
/// the writes, the read model answers the reads, and Hummingbird (on SwiftNIO) the connections.
public final class HTTPServer: @unchecked Sendable {
    public let node: LocalNode
    let readModel: ReadModel
    let events = EventHub()
    let writer: LedgerWriter
    let host: String
    let port: Int
    let keys: APIKeys
    let limits: HTTPLimits

    let metrics: LedgerMetrics

    /// `snapshotIntervalTransfers`: the compactor's schedule (0: never).
    public init(node: LocalNode, host: String, port: Int, keys: APIKeys, metrics: LedgerMetrics, limits: HTTPLimits = HTTPLimits(),
                snapshotIntervalTransfers: Int = 10_000_000, clock: WallClock = SystemClock()) {
        self.node = node
        self.metrics = metrics
        metrics.appliedOp.set(to: Double(node.log.lastOp))
        metrics.commitOp.set(to: Double(node.log.lastOp))
        self.host = host
        self.port = port
        self.keys = keys
        self.limits = limits
        readModel = ReadModel(ledger: node.ledger, op: node.log.lastOp)
        writer = LedgerWriter(node: node, readModel: readModel, events: events, metrics: metrics, clock: clock)
        writer.snapshotIntervalTransfers = snapshotIntervalTransfers
    }

    /// Runs until a shutdown signal; `onListening` gets the bound port (0 asks the kernel for one).
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        writer.start()
        let api = WalletAPI(writer: writer, readModel: readModel, past: PastReads(dataPath: node.directory.path), events: events,
                            metrics: metrics, dataPath: node.directory.path, keys: keys, limits: limits)
        let app = Application(
            router: api.router(),
            server: .http1(configuration: .init(idleTimeout: .milliseconds(Int64(limits.connectionIdleTimeoutMs)))),
            configuration: .init(address: .hostname(host, port: port), serverName: "wallet",
                                 availableConnectionsDelegate: MaximumAvailableConnections(limits.connectionsMax)),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) })
        defer { writer.stop() }
        try await app.runService()
    }

    /// After `run` returns: records the live digest, so `verify` can prove the state.
    public func finish() throws {
        writer.stop()
        try node.recordCheckpoint()
    }
}
