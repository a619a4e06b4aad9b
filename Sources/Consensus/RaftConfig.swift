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

/// SplitMix64, seeded by the shell: the core's only source of randomness (election timeouts).
public struct RaftRandom: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        return Int(next() % UInt64(bound))
    }
}
