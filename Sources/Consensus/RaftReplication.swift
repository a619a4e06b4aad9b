// Log replication: pipelined appends, conflict truncation, the commit rule (Raft §5.3, §5.4).

extension Raft {
    func tickLeader() {
        heartbeatElapsedTicks += 1
        electionElapsedTicks += 1
        if electionElapsedTicks >= config.electionTimeoutTicksMin {
            electionElapsedTicks = 0
            if !checkQuorum() { return }
        }
        if heartbeatElapsedTicks >= config.heartbeatIntervalTicks {
            heartbeatElapsedTicks = 0
            for peer in peers {
                // Nothing answered since the last round: messages were lost; go back and resend.
                if !progress[peer].inflightLastIndexes.isEmpty && !progress[peer].progressedSinceHeartbeat {
                    progress[peer].inflightLastIndexes.removeAll()
                    progress[peer].nextIndex = progress[peer].matchIndex + 1
                    progress[peer].isProbing = true
                }
                progress[peer].progressedSinceHeartbeat = false
                sendHeartbeat(to: peer, readContext: readContextLast)
                sendAppends(to: peer)
            }
        }
    }

    /// A leader that heard from no majority during the last election timeout steps down, so a
    /// partitioned leader stops acting (and answering reads) as one. Returns whether it still leads.
    private func checkQuorum() -> Bool {
        let active = peers.filter { progress[$0].recentlyActive }.count + 1
        for peer in peers { progress[peer].recentlyActive = false }
        if active >= config.quorum { return true }
        becomeFollower(term: term, leader: nil)
        return false
    }

    func sendHeartbeat(to peer: Int, readContext: UInt64) {
        let match = progress[peer].matchIndex
        send(peer, .appendEntries(previousIndex: match, previousTerm: log.term(at: match) ?? 0, entries: [],
                                  commitIndex: min(commitIndex, match), readContext: readContext))
    }

    /// Sends entries from the follower's `nextIndex`, up to the pipeline limit (one while probing).
    func sendAppends(to peer: Int) {
        if progress[peer].nextIndex <= log.snapshotIndex {
            // What the follower needs next was compacted: it gets the snapshot, one at a time.
            guard progress[peer].inflightLastIndexes.isEmpty else { return }
            send(peer, .installSnapshot(index: log.snapshotIndex, snapshotTerm: log.snapshotTerm))
            progress[peer].nextIndex = log.snapshotIndex + 1
            progress[peer].inflightLastIndexes.append(log.snapshotIndex)
            progress[peer].isProbing = true
            return
        }
        let limit = progress[peer].isProbing ? 1 : config.pipelineMessagesMax
        while progress[peer].inflightLastIndexes.count < limit && progress[peer].nextIndex <= log.lastIndex {
            let next = progress[peer].nextIndex
            let end = min(log.lastIndex, next + UInt64(config.entriesPerMessageMax) - 1)
            let previousIndex = next - 1
            send(peer, .appendEntries(previousIndex: previousIndex, previousTerm: log.term(at: previousIndex)!,
                                      entries: log.entries(from: next, through: end), commitIndex: commitIndex, readContext: 0))
            progress[peer].nextIndex = end + 1
            progress[peer].inflightLastIndexes.append(end)
        }
    }

    func handleAppendEntries(_ message: Message<Payload>, previousIndex: UInt64, previousTerm: UInt64,
                             entries: [Entry<Payload>], leaderCommit: UInt64, readContext: UInt64) {
        if message.term < term {
            // A stale leader: the answer carries our term, which makes it step down.
            send(message.from, .appendEntriesResponse(success: false, matchIndex: 0, hintIndex: 0, readContext: readContext))
            return
        }
        precondition(role != .leader || leaderId != id, "two leaders in term \(term)")
        if role != .follower || leaderId != message.from { becomeFollower(term: message.term, leader: message.from) }
        resetElectionTimeout()
        var previousIndex = previousIndex
        var previousTerm = previousTerm
        var entries = entries
        if previousIndex < log.snapshotIndex {
            // Entries up to our snapshot are committed, so they match the leader's: skip them.
            let covered = Int(min(UInt64(entries.count), log.snapshotIndex - previousIndex))
            if covered < entries.count || previousIndex + UInt64(covered) == log.snapshotIndex {
                entries.removeFirst(covered)
                previousIndex = log.snapshotIndex
                previousTerm = log.snapshotTerm
            } else {
                let matched = previousIndex + UInt64(entries.count)
                send(message.from, .appendEntriesResponse(success: true, matchIndex: matched, hintIndex: 0, readContext: readContext))
                return
            }
        }
        guard previousIndex <= log.lastIndex else {
            send(message.from, .appendEntriesResponse(success: false, matchIndex: 0, hintIndex: log.lastIndex + 1, readContext: readContext))
            return
        }
        guard log.term(at: previousIndex) == previousTerm else {
            // Skip back over the whole conflicting term; never below what is committed.
            let hint = max(commitIndex + 1, log.firstIndex(ofTermAt: previousIndex))
            send(message.from, .appendEntriesResponse(success: false, matchIndex: 0, hintIndex: hint, readContext: readContext))
            return
        }
        var index = previousIndex
        for entry in entries {
            index += 1
            if let existing = log.term(at: index) {
                if existing == entry.term { continue }
                precondition(index > commitIndex, "a committed entry (index \(index)) conflicts with the leader")
                log.truncate(after: index - 1)
                pendingTruncateAfter = min(pendingTruncateAfter ?? index - 1, index - 1)
                unstableFromIndex = min(unstableFromIndex, index)
            }
            log.append(entry)
        }
        let lastNewIndex = previousIndex + UInt64(entries.count)
        if leaderCommit > commitIndex { commitIndex = max(commitIndex, min(leaderCommit, lastNewIndex)) }
        send(message.from, .appendEntriesResponse(success: true, matchIndex: lastNewIndex, hintIndex: 0, readContext: readContext))
    }

