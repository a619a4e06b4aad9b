// The Raft core: a deterministic state machine driven by `step`, `tick`, `ready` and `advance`.
import Randomness

/// One replica's Raft state machine. No sockets, clocks, threads or disk: the shell feeds it
/// messages and ticks and carries out each `Ready` (persist, send, apply) before calling `advance`.
///
/// Implements leader election with randomized timeouts and pre-vote, log replication of whole
/// batches with pipelining (`pipelineMessagesMax` appends in flight per follower), the commit rule
/// (only entries of the leader's own term commit by counting replicas), truncation of a follower's
/// conflicting suffix, check-quorum (a leader that hears from no majority for an election timeout
/// steps down), and read index for linearizable reads. A leader counts its own log only up to
/// what the shell reported durable, so an entry commits only once a majority holds it durably.
public final class Raft<Payload: Sendable> {
    public let id: Int
    let config: RaftConfig
    /// Seeded by the shell: the core's only source of randomness (election timeouts).
    var random: SplitMix64
    /// The payload of the no-op entry a new leader appends to commit entries of earlier terms.
    let noopPayload: Payload

    public internal(set) var role: Role = .follower
    public internal(set) var term: UInt64
    public internal(set) var votedFor: Int?
    public internal(set) var leaderId: Int?
    public internal(set) var commitIndex: UInt64 = 0
    /// The last index handed to the shell to apply.
    public internal(set) var appliedIndex: UInt64 = 0
    var log: RaftLog<Payload>

    /// See `HardState.votingFloorIndex`: votes compare candidates against this as well as the log.
    var votingFloor: (index: UInt64, term: UInt64)

    var electionElapsedTicks = 0
    var heartbeatElapsedTicks = 0
    var randomizedElectionTimeoutTicks = 0
    var votesGranted: Set<Int> = []
    var progress: [FollowerProgress] = []

    // Output waiting for the next `ready()`.
    var messages: [Message<Payload>] = []
    var persistedHardState: HardState
    var pendingTruncateAfter: UInt64?
    var pendingSnapshot: SnapshotToInstall?
    var unstableFromIndex: UInt64
    var readStates: [ReadState] = []
    var pendingReads: [PendingRead] = []
    var readContextLast: UInt64 = 0

    /// - Parameters:
    ///   - hardState, entries: what the replica persisted before it (re)started.
    ///   - seed: seeds the election timeouts; give each replica its own.
    ///   - appliedIndex: entries up to here are known committed and already applied by the shell
    ///     (it restored a snapshot taken there): they are not handed out to apply again.
    ///   - snapshotIndex, snapshotTerm: where `entries` start after, when the log was compacted
    ///     (the shell holds a snapshot at least that far).
    public init(id: Int, config: RaftConfig, seed: UInt64, noopPayload: Payload,
                hardState: HardState = HardState(), entries: [Entry<Payload>] = [], appliedIndex: UInt64 = 0,
                snapshotIndex: UInt64 = 0, snapshotTerm: UInt64 = 0) {
        config.validate()
        precondition(id >= 0 && id < config.replicaCount)
        self.id = id
        self.config = config
        random = SplitMix64(seed: seed)
        self.noopPayload = noopPayload
        term = hardState.term
        votedFor = hardState.votedFor
        votingFloor = (hardState.votingFloorIndex, hardState.votingFloorTerm)
        persistedHardState = hardState
        log = RaftLog(restored: entries, snapshotIndex: snapshotIndex, snapshotTerm: snapshotTerm)
        precondition(appliedIndex <= log.lastIndex, "a snapshot past the log's end")
        precondition(appliedIndex >= snapshotIndex, "entries compacted into a snapshot are applied")
        commitIndex = appliedIndex
        self.appliedIndex = appliedIndex
        unstableFromIndex = log.lastIndex + 1
        resetElectionTimeout()
    }

    public var lastIndex: UInt64 { log.lastIndex }
    /// The last index compacted into a snapshot (0: none); entries up to it are gone.
    public var snapshotIndex: UInt64 { log.snapshotIndex }

    /// The shell took a snapshot of the applied state at `index`: the core drops the entries up to
    /// it, and a follower that needs them gets the snapshot instead (`installSnapshot`).
    public func compactLog(through index: UInt64) {
        precondition(index <= appliedIndex, "only applied entries can be compacted into a snapshot")
        log.compact(through: index)
    }
    public var stableIndex: UInt64 { log.stableIndex }
    public func term(at index: UInt64) -> UInt64? { log.term(at: index) }
    public func entry(at index: UInt64) -> Entry<Payload> { log.entry(at: index) }

    // MARK: Inputs

    /// One unit of time: elections and heartbeats count ticks, never wall-clock time.
    public func tick() {
        if role == .leader {
            tickLeader()
        } else {
            electionElapsedTicks += 1
            if electionElapsedTicks >= randomizedElectionTimeoutTicks { startPreVote() }
        }
    }

    /// Appends a batch as a new entry if this replica leads; returns its index, or nil.
    public func propose(_ payload: Payload) -> UInt64? {
        guard role == .leader else { return nil }
        log.append(Entry(term: term, payload: payload))
        if config.replicaCount == 1 { return log.lastIndex }
        for peer in peers { sendAppends(to: peer) }
        return log.lastIndex
    }

