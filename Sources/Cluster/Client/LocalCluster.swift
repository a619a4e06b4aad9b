// A cluster of replica processes on 127.0.0.1, for `make run`, benchmarks and fault tests.
import Foundation
import LedgerCore
#if canImport(Glibc)
import Glibc
#endif

/// Formats `replicaCount` data directories under `root`, starts one `wallet start` process per
/// replica on free loopback ports, and can kill (SIGKILL) and restart them. It only ever signals
/// the processes it started, by their PIDs.
public final class LocalCluster {
    public let walletPath: String
    public let root: String
    public let clusterId: UInt128
    public let addresses: [PeerAddress]
    /// The cluster key every replica was formatted with (`root/cluster-key`), for clients.
    public let key: SecretKey
    public var keyFile: String { root + "/" + SecretKey.clusterKeyFileName }
    private var processes: [Process?]
    private var logs: [FileHandle?]
    /// Extra arguments for every `wallet start` (ledger capacities, say).
    public var startArguments: [String] = []
    /// TLS on every replica and in `clients`, when set (before `startAll`).
    public var tls: TLSFiles?
    /// TLS for this cluster's clients, when `tls` is set.
    public var clientTLS: ClientTLS? { tls.flatMap { try? ClientTLS(caPath: $0.caPath) } }

    public init(walletPath: String, root: String, replicaCount: Int, clusterId: UInt128, segmentSizeMib: Int = 64) throws {
        self.walletPath = walletPath
        self.root = root
        self.clusterId = clusterId
        addresses = try LocalCluster.freePorts(replicaCount).map { PeerAddress(host: "127.0.0.1", port: $0) }
        processes = Array(repeating: nil, count: replicaCount)
        logs = Array(repeating: nil, count: replicaCount)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // One key for the whole cluster, given to every replica's format.
        key = try SecretKey.random(id: SecretKey.clusterKeyId)
        try key.write(path: root + "/" + SecretKey.clusterKeyFileName)
        for replica in 0..<replicaCount {
            let status = try LocalCluster.runToEnd(walletPath, ["format", "--data", dataPath(replica), "--cluster", String(clusterId),
                                                                "--cluster-key-file", root + "/" + SecretKey.clusterKeyFileName,
                                                                "--replica", String(replica), "--replica-count", String(replicaCount),
                                                                "--segment-size-mib", String(segmentSizeMib)])
            guard status == 0 else { throw AddressError(message: "wallet format for replica \(replica) exited with \(status)") }
        }
    }

    deinit { stopAll() }

    public var addressList: String { addresses.map(\.description).joined(separator: ",") }

    public func dataPath(_ replica: Int) -> String { root + "/replica-\(replica)" }
    public func logPath(_ replica: Int) -> String { root + "/replica-\(replica).log" }

    public func start(_ replica: Int) throws {
        precondition(processes[replica] == nil, "replica \(replica) is already running")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: walletPath)
        let tlsArguments = tls.map { ["--tls-cert", $0.certificatePath, "--tls-key", $0.privateKeyPath, "--tls-ca", $0.caPath] } ?? []
        process.arguments = ["start", "--data", dataPath(replica), "--replica", String(replica), "--addresses", addressList] + tlsArguments + startArguments
        if !FileManager.default.fileExists(atPath: logPath(replica)) {
            _ = FileManager.default.createFile(atPath: logPath(replica), contents: nil)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath(replica)))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        processes[replica] = process
        logs[replica] = log
    }

    public func startAll() throws {
        for replica in processes.indices { try start(replica) }
    }

    public func isRunning(_ replica: Int) -> Bool { processes[replica]?.isRunning ?? false }

    /// SIGKILL: no chance to flush or close anything, like a power cut for the process.
    public func kill(_ replica: Int) {
        guard let process = processes[replica] else { return }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        LocalCluster.waitForExit(process)
        processes[replica] = nil
        try? logs[replica]?.close()
        logs[replica] = nil
    }

    public func stopAll() {
        for replica in processes.indices {
            guard let process = processes[replica] else { continue }
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGTERM) }
        }
        let deadline = Date(timeIntervalSinceNow: 5)
        for replica in processes.indices {
            guard let process = processes[replica] else { continue }
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
            LocalCluster.waitForExit(process)
            processes[replica] = nil
            try? logs[replica]?.close()
            logs[replica] = nil
        }
    }

    /// Polls every replica's status until one leads and a majority answers, or `timeoutMs` passes.
    public func waitForLeader(timeoutMs: Int = 15_000) throws -> Int {
        let deadline = Date(timeIntervalSinceNow: Double(timeoutMs) / 1000)
        var policy = RetryPolicy()
        policy.requestTimeoutMs = 500
        while Date() < deadline {
            let client = ClusterClient(addresses: addresses, clusterId: clusterId, key: key, policy: policy, tls: clientTLS)
            defer { client.close() }
            for replica in addresses.indices {
                if let status = try? client.status(ofReplica: replica), status.role == "leader", status.commitOp >= 1 {
                    return replica
                }
            }
            usleep(50_000)
        }
        throw AddressError(message: "no leader within \(timeoutMs) ms")
    }

    /// Ports the kernel hands out for port 0 on 127.0.0.1, released again for the replicas to bind.
    static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for fd in sockets { Glibc.close(fd) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            sockets.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = 0
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw AddressError(message: "cannot bind a free port on 127.0.0.1") }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
            }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }

    static func runToEnd(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // `format` and its kind: seconds at most; a hung one is killed rather than waited for.
        let deadline = Date(timeIntervalSinceNow: LocalCluster.commandTimeoutS)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        waitForExit(process)
        return process.isRunning ? -1 : process.terminationStatus
    }

    /// `command_timeout_s`: how long a one-shot command of the local cluster may run.
    static let commandTimeoutS = 120.0
    /// `exit_wait_s_max`: how long a SIGKILLed process is waited for.
    static let exitWaitSMax = 30.0

    /// Waits for a process that was sent SIGKILL, bounded: a wait that never returned (seen once
    /// under load, a replica crashing at exit) would hang its caller for ever.
    static func waitForExit(_ process: Process) {
        let deadline = Date(timeIntervalSinceNow: exitWaitSMax)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            FileHandle.standardError.write(Data("LocalCluster: process \(process.processIdentifier) still runs \(Int(exitWaitSMax)) s after SIGKILL; not waiting longer\n".utf8))
        }
    }
}
