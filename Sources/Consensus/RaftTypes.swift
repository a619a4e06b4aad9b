// The values the Raft core exchanges with its shell: entries, durable state, messages, Ready.

/// One log entry: a whole batch (the payload) and the term its leader created it in.
///
/// The core never looks inside the payload: the shell decides what it is (batch bytes in the
/// simulator, a handle to a batch in a segment file in the runtime).
public struct Entry<Payload: Sendable>: Sendable {
    public var term: UInt64
    public var payload: Payload

    public init(term: UInt64, payload: Payload) {
        self.term = term
        self.payload = payload
    }
}

/// What must survive a crash besides the log: the current term and the vote cast in it.
///
/// Persisted (and fsync'd) before any message of the same `Ready` is sent: a replica that forgets
/// its vote could vote twice in one term and elect two leaders.
public struct HardState: Equatable, Sendable {
    public var term: UInt64
    public var votedFor: Int?
    /// The last index and term this replica's log reached before it discarded a damaged suffix
    /// (0, 0 when it never did). It may have acknowledged entries up to there, counted towards
    /// their commitment, so it keeps voting as if it still held them: it grants a vote only to a
    /// candidate at least that up to date, and a committed entry cannot be lost through its vote.
    public var votingFloorIndex: UInt64
    public var votingFloorTerm: UInt64

    public init(term: UInt64 = 0, votedFor: Int? = nil, votingFloorIndex: UInt64 = 0, votingFloorTerm: UInt64 = 0) {
        self.term = term
        self.votedFor = votedFor
        self.votingFloorIndex = votingFloorIndex
        self.votingFloorTerm = votingFloorTerm
    }

    /// The floor after discarding every entry after `keptIndex` of a log that ended at
    /// (`lastIndex`, `lastTerm`): the shell calls this when it finds damage at `keptIndex + 1`.
    public func discardingSuffix(lastIndex: UInt64, lastTerm: UInt64) -> HardState {
        var state = self
        if lastTerm > votingFloorTerm || (lastTerm == votingFloorTerm && lastIndex > votingFloorIndex) {
            state.votingFloorIndex = lastIndex
            state.votingFloorTerm = lastTerm
        }
        return state
    }
}

public enum Role: String, Sendable {
    case follower
    case preCandidate = "pre_candidate"
    case candidate
    case leader
}

/// A message between replicas. `term` is the sender's term (for a pre-vote request: the term it
/// would campaign in).
public struct Message<Payload: Sendable>: Sendable {
    public var from: Int
    public var to: Int
    public var term: UInt64
    public var body: MessageBody<Payload>

    public init(from: Int, to: Int, term: UInt64, body: MessageBody<Payload>) {
        self.from = from
        self.to = to
        self.term = term
        self.body = body
    }
}

public enum MessageBody<Payload: Sendable>: Sendable {
    /// "Would you vote for me in `term`?" Changes nobody's state (Raft thesis §9.6).
    case preVote(lastIndex: UInt64, lastTerm: UInt64)
    case preVoteResponse(granted: Bool)
    case requestVote(lastIndex: UInt64, lastTerm: UInt64)
    case requestVoteResponse(granted: Bool)
    /// Entries after `previousIndex`; empty for a heartbeat. `readContext` (non-zero) asks the
    /// follower to echo it, confirming leadership for linearizable reads.
    case appendEntries(previousIndex: UInt64, previousTerm: UInt64, entries: [Entry<Payload>], commitIndex: UInt64, readContext: UInt64)
    /// `matchIndex` on success: the follower durably holds everything up to it that matches the
    /// leader. On failure, `hintIndex`: the leader should retry from at most this index.
    case appendEntriesResponse(success: Bool, matchIndex: UInt64, hintIndex: UInt64, readContext: UInt64)
    /// The leader has compacted the entries this follower needs: "take my snapshot at (`index`,
    /// `snapshotTerm`)". The shell carries the snapshot's bytes alongside. Answered with an
    /// `appendEntriesResponse` whose match index is `index` once the snapshot is durable.
    case installSnapshot(index: UInt64, snapshotTerm: UInt64)
}

/// A leader's snapshot the shell must install (Ready step 1, before anything else in it).
public struct SnapshotToInstall: Equatable, Sendable {
    public var index: UInt64
    public var term: UInt64
    /// Whether the stored log after `index` stays (it held the snapshot's own entry, so it matches
    /// the leader up to there); otherwise every stored entry is discarded.
    public var keepsLogAfterIndex: Bool
}

/// A linearizable read that may now be served: once the local replica has applied `index`.
public struct ReadState: Equatable, Sendable {
    public var requestId: UInt64
    public var index: UInt64
}

/// Everything the shell must do after a step or tick, in this order:
///
/// 1. send `messages` (they may go before anything below is durable: a leader's appends and
///    snapshots, and pre-votes, promise nothing about the sender's own disk);
/// 2. install `snapshot` (if set: durably, as the state after its index, dropping the stored log
///    unless it keeps the log after the index), truncate the log after `truncateAfterIndex` (if
///    set), then append `entriesToPersist`, and persist `hardState` (if set) — durably (fsync)
///    before step 3;
/// 3. send `messagesAfterPersist` (votes, vote requests, acknowledgements: each is a promise
///    about what this replica holds durably);
/// 4. apply `committedEntries` in order;
/// 5. call `advance(_:)` with this `Ready`, and only then step or tick the core again.
///
/// The split is the core's, as in etcd-raft: a leader writes its own entries in parallel with
/// its followers (Raft thesis 10.2.1) and counts them toward a commit only once they are durable
/// (`advance` with their `entriesToPersist`), while a message that promises durability waits.
public struct Ready<Payload: Sendable>: Sendable {
    public var snapshot: SnapshotToInstall?
    public var hardState: HardState?
    public var truncateAfterIndex: UInt64?
    /// `(index, entry)` in increasing index order, contiguous.
    public var entriesToPersist: [(index: UInt64, entry: Entry<Payload>)] = []
    /// Messages that may be sent at once, before this `Ready` is durable.
    public var messages: [Message<Payload>] = []
    /// Messages to send only once this `Ready`'s hard state and entries are durable.
    public var messagesAfterPersist: [Message<Payload>] = []
    public var committedEntries: [(index: UInt64, entry: Entry<Payload>)] = []
    public var readStates: [ReadState] = []

    public init() {}

    /// Only "these entries are now durable": for a shell that fsyncs a leader's entries after
    /// the rest of their `Ready` was carried out (the leader counts them once this is advanced).
    public init(durableEntries: [(index: UInt64, entry: Entry<Payload>)]) {
        entriesToPersist = durableEntries
    }

    public var isEmpty: Bool {
        snapshot == nil && hardState == nil && truncateAfterIndex == nil && entriesToPersist.isEmpty && messages.isEmpty
            && messagesAfterPersist.isEmpty && committedEntries.isEmpty && readStates.isEmpty
    }

    /// Both message lists, in the order they are sent (for tests that deliver by hand).
    public var allMessages: [Message<Payload>] { messages + messagesAfterPersist }

    /// Whether `body` may be sent before the sender's own `Ready` is durable: it promises
    /// nothing about the sender's disk (a leader's appends and snapshots, a pre-vote).
    public static func maySendBeforePersist(_ body: MessageBody<Payload>) -> Bool {
        switch body {
        case .appendEntries, .installSnapshot, .preVote: return true
        case .preVoteResponse, .requestVote, .requestVoteResponse, .appendEntriesResponse: return false
        }
    }
}