    /// Takes one message from a peer. A message that is out of bounds, misshapen, or contradicts
    /// what this replica knows committed (or that it leads) is dropped before anything changes,
    /// and the result says why (`refusal`); the shell logs and counts it.
    @discardableResult
    public func step(_ message: Message<Payload>) -> StepResult {
        if let reason = refusal(message) { return .dropped(reason) }
        if message.term > term && !isPreVoteTraffic(message) {
            let isLeaderMessage: Bool
            switch message.body {
            case .appendEntries, .installSnapshot: isLeaderMessage = true
            default: isLeaderMessage = false
            }
            becomeFollower(term: message.term, leader: isLeaderMessage ? message.from : nil)
        }
        switch message.body {
        case .preVote(let lastIndex, let lastTerm):
            handlePreVote(message, lastIndex: lastIndex, lastTerm: lastTerm)
        case .preVoteResponse(let granted):
            handlePreVoteResponse(message, granted: granted)
        case .requestVote(let lastIndex, let lastTerm):
            handleRequestVote(message, lastIndex: lastIndex, lastTerm: lastTerm)
        case .requestVoteResponse(let granted):
            handleRequestVoteResponse(message, granted: granted)
        case .appendEntries(let previousIndex, let previousTerm, let entries, let commitIndex, let readContext):
            handleAppendEntries(message, previousIndex: previousIndex, previousTerm: previousTerm, entries: entries,
                                leaderCommit: commitIndex, readContext: readContext)
        case .appendEntriesResponse(let success, let matchIndex, let hintIndex, let readContext):
            handleAppendEntriesResponse(message, success: success, matchIndex: matchIndex, hintIndex: hintIndex, readContext: readContext)
        case .installSnapshot(let index, let snapshotTerm):
            handleInstallSnapshot(message, index: index, snapshotTerm: snapshotTerm)
        }
        return .accepted
    }

    private func isPreVoteTraffic(_ message: Message<Payload>) -> Bool {
        switch message.body {
        case .preVote: return true
        case .preVoteResponse(let granted): return granted
        default: return false
        }
    }

    // MARK: Ready / advance

    var hardState: HardState {
        HardState(term: term, votedFor: votedFor, votingFloorIndex: votingFloor.index, votingFloorTerm: votingFloor.term)
    }

    public var hasReady: Bool {
        pendingSnapshot != nil || hardState != persistedHardState || pendingTruncateAfter != nil
            || unstableFromIndex <= log.lastIndex || !messages.isEmpty || appliedIndex < commitIndex || !readStates.isEmpty
    }

    /// Collects what the shell must do now; see `Ready` for the order it must follow.
    public func ready() -> Ready<Payload> {
        var ready = Ready<Payload>()
        ready.snapshot = pendingSnapshot
        pendingSnapshot = nil
        let hardState = self.hardState
        if hardState != persistedHardState {
            ready.hardState = hardState
            persistedHardState = hardState
        }
        ready.truncateAfterIndex = pendingTruncateAfter
        pendingTruncateAfter = nil
        if unstableFromIndex <= log.lastIndex {
            for index in unstableFromIndex...log.lastIndex { ready.entriesToPersist.append((index, log.entry(at: index))) }
        }
        unstableFromIndex = log.lastIndex + 1
        for message in messages {
            if Ready<Payload>.maySendBeforePersist(message.body) { ready.messages.append(message) } else { ready.messagesAfterPersist.append(message) }
        }
        messages = []
        if appliedIndex < commitIndex {
            for index in (appliedIndex + 1)...commitIndex { ready.committedEntries.append((index, log.entry(at: index))) }
        }
        ready.readStates = readStates
        readStates = []
        return ready
    }

    /// The shell has carried out `ready`: its entries are durable and its committed entries applied.
    public func advance(_ ready: Ready<Payload>) {
        if let last = ready.entriesToPersist.last, last.index <= log.lastIndex, log.term(at: last.index) == last.entry.term {
            log.markStable(through: last.index)
        }
        if let last = ready.committedEntries.last { appliedIndex = max(appliedIndex, last.index) }
        if role == .leader { maybeCommit() }
    }

    // MARK: Roles

    var peers: [Int] { (0..<config.replicaCount).filter { $0 != id } }

    func resetElectionTimeout() {
        electionElapsedTicks = 0
        randomizedElectionTimeoutTicks = config.electionTimeoutTicksMin + random.below(config.electionTimeoutTicksMin)
    }

    func becomeFollower(term newTerm: UInt64, leader: Int?) {
        precondition(newTerm >= term)
        if newTerm > term {
            term = newTerm
            votedFor = nil
        }
        if role == .leader { dropPendingReads() }
        role = .follower
        leaderId = leader
        resetElectionTimeout()
    }

    func send(_ to: Int, _ body: MessageBody<Payload>, term messageTerm: UInt64? = nil) {
        messages.append(Message(from: id, to: to, term: messageTerm ?? term, body: body))
    }
}

/// What a leader knows about one follower's log.
struct FollowerProgress {
    /// Highest index known to match the leader's log (durably on the follower).
    var matchIndex: UInt64 = 0
    /// Next index to send.
    var nextIndex: UInt64
    /// Last index of each append message sent and not yet answered, oldest first. An answer
    /// with match index m settles every message ending at or before m, so lost, duplicated or
    /// reordered answers can neither leak nor double-count a slot.
    var inflightLastIndexes: [UInt64] = []
    /// After a rejection: one message at a time until the follower's log matches again.
    var isProbing = true
    /// Whether the follower's match index grew since the last heartbeat round.
    var progressedSinceHeartbeat = false
    /// Whether the follower answered anything in the current check-quorum period.
    var recentlyActive = true
}

/// A linearizable read waiting for a majority to confirm this replica still leads.
struct PendingRead {
    var requestId: UInt64
    var index: UInt64
    var context: UInt64
    var acknowledged: Set<Int>
}
