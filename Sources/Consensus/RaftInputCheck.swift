// What a message from the network may say: bounds, shape, and no contradiction of committed state.

/// The largest term and the largest index a message may name, and the largest a replica persists.
///
/// 2^62 is far past anything real (a new term every millisecond for 146 million years; a batch
/// a nanosecond for 146 years), and far enough below 2^64 that the core's own `+ 1` arithmetic on
/// an accepted value can never overflow. A message past it is dropped before any state changes:
/// one forged `request_vote` with term 2^64-1 once made every replica persist that term and then
/// trap on `term + 1` at each restart.
public enum RaftBounds {
    public static let termMax: UInt64 = 1 << 62
    public static let indexMax: UInt64 = 1 << 62
}

/// What `step` did with a message.
public enum StepResult: Equatable, Sendable {
    case accepted
    /// Dropped unread, with why. The shell logs it loudly and counts it: a correct peer never
    /// sends one, so it is a forged or corrupted message, or a bug elsewhere.
    case dropped(String)
}

extension Raft {
    /// Nil when `message` may be stepped; otherwise why it is dropped. Checks, before any state
    /// changes: the addressing, the bounds of every term and index, the shape a correct peer's
    /// message always has (a leader never sends entries of a later term than its own, and log
    /// terms never decrease), and that nothing contradicts what this replica knows committed or
    /// that it leads (Raft never has two leaders in one term, and committed entries never change).
    func refusal(_ message: Message<Payload>) -> String? {
        guard message.to == id else { return "addressed to replica \(message.to), not \(id)" }
        guard message.from >= 0, message.from < config.replicaCount, message.from != id else { return "from replica \(message.from), not a peer" }
        guard message.term <= RaftBounds.termMax else { return "term \(message.term) is past the bound \(RaftBounds.termMax)" }
        switch message.body {
        case .preVote(let lastIndex, let lastTerm), .requestVote(let lastIndex, let lastTerm):
            guard lastIndex <= RaftBounds.indexMax else { return "last index \(lastIndex) is past the bound" }
            guard lastTerm <= message.term else { return "a candidate's last term \(lastTerm) is past its term \(message.term)" }
        case .preVoteResponse, .requestVoteResponse:
            break
        case .appendEntries(let previousIndex, let previousTerm, let entries, let commitIndex, _):
            guard previousIndex <= RaftBounds.indexMax - UInt64(min(entries.count, Int(RaftBounds.indexMax))),
                  commitIndex <= RaftBounds.indexMax else { return "an index past the bound" }
            guard previousTerm <= message.term else { return "previous term \(previousTerm) is past the leader's term \(message.term)" }
            var last = previousTerm
            for entry in entries {
                guard entry.term >= last, entry.term <= message.term else {
                    return "entry terms must not decrease nor pass the leader's term (\(entry.term) after \(last), term \(message.term))"
                }
                last = entry.term
            }
            if message.term >= term { return contradiction(previousIndex: previousIndex, previousTerm: previousTerm, entries: entries, term: message.term) }
        case .appendEntriesResponse(let success, let matchIndex, let hintIndex, _):
            guard matchIndex <= RaftBounds.indexMax, hintIndex <= RaftBounds.indexMax else { return "an index past the bound" }
            if role == .leader && message.term == term && success && matchIndex > log.lastIndex {
                return "claims to match index \(matchIndex), past the leader's last index \(log.lastIndex)"
            }
        case .installSnapshot(let index, let snapshotTerm):
            guard index >= 1, index <= RaftBounds.indexMax else { return "snapshot index \(index) is out of bounds" }
            guard snapshotTerm >= 1, snapshotTerm <= message.term else { return "snapshot term \(snapshotTerm) is not in 1...\(message.term)" }
            if message.term == term && role == .leader { return "a second leader in term \(term)" }
            if index <= commitIndex, index >= log.snapshotIndex, let held = log.term(at: index), held != snapshotTerm {
                return "a snapshot at committed index \(index) with term \(snapshotTerm), where the committed entry has term \(held)"
            }
        }
        return nil
    }

    /// An append from a leader of this term or a later one that disagrees with a committed entry:
    /// a correct leader holds every committed entry (the leader completeness property).
    private func contradiction(previousIndex: UInt64, previousTerm: UInt64, entries: [Entry<Payload>], term messageTerm: UInt64) -> String? {
        if messageTerm == term && role == .leader { return "a second leader in term \(term)" }
        let checkedThrough = min(commitIndex, previousIndex + UInt64(entries.count))
        guard checkedThrough >= log.snapshotIndex else { return nil }  // all of it inside our snapshot: committed, so it matches
        // Previous term 0 past index 0 is a heartbeat's "unknown" (the leader compacted that entry away).
        if previousIndex <= commitIndex, previousIndex >= log.snapshotIndex, previousIndex == 0 || previousTerm != 0,
           let held = log.term(at: previousIndex), held != previousTerm {
            return "previous entry (index \(previousIndex), term \(previousTerm)) contradicts the committed one (term \(held))"
        }
        var index = previousIndex
        for entry in entries {
            index += 1
            guard index <= checkedThrough else { break }
            if index >= log.snapshotIndex, let held = log.term(at: index), held != entry.term {
                return "entry \(index) of term \(entry.term) contradicts the committed one (term \(held))"
            }
        }
        return nil
    }
}
