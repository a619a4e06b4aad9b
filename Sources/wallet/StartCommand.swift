// `wallet start`: run one replica of a cluster until SIGTERM or SIGINT.
import ArgumentParser
import CSupport
import Cluster
import Dispatch
import Foundation
import HTTPShim
#if canImport(Glibc)
import Glibc
#endif

struct StartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Run one replica: Raft over TCP with its peers, and the client protocol on the same port.",
        discussion: """
            Every replica is given the same --addresses list, in replica order; it listens on its own \
            entry. The data directory must have been formatted for this replica index and count.
            """)

    @Option(help: "The data directory (made by 'wallet format --replica I --replica-count N').") var data: String
    @Option(help: "This replica's index in --addresses, from 0.") var replica: Int
    @Option(help: "Every replica's HOST:PORT, comma-separated, in replica order.") var addresses: String
    @Option(help: "Raft tick in ms (tick_interval_ms).") var tickMs: Int = 10
    @Option(help: "The compactor snapshots the state after every this many applied transfers (snapshot_interval_transfers; 0: never).")
    var snapshotIntervalTransfers: Int = 10_000_000
    @Option(help: "Snapshots kept (snapshots_retained); older ones are deleted, the log never is.") var snapshotsRetained: Int = 3
    @Flag(name: .customLong("no-archive"), help: "Do not archive (lz4) sealed segments after each snapshot.") var noArchive = false
    @Flag(name: .customLong("prune-archives"),
          help: "Delete the archives the oldest retained snapshot covers (keep your archive elsewhere); a follower that needs them is sent a snapshot.")
    var pruneArchives = false
    @Option(help: "Also serve the REST API on HOST:PORT (port 0: any free port, printed when listening): reads from this replica, writes through the cluster.")
    var http: String?
    @Option(help: "With --http: file of API keys, one per line: 'TOKEN' (may write) or 'TOKEN read'.") var apiKeys: String?
    @Flag(help: "With --http: reads need a key too.") var readsRequireKey = false
    @Option(help: "Accounts the ledger is sized for at start (it grows past this, pausing to rehash).") var accountsCapacity: Int = 1 << 16
    @Option(help: "Transfers the ledger is sized for at start (it grows past this, pausing to rehash).") var transfersCapacity: Int = 1 << 20
    @OptionGroup(title: "HTTP limits (with --http)") var httpLimits: HTTPLimitOptions
    @Option(help: "Client keys this replica accepts besides the cluster key: one per line, '<id> <64 hex> <read|write>' (wallet client-key makes them).")
    var clientKeys: String?
    @Option(help: "TLS on every connection: this replica's certificate chain (PEM); with --tls-key and --tls-ca.") var tlsCert: String?
    @Option(help: "TLS: this replica's private key (PEM).") var tlsKey: String?
    @Option(help: "TLS: the CA (PEM) every replica's certificate must chain to.") var tlsCa: String?

    func run() throws {
        try reportingErrors {
            let peers = try PeerAddress.parseList(addresses)
            guard replica >= 0 && replica < peers.count else { throw UserError("--replica \(replica) is not an index into \(peers.count) addresses") }
            let limits = try httpLimits.limits()
            guard tickMs >= 1 && tickMs <= 1000 else { throw UserError("--tick-ms \(tickMs) is outside 1...1000") }
            var options = ReplicaOptions(dataPath: data, replica: replica, addresses: peers)
            options.tickIntervalMs = tickMs
            guard accountsCapacity >= 1 && accountsCapacity <= 1 << 30, transfersCapacity >= 1 && transfersCapacity <= 1 << 34 else {
                throw UserError("--accounts-capacity must be 1...2^30 and --transfers-capacity 1...2^34")
            }
            guard snapshotIntervalTransfers >= 0, snapshotsRetained >= 1 && snapshotsRetained <= 1000 else {
                throw UserError("--snapshot-interval-transfers must be 0 or more and --snapshots-retained 1...1000")
            }
            options.snapshotIntervalTransfers = snapshotIntervalTransfers
            options.snapshotsRetained = snapshotsRetained
            options.archiveSegments = !noArchive
            guard !(pruneArchives && noArchive) else { throw UserError("--prune-archives deletes archives: it needs archiving (drop --no-archive)") }
            options.pruneArchives = pruneArchives
            options.accountsCapacity = accountsCapacity
            options.transfersCapacity = transfersCapacity
            switch (tlsCert, tlsKey, tlsCa) {
            case (nil, nil, nil): break
            case (let cert?, let key?, let ca?): options.tls = TLSFiles(certificatePath: cert, privateKeyPath: key, caPath: ca)
            default: throw UserError("TLS needs all three of --tls-cert, --tls-key and --tls-ca")
            }
            if let clientKeys {
                guard let text = try? String(contentsOfFile: clientKeys, encoding: .utf8) else { throw UserError("cannot read the client keys file \(clientKeys)") }
                do {
                    options.clientKeys = try ClientKeys.parse(text, path: clientKeys)
                } catch let error as KeyFileError {
                    throw UserError(error.message)
                }
            }
            keepLargeAllocationsOnTheHeap()
            let server = try ReplicaServer(options: options)
            signal(SIGTERM, SIG_IGN)
            signal(SIGINT, SIG_IGN)
            var sources: [DispatchSourceSignal] = []
            for number in [SIGTERM, SIGINT] {
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { server.stop() }
                source.resume()
                sources.append(source)
            }
            print("replica \(replica) of \(peers.count) listening on \(peers[replica]) (cluster \(server.clusterId))")
            fflush(stdout)
            let apiFailure = LockedError()
            if let http {
                let address = try parseListenAddress(http)
                try checkCanListen(address)
                let keys = try loadAPIKeys(file: apiKeys, readsRequireKey: readsRequireKey)
                let api = HTTPServer(replica: server, dataPath: data, addresses: peers, host: address.host, port: address.port, keys: keys,
                                     metrics: bootstrapMetrics(), limits: limits)
                let replicaIndex = replica
                Task {
                    do {
                        try await api.run { port in
                            print("replica \(replicaIndex): REST API on http://\(address.host):\(port)")
                            fflush(stdout)
                        }
                    } catch let error as HTTPListenError {
                        // The REST API never listened: the replica stops too, and the command fails.
                        apiFailure.set(UserError("\(error)"))
                        server.stop()
                    } catch {
                        FileHandle.standardError.write(Data("replica \(replicaIndex): the REST API stopped: \(error)\n".utf8))
                    }
                }
            } else if apiKeys != nil || readsRequireKey {
                throw UserError("--api-keys and --reads-require-key go with --http")
            }
            try server.run()
            if let error = apiFailure.get() { throw error }
            print("replica \(replica) stopped")
            _ = sources
        }
    }
}

