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
            var index = raft.commitIndex
            while index >= 1 && committed[index] == nil {
                committed[index] = raft.entry(at: index).payload.id
                statistics.commits += 1
                index -= 1
            }
            if raft.commitIndex > raft.lastIndex { throw fail("replica \(replica.id) commit index past its log") }
            for probe in [raft.commitIndex, raft.commitIndex / 2, 1] where probe >= 1 && probe <= raft.commitIndex {
                if committed[probe] != raft.entry(at: probe).payload.id {
                    throw fail("replica \(replica.id) holds batch \(raft.entry(at: probe).payload.id) at committed index \(probe), batch \(committed[probe]!) was committed there")
                }
            }
        }
    }

    /// Leader completeness: a new leader's log holds every entry known committed.
    private func checkLeaderCompleteness(_ leader: SimReplica) throws {
        for (index, batchId) in committed {
            guard index <= leader.raft.lastIndex, leader.raft.entry(at: index).payload.id == batchId else {
                throw fail("leader \(leader.id) of term \(leader.raft.term) lacks committed index \(index)")
            }
        }
    }

    /// Log matching, checked on each newly persisted entry: if two durable logs have an entry with the
    /// same index and term, they hold the same batch and agree on the term before it.
    func checkNewEntries(_ replica: SimReplica, from start: Int) throws {
        guard start < replica.disk.entries.count else { return }
        for position in start..<replica.disk.entries.count {
            let entry = replica.disk.entries[position]
            for other in replicas where other.id != replica.id && position < other.disk.entries.count {
                let theirs = other.disk.entries[position]
                guard theirs.term == entry.term else { continue }
                if theirs.payload != entry.payload {
                    throw fail("log matching: index \(position + 1) term \(entry.term) holds batch \(entry.payload.id) on \(replica.id) and \(theirs.payload.id) on \(other.id)")
                }
                if position > 0 && other.disk.entries[position - 1].term != replica.disk.entries[position - 1].term {
                    throw fail("log matching: logs agree at index \(position + 1) but not at \(position)")
                }
            }
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
