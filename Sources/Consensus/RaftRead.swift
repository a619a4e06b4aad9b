// Linearizable reads by read index (Raft thesis §6.4): confirm leadership, then serve at an index.

extension Raft {
    /// Asks for a linearizable read. Returns false if this replica is not the leader (the shell
    /// redirects) or too many reads wait. The answer arrives as a `ReadState` in a later `Ready`:
    /// serve it once the local state machine has applied `index`.
    public func readIndex(requestId: UInt64) -> Bool {
        guard role == .leader, pendingReads.count < config.pendingReadsMax else { return false }
        readContextLast += 1
        let read = PendingRead(requestId: requestId, index: commitIndex, context: readContextLast, acknowledged: [id])
        if config.replicaCount == 1 && committedInCurrentTerm {
            readStates.append(ReadState(requestId: requestId, index: commitIndex))
            return true
        }
        pendingReads.append(read)
        for peer in peers { sendHeartbeat(to: peer, readContext: readContextLast) }
        return true
    }

    /// A new leader does not know the commit index of its predecessor until it commits an entry of
    /// its own term (the no-op); reads wait for that.
    var committedInCurrentTerm: Bool { log.term(at: commitIndex) == term }

    func acknowledgeRead(from peer: Int, context: UInt64) {
        for position in pendingReads.indices where pendingReads[position].context <= context {
            pendingReads[position].acknowledged.insert(peer)
        }
        releaseConfirmedReads()
    }

    func releaseReadsWaitingForCommit() { releaseConfirmedReads() }

    private func releaseConfirmedReads() {
        guard committedInCurrentTerm else { return }
        while let first = pendingReads.first, first.acknowledged.count >= config.quorum {
            // The read index is at least the commit index of this term's first commit.
            readStates.append(ReadState(requestId: first.requestId, index: max(first.index, commitIndex)))
            pendingReads.removeFirst()
        }
    }

    func dropPendingReads() {
        pendingReads.removeAll()
    }
}