/// `--addresses` and `--cluster` as every client-side command takes them.
struct ClusterAccess: ParsableArguments {
    @Option(help: "The cluster's replicas, HOST:PORT comma-separated (talk to a cluster instead of a local directory).")
    var addresses: String?
    @Option(help: "The cluster id the replicas were formatted with.") var cluster: String = "1"
    @Option(help: "With --addresses: the key to prove, a client key file or a replica's DATA/cluster-key (default: $WALLET_KEY_FILE).")
    var keyFile: String?
    @Option(help: "With --addresses: speak TLS, the replicas' certificates checked against this CA (PEM).")
    var tlsCa: String?
    @Option(help: "With --addresses: give up when no replica has answered for this many ms (default 10000; status: per replica, default 2000).")
    var timeoutMs: Int?

    /// How the command's client retries: `--timeout-ms` (or `defaultTimeoutMs`) of silence, and
    /// what it waits for told on standard error while it waits.
    func policy(defaultTimeoutMs: Int = RetryPolicy().silenceTimeoutMs) throws -> RetryPolicy {
        let timeoutMs = self.timeoutMs ?? defaultTimeoutMs
        guard RetryPolicy.silenceTimeoutMsRange.contains(timeoutMs) else {
            throw UserError("--timeout-ms \(timeoutMs) is outside \(RetryPolicy.silenceTimeoutMsRange.lowerBound)...\(RetryPolicy.silenceTimeoutMsRange.upperBound)")
        }
        var policy = RetryPolicy()
        policy.silenceTimeoutMs = timeoutMs
        policy.requestTimeoutMs = min(policy.requestTimeoutMs, timeoutMs)
        let reporter = WaitingReporter()
        policy.waiting = { reporter.report($0) }
        return policy
    }

    /// TLS to the replicas, when --tls-ca is given.
    func tls() throws -> ClientTLS? {
        guard let tlsCa else { return nil }
        do {
            return try ClientTLS(caPath: tlsCa)
        } catch let error as TLSSetupError {
            throw UserError(error.message)
        }
    }

    /// The cluster to talk to, and the key to prove to it; nil without --addresses.
    func parsed() throws -> (addresses: [PeerAddress], clusterId: UInt128, key: SecretKey)? {
        guard let addresses else { return nil }
        guard case .success(let clusterId) = UInt128.parseDecimal(cluster), clusterId != 0 else {
            throw UserError("--cluster '\(cluster)' is not a positive decimal 128-bit id")
        }
        guard let path = keyFile ?? ProcessInfo.processInfo.environment["WALLET_KEY_FILE"] else {
            throw UserError("replicas accept only clients that prove a key: pass --key-file FILE (a client key, or a replica's DATA/cluster-key), or set WALLET_KEY_FILE")
        }
        do {
            return (try PeerAddress.parseList(addresses), clusterId, try SecretKey.read(path: path))
        } catch let error as KeyFileError {
            throw UserError(error.message)
        }
    }
}

/// Prints what the clients wait for on standard error, at most once per report interval however
/// many client threads wait at once.
final class WaitingReporter: @unchecked Sendable {
    private let lock = NSLock()
    private var lastNs: UInt64 = 0

    func report(_ message: String) {
        let nowNs = DispatchTime.now().uptimeNanoseconds
        lock.lock()
        let due = lastNs == 0 || nowNs < lastNs || (nowNs - lastNs) / 1_000_000 >= UInt64(RetryPolicy().waitingReportIntervalMs)
        if due { lastNs = nowNs }
        lock.unlock()
        if due { printError("wallet: waiting: \(message)") }
    }
}

/// Batches (1 MiB) and append frames (up to 4 MiB) are allocated and freed all the time. Above
/// glibc's mmap threshold each one is a fresh mapping the kernel must zero page by page on first
/// touch, which showed up as a tenth of all CPU under replicated load; kept on the heap, the
/// same memory is reused.
func keepLargeAllocationsOnTheHeap() {
    _ = wallet_keep_large_allocations_on_heap(32 << 20, 256 << 20)
}
