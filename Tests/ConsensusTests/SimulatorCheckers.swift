// The properties the simulator checks after every step (Raft figure 3), and where they fail.
import Consensus
import LedgerCore

extension Simulator {
    func checkEveryStep() throws {
        for replica in replicas where replica.isUp {
            let raft = replica.raft
            // Election safety: at most one leader per term.
            if raft.role == .leader {
                if let other = leaderOfTerm[raft.term], other != replica.id {
                    throw fail("two leaders in term \(raft.term): replicas \(other) and \(replica.id)")
                }
                if leaderOfTerm[raft.term] == nil {
                    leaderOfTerm[raft.term] = replica.id
                    statistics.elections += 1
                    try checkLeaderCompleteness(replica)
                }
            }
            // Committed entries are never lost or changed.
            recordCommitted(replica)
            if raft.commitIndex > raft.lastIndex { throw fail("replica \(replica.id) commit index past its log") }
            for probe in [raft.commitIndex, raft.commitIndex / 2, 1] where probe > raft.snapshotIndex && probe <= raft.commitIndex {
                if committed[probe] != raft.entry(at: probe).payload.id {
                    throw fail("replica \(replica.id) holds batch \(raft.entry(at: probe).payload.id) at committed index \(probe), batch \(committed[probe]!) was committed there")
                }
            }
        }
    }

    /// Notes every index the replica knows committed (called before it compacts them away too).
    func recordCommitted(_ replica: SimReplica) {
        let raft = replica.raft
        var index = raft.commitIndex
        while index > raft.snapshotIndex && committed[index] == nil {
            committed[index] = raft.entry(at: index).payload.id
            statistics.commits += 1
            index -= 1
        }
    }

    /// Leader completeness: a new leader's log holds every entry known committed.
    private func checkLeaderCompleteness(_ leader: SimReplica) throws {
        for (index, batchId) in committed where index > leader.raft.snapshotIndex {
            guard index <= leader.raft.lastIndex, leader.raft.entry(at: index).payload.id == batchId else {
                throw fail("leader \(leader.id) of term \(leader.raft.term) lacks committed index \(index)")
            }
        }
    }

    /// Log matching, checked on each newly persisted entry: if two durable logs have an entry with the
    /// same index and term, they hold the same batch and agree on the term before it.
    func checkNewEntries(_ replica: SimReplica, fromIndex start: UInt64) throws {
        guard start <= replica.disk.lastIndex else { return }
        for index in max(start, replica.disk.snapshot.index + 1)...replica.disk.lastIndex {
            let entry = replica.disk.entry(at: index)!
            for other in replicas where other.id != replica.id {
                guard let theirs = other.disk.entry(at: index), theirs.term == entry.term else { continue }
                if theirs.payload != entry.payload {
                    throw fail("log matching: index \(index) term \(entry.term) holds batch \(entry.payload.id) on \(replica.id) and \(theirs.payload.id) on \(other.id)")
                }
                if let mine = replica.disk.term(at: index - 1), let theirsBefore = other.disk.term(at: index - 1), mine != theirsBefore {
                    throw fail("log matching: logs agree at index \(index) but not at \(index - 1)")
                }
            }
        }
    }

    /// A snapshot is the state after its index: every replica that applied that index reached it.
    func record(_ snapshot: SimSnapshot, from replica: SimReplica) throws {
        let digest = snapshot.ledger!.digest()
        if let record = appliedRecord[snapshot.index], record.digest != digest {
            throw fail("replica \(replica.id) snapshotted digest \(digest) at index \(snapshot.index), the state applied there is \(record.digest)")
        }
        if let earlier = snapshots[snapshot.index] {
            if earlier.term != snapshot.term || earlier.ledger!.digest() != digest {
                throw fail("two different snapshots at index \(snapshot.index)")
            }
        } else {
            snapshots[snapshot.index] = snapshot
        }
    }

    /// An installed snapshot must be a committed state: the index committed, the digest the one applied there.
    func checkInstalled(_ replica: SimReplica, at index: UInt64) throws {
        guard committed[index] != nil || index <= (replicas.map { $0.raft.commitIndex }.max() ?? 0) else {
            throw fail("replica \(replica.id) installed a snapshot at index \(index), which is not committed")
        }
        if let record = appliedRecord[index], record.digest != replica.ledger.digest() {
            throw fail("replica \(replica.id) installed a snapshot at index \(index) with digest \(replica.ledger.digest()), the state applied there is \(record.digest)")
        }
    }

    /// State machine safety: every replica applies the same batch at the same index and reaches the
    /// same ledger digest; a batch is applied only once committed.
    func checkApplied(_ replica: SimReplica, _ indexes: [UInt64]) throws {
        guard let last = indexes.last else { return }
        let batchId = replica.raft.entry(at: last).payload.id
        for index in indexes {
            guard let committedId = committed[index] ?? (index <= replica.raft.commitIndex ? replica.raft.entry(at: index).payload.id : nil) else {
                throw fail("replica \(replica.id) applied index \(index) before it was committed")
            }
            if committedId != replica.raft.entry(at: index).payload.id {
                throw fail("replica \(replica.id) applied batch \(replica.raft.entry(at: index).payload.id) at index \(index), committed batch is \(committedId)")
            }
        }
        let digest = replica.ledger.digest()
        if let record = appliedRecord[last] {
            if record.batchId != batchId || record.digest != digest {
                throw fail("replica \(replica.id) reached digest \(digest) after index \(last), another replica reached \(record.digest)")
            }
        } else {
            appliedRecord[last] = (batchId, digest)
        }
        for (_, totals) in replica.ledger.totalsByLedger() where !totals.isBalanced {
            throw fail("replica \(replica.id): money not conserved after index \(last)")
        }
    }
}