    func handleAppendEntriesResponse(_ message: Message<Payload>, success: Bool, matchIndex: UInt64, hintIndex: UInt64, readContext: UInt64) {
        guard role == .leader, message.term == term else { return }
        let peer = message.from
        progress[peer].recentlyActive = true
        if readContext > 0 { acknowledgeRead(from: peer, context: readContext) }
        if success {
            if matchIndex > progress[peer].matchIndex {
                progress[peer].matchIndex = matchIndex
                progress[peer].progressedSinceHeartbeat = true
            }
            progress[peer].inflightLastIndexes.removeAll { $0 <= matchIndex }
            progress[peer].nextIndex = max(progress[peer].nextIndex, progress[peer].matchIndex + 1)
            progress[peer].isProbing = false
            maybeCommit()
        } else if hintIndex > 0 {
            // A follower that discarded a damaged suffix no longer holds what it once matched:
            // believe its log (only ever makes commitment more conservative) and repair it.
            if hintIndex <= progress[peer].matchIndex { progress[peer].matchIndex = hintIndex - 1 }
            let next = max(progress[peer].matchIndex + 1, min(hintIndex, progress[peer].nextIndex))
            progress[peer].nextIndex = next
            progress[peer].inflightLastIndexes.removeAll()
            progress[peer].isProbing = true
        }
        sendAppends(to: peer)
    }

    /// A leader's snapshot for a follower whose log it can no longer repair entry by entry.
    func handleInstallSnapshot(_ message: Message<Payload>, index: UInt64, snapshotTerm: UInt64) {
        if message.term < term {
            send(message.from, .appendEntriesResponse(success: false, matchIndex: 0, hintIndex: 0, readContext: 0))
            return
        }
        precondition(role != .leader || leaderId != id, "two leaders in term \(term)")
        if role != .follower || leaderId != message.from { becomeFollower(term: message.term, leader: message.from) }
        resetElectionTimeout()
        if index <= commitIndex {
            // Already have it all (committed entries match the leader's): nothing to install.
            send(message.from, .appendEntriesResponse(success: true, matchIndex: index, hintIndex: 0, readContext: 0))
            return
        }
        // The stored log may stay only if it is stored, untouched, through the snapshot's entry.
        let storedThroughIndex = pendingTruncateAfter == nil && log.stableIndex >= index
        let kept = log.installSnapshot(index: index, term: snapshotTerm, keepIfMatching: storedThroughIndex)
        pendingSnapshot = SnapshotToInstall(index: index, term: snapshotTerm, keepsLogAfterIndex: kept)
        if !kept {
            // The snapshot replaces the whole stored log: no truncation or older entry is pending.
            pendingTruncateAfter = nil
            unstableFromIndex = index + 1
        }
        commitIndex = index
        appliedIndex = index
        send(message.from, .appendEntriesResponse(success: true, matchIndex: index, hintIndex: 0, readContext: 0))
    }

    /// The commit rule: the highest index a majority holds durably, if its entry is of this term.
    func maybeCommit() {
        guard role == .leader else { return }
        var matches = peers.map { progress[$0].matchIndex }
        matches.append(log.stableIndex)
        matches.sort(by: >)
        let candidate = matches[config.quorum - 1]
        guard candidate > commitIndex, log.term(at: candidate) == term else { return }
        commitIndex = candidate
        releaseReadsWaitingForCommit()
        // Tell followers now rather than at the next heartbeat: it shortens the commit latency.
        for peer in peers where progress[peer].nextIndex > log.lastIndex && progress[peer].inflightLastIndexes.isEmpty {
            sendHeartbeat(to: peer, readContext: 0)
        }
    }
}
