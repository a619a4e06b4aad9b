// `wallet serve`: one local node behind the HTTP API (the embedded default of `make run`).
import ArgumentParser
import Cluster
import Dispatch
import Foundation
import HTTPShim
import Replica

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a data directory over HTTP: the wallet REST API, until SIGTERM or SIGINT.",
        discussion: """
            Writes (POST) are grouped into batches, made durable and applied before they are answered; \
            reads come from the read model, as of the op each answer names. With --api-keys, writes need \
            'Authorization: Bearer <key>' (401 without, 403 with a read-only key).
            """)

    @Option(help: "The data directory (made by 'wallet format').") var data: String
    @Option(help: "Listen on HOST:PORT (port 0: any free port, printed when listening).") var http: String = "127.0.0.1:8080"
    @Option(help: "File of API keys: one per line, 'TOKEN' (may write) or 'TOKEN read'.") var apiKeys: String?
    @Flag(help: "Reads need a key too (by default reads are open).") var readsRequireKey = false
    @OptionGroup(title: "HTTP limits") var httpLimits: HTTPLimitOptions
    @Option(help: "snapshot_interval_transfers: snapshot (and archive) after this many transfers; 0: never.")
    var snapshotIntervalTransfers = 10_000_000

    func run() throws {
        try reportingErrors {
            let address = try parseListenAddress(http)
            try checkCanListen(address)
            let limits = try httpLimits.limits()
            let keys = try loadAPIKeys(file: apiKeys, readsRequireKey: readsRequireKey)
            let node = try openNode(data: data, readOnly: false, quiet: true)
            guard snapshotIntervalTransfers >= 0 else { throw UserError("--snapshot-interval-transfers must be 0 (never) or more") }
            let server = HTTPServer(node: node, host: address.host, port: address.port, keys: keys, metrics: bootstrapMetrics(), limits: limits,
                                    snapshotIntervalTransfers: snapshotIntervalTransfers)
            let done = DispatchSemaphore(value: 0)
            let failure = LockedError()
            let dataPath = data
            let writesOpen = apiKeys == nil ? " (no --api-keys: writes are open to anyone who can connect)" : ""
            Task {
                do {
                    try await server.run { port in
                        print("serving \(dataPath) on http://\(address.host):\(port) at op \(node.log.lastOp)\(writesOpen)")
                        fflush(stdout)
                    }
                } catch {
                    failure.set(error)
                }
                done.signal()
            }
            done.wait()
            try server.finish()
            if let error = failure.get() { throw error }
            print("stopped at op \(node.log.lastOp)")
        }
    }
}

/// An error handed from the server task to the command's thread.
final class LockedError: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?
    func set(_ error: Error) { lock.lock(); self.error = error; lock.unlock() }
    func get() -> Error? { lock.lock(); defer { lock.unlock() }; return error }
}
