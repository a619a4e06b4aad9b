// Leader election: pre-vote, then vote, then leadership (Raft §5.2, §5.4.1; thesis §9.6).

extension Raft {
    /// The election restriction, against the log and against the voting floor.
    func candidateIsUpToDate(lastIndex: UInt64, lastTerm: UInt64) -> Bool {
        let aboveFloor = lastTerm > votingFloor.term || (lastTerm == votingFloor.term && lastIndex >= votingFloor.index)
        return log.isUpToDate(lastIndex: lastIndex, lastTerm: lastTerm) && aboveFloor
    }

    /// Whether this replica discarded entries it may have acknowledged and has not got them back:
    /// it must not lead (it could overwrite what it helped commit), only be repaired.
    var isBelowVotingFloor: Bool {
        let logReachesFloor = log.lastTerm > votingFloor.term
            || (log.lastTerm == votingFloor.term && log.lastIndex >= votingFloor.index)
        return votingFloor.index > 0 && !logReachesFloor
    }

    /// A timeout without a leader: ask whether an election could be won before disturbing anyone.
    func startPreVote() {
        if isBelowVotingFloor {
            resetElectionTimeout()
            return
        }
        if config.replicaCount == 1 {
            campaign()
            return
        }
        role = .preCandidate
        leaderId = nil
        votesGranted = [id]
        resetElectionTimeout()
        for peer in peers { send(peer, .preVote(lastIndex: log.lastIndex, lastTerm: log.lastTerm), term: term + 1) }
    }

    /// Grants a pre-vote when the candidate's log is up to date and this replica has not heard
    /// from a leader for an election timeout; changes no state either way.
    func handlePreVote(_ message: Message<Payload>, lastIndex: UInt64, lastTerm: UInt64) {
        let heardFromLeaderRecently = leaderId != nil && electionElapsedTicks < config.electionTimeoutTicksMin
        let granted = message.term > term && !heardFromLeaderRecently && role != .leader
            && candidateIsUpToDate(lastIndex: lastIndex, lastTerm: lastTerm)
        send(message.from, .preVoteResponse(granted: granted), term: granted ? message.term : term)
    }

    func handlePreVoteResponse(_ message: Message<Payload>, granted: Bool) {
        guard role == .preCandidate, granted, message.term == term + 1 else { return }
        votesGranted.insert(message.from)
        if votesGranted.count >= config.quorum { campaign() }
    }

    /// A real election: a new term, a vote for itself, vote requests to everyone.
    func campaign() {
        term += 1
        votedFor = id
        role = .candidate
        leaderId = nil
        votesGranted = [id]
        resetElectionTimeout()
        if votesGranted.count >= config.quorum {
            becomeLeader()
            return
        }
        for peer in peers { send(peer, .requestVote(lastIndex: log.lastIndex, lastTerm: log.lastTerm)) }
    }

    /// At most one vote per term (the vote is persisted before the answer is sent), and only for a
    /// candidate whose log is at least as up to date (the election restriction).
    func handleRequestVote(_ message: Message<Payload>, lastIndex: UInt64, lastTerm: UInt64) {
        var granted = false
        if message.term == term && (votedFor == nil || votedFor == message.from)
            && candidateIsUpToDate(lastIndex: lastIndex, lastTerm: lastTerm) {
            votedFor = message.from
            granted = true
            resetElectionTimeout()
        }
        send(message.from, .requestVoteResponse(granted: granted))
    }

    func handleRequestVoteResponse(_ message: Message<Payload>, granted: Bool) {
        guard role == .candidate, message.term == term, granted else { return }
        votesGranted.insert(message.from)
        if votesGranted.count >= config.quorum { becomeLeader() }
    }

    /// Leadership starts with a no-op entry of the new term: entries of earlier terms commit only
    /// when an entry of the current term does (§5.4.2, figure 8).
    func becomeLeader() {
        precondition(role == .candidate)
        role = .leader
        leaderId = id
        heartbeatElapsedTicks = 0
        electionElapsedTicks = 0
        progress = (0..<config.replicaCount).map { _ in FollowerProgress(nextIndex: log.lastIndex + 1) }
        log.append(Entry(term: term, payload: noopPayload))
        if config.replicaCount == 1 { return }
        for peer in peers { sendAppends(to: peer) }
    }
}
