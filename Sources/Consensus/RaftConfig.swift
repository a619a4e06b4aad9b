// The Raft core's settings: every limit named with its unit (ticks, entries, messages).

public struct RaftConfig: Sendable {
    public var replicaCount: Int
    /// An election starts after a random timeout in [min, 2 × min) ticks without a leader.
    public var electionTimeoutTicksMin: Int = 10
    /// A leader sends heartbeats this often. Must be well below the election timeout.
    public var heartbeatIntervalTicks: Int = 2
    /// Append messages a leader keeps in flight to one follower (pipelined replication).
    public var pipelineMessagesMax: Int = 8
    /// Entries (batches) in one append message.
    public var entriesPerMessageMax: Int = 4
    /// Linearizable reads waiting for a leadership confirmation.
    public var pendingReadsMax: Int = 1024

    public init(replicaCount: Int) {
        self.replicaCount = replicaCount
    }

    public var quorum: Int { replicaCount / 2 + 1 }

    func validate() {
        precondition(replicaCount >= 1 && replicaCount <= 7, "replica_count must be 1...7")
        precondition(electionTimeoutTicksMin >= 3)
        precondition(heartbeatIntervalTicks >= 1 && heartbeatIntervalTicks * 3 <= electionTimeoutTicksMin,
                     "heartbeats must come at least three times per election timeout")
        precondition(pipelineMessagesMax >= 1 && entriesPerMessageMax >= 1 && pendingReadsMax >= 1)
    }
}
