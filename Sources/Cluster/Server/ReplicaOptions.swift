// A replica process's settings: every limit named with its unit.
import Consensus
import Storage

public struct ReplicaOptions: Sendable {
    public var dataPath: String
    public var replica: Int
    public var addresses: [PeerAddress]
    /// One Raft tick. Elections and heartbeats count ticks (see `raft`).
    public var tickIntervalMs = 10
    /// Batches the leader has proposed and not yet seen committed; client requests wait beyond it.
    public var uncommittedBatchesMax = 16
    /// Client records waiting at the leader for a batch; more are answered `busy`.
    public var submitQueueRecordsMax = 64 * 8191
    /// The compactor writes a snapshot after every this many applied transfers (0: no compactor).
    public var snapshotIntervalTransfers = 10_000_000
    /// Snapshots kept; older ones are deleted (the log never is).
    public var snapshotsRetained = SnapshotFile.retainedCountDefault
    /// After each snapshot, archive (lz4) the sealed segments it covers, on a background thread.
    public var archiveSegments = true
    /// After archiving, delete the archives the oldest retained snapshot covers (the log then starts
    /// later; a follower that needs what was deleted is sent a snapshot). Off by default: audit.
    public var pruneArchives = false
    public var accountsCapacity = 1 << 16
    public var transfersCapacity = 1 << 20
    public var transport = TransportLimits()
    /// The client keys accepted besides the cluster key (`--client-keys FILE`).
    public var clientKeys = ClientKeys()
    /// TLS on every connection, accepted and opened (`--tls-cert`, `--tls-key`, `--tls-ca`); nil: plain TCP.
    public var tls: TLSFiles?
    public var raft: RaftConfig

    public init(dataPath: String, replica: Int, addresses: [PeerAddress]) {
        self.dataPath = dataPath
        self.replica = replica
        self.addresses = addresses
        raft = RaftConfig(replicaCount: addresses.count)
        // 10 ms ticks: heartbeats every 100 ms, elections after 0.5-1 s of silence. A follower may
        // sit in an fsync for tens of ms under load; the timeout leaves room for that.
        raft.electionTimeoutTicksMin = 50
        raft.heartbeatIntervalTicks = 10
        raft.pipelineMessagesMax = 8
        raft.entriesPerMessageMax = 4
    }
}
