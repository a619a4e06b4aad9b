// Scenarios from the Raft paper, driven message by message (Ongaro & Ousterhout, figures 7 and 8).
@testable import Consensus
import XCTest

/// A hand-driven cluster: replicas restored from given logs, messages held until delivered.
final class ManualCluster {
    var replicas: [Raft<String>] = []
    var disks: [[Entry<String>]] = []
    var queue: [Message<String>] = []

    init(logs: [[UInt64]], terms: [UInt64], entriesPerMessageMax: Int = 4) {
        var config = RaftConfig(replicaCount: logs.count)
        config.entriesPerMessageMax = entriesPerMessageMax
        for (id, log) in logs.enumerated() {
            let entries = log.enumerated().map { Entry(term: $0.element, payload: "i\($0.offset + 1)t\($0.element)") }
            replicas.append(Raft(id: id, config: config, seed: UInt64(id), noopPayload: "noop",
                                 hardState: HardState(term: terms[id]), entries: entries))
            disks.append(entries)
        }
    }

    func drain(_ id: Int) {
        let raft = replicas[id]
        while raft.hasReady {
            let ready = raft.ready()
            if let truncate = ready.truncateAfterIndex { disks[id].removeLast(disks[id].count - Int(truncate)) }
            for (_, entry) in ready.entriesToPersist { disks[id].append(entry) }
            queue.append(contentsOf: ready.allMessages)
            raft.advance(ready)
        }
    }

    /// Delivers queued messages (those `allow` accepts; the rest are dropped) until none are left.
    func deliverAll(allow: (Message<String>) -> Bool = { _ in true }) {
        while !queue.isEmpty {
            let message = queue.removeFirst()
            guard allow(message) else { continue }
            replicas[message.to].step(message)
            drain(message.to)
        }
    }

    func terms(_ id: Int) -> [UInt64] { disks[id].map(\.term) }
}

final class PaperTests: XCTestCase {
    /// Figure 7: a leader in term 8 brings followers with missing, extra and conflicting entries to
    /// exactly its own log.
    func testFigure7LeaderRepairsEveryFollowerLog() {
        let leaderLog: [UInt64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
        let cluster = ManualCluster(logs: [
            leaderLog,
            [1, 1, 1, 4, 4, 5, 5, 6, 6],            // (a) missing one
            [1, 1, 1, 4],                           // (b) missing many
            [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],      // (c) one extra, uncommitted
            [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],   // (d) extra entries of term 7
            [1, 1, 1, 4, 4, 4, 4],                  // (e) missing and extra of term 4
            [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],      // (f) extra entries of terms 2 and 3
        ], terms: [7, 7, 7, 7, 7, 7, 7])
        cluster.replicas[0].campaign()
        cluster.drain(0)
        cluster.deliverAll()
        XCTAssertEqual(cluster.replicas[0].role, .leader)
        XCTAssertEqual(cluster.replicas[0].term, 8)
        let expected = leaderLog + [8]  // the new leader's no-op
        for id in 0..<7 {
            XCTAssertEqual(cluster.terms(id), expected, "follower \(id)")
            XCTAssertEqual(cluster.disks[id].map(\.payload), cluster.disks[0].map(\.payload), "follower \(id)")
        }
        XCTAssertEqual(cluster.replicas[0].commitIndex, 11)
    }

    /// Figure 8: an entry from an earlier term stored on a majority is not committed by counting;
    /// it commits only with an entry of the leader's own term, so a later leader may still replace it.
    func testFigure8EntriesOfEarlierTermsDoNotCommitByCounting() {
        // State (c) of figure 8: S1 (index 0 here) restarted with [1, 2]; S5 holds [1, 3].
        let cluster = ManualCluster(logs: [[1, 2], [1, 2], [1], [1], [1, 3]], terms: [3, 3, 3, 3, 3], entriesPerMessageMax: 1)
        cluster.replicas[0].campaign()  // term 4
        cluster.drain(0)
        // S3 and S4 (indexes 2, 3) receive index 2 from S1 but never its term-4 no-op at index 3.
        cluster.deliverAll { message in
            if message.to == 4 || message.from == 4 { return false }  // S5 stays cut off
            if case .appendEntries(let previousIndex, _, let entries, _, _) = message.body, message.to == 2 || message.to == 3,
               !entries.isEmpty, previousIndex >= 2, cluster.disks[message.to].count >= 2 { return false }
            return true
        }
        XCTAssertEqual(cluster.replicas[0].role, .leader)
        XCTAssertEqual(cluster.replicas[0].term, 4)
        // Index 2 (term 2) is now on S1, S2, S3, S4: a majority, yet not committed.
        XCTAssertEqual(cluster.terms(2), [1, 2])
        XCTAssertEqual(cluster.terms(3), [1, 2])
        XCTAssertEqual(cluster.replicas[0].commitIndex, 0, "an entry of term 2 must not commit by counting in term 4")

        // (d): S1 crashes before its term-4 entry spreads; S5 is elected and overwrites index 2.
        cluster.queue.removeAll()
        cluster.replicas[4].campaign()  // term 4: everyone already voted for S1 in term 4
        cluster.drain(4)
        cluster.deliverAll { $0.to != 0 && $0.from != 0 }
        cluster.replicas[4].campaign()  // term 5: S3 and S4 hold [1, 2], older than S5's [1, 3]
        cluster.drain(4)
        cluster.deliverAll { $0.to != 0 && $0.from != 0 }
        XCTAssertEqual(cluster.replicas[4].role, .leader)
        for follower in 1...3 { XCTAssertEqual(Array(cluster.terms(follower).prefix(2)), [1, 3], "S\(follower + 1)") }
    }

    /// Figure 8 (e): once the leader's own-term entry is on a majority, both entries commit.
    func testFigure8CommitsWithAnEntryOfTheCurrentTerm() {
        let cluster = ManualCluster(logs: [[1, 2], [1, 2], [1], [1], [1, 3]], terms: [3, 3, 3, 3, 3], entriesPerMessageMax: 1)
        cluster.replicas[0].campaign()
        cluster.drain(0)
        cluster.deliverAll { $0.to != 4 && $0.from != 4 }
        XCTAssertEqual(cluster.replicas[0].commitIndex, 3)
        XCTAssertEqual(cluster.terms(2), [1, 2, 4])
    }

    func testAVoteIsGivenOncePerTerm() {
        let cluster = ManualCluster(logs: [[1], [1], [1]], terms: [1, 1, 1])
        let voter = cluster.replicas[2]
        voter.step(Message(from: 0, to: 2, term: 2, body: .requestVote(lastIndex: 1, lastTerm: 1)))
        voter.step(Message(from: 1, to: 2, term: 2, body: .requestVote(lastIndex: 1, lastTerm: 1)))
        let ready = voter.ready()
        XCTAssertEqual(ready.hardState, HardState(term: 2, votedFor: 0))
        let grants = ready.allMessages.compactMap { message -> Bool? in
            if case .requestVoteResponse(let granted) = message.body { return granted }
            return nil
        }
        XCTAssertEqual(grants, [true, false])
    }

    func testElectionRestrictionRefusesAShorterLog() {
        let cluster = ManualCluster(logs: [[1, 1], [1, 2]], terms: [2, 2])
        let voter = cluster.replicas[1]
        voter.step(Message(from: 0, to: 1, term: 3, body: .requestVote(lastIndex: 2, lastTerm: 1)))
        guard case .requestVoteResponse(let granted) = voter.ready().allMessages.first?.body else { return XCTFail() }
        XCTAssertFalse(granted)
    }

    func testPreVoteDoesNotDisturbAWorkingLeader() {
        let cluster = ManualCluster(logs: [[], [], []], terms: [0, 0, 0])
        cluster.replicas[0].campaign()
        cluster.drain(0)
        cluster.deliverAll()
        XCTAssertEqual(cluster.replicas[0].role, .leader)
        // Replica 2 was partitioned and times out: its pre-vote is refused, nobody's term moves.
        cluster.replicas[2].startPreVote()
        cluster.drain(2)
        cluster.deliverAll()
        XCTAssertEqual(cluster.replicas[0].role, .leader)
        XCTAssertEqual(cluster.replicas.map(\.term), [1, 1, 1])
    }

    func testReadIndexNeedsAQuorumAndACommitInTheTerm() {
        let cluster = ManualCluster(logs: [[], [], []], terms: [0, 0, 0])
        cluster.replicas[0].campaign()
        cluster.drain(0)
        cluster.deliverAll()
        XCTAssertTrue(cluster.replicas[0].readIndex(requestId: 7))
        cluster.drain(0)
        XCTAssertEqual(cluster.replicas[0].readStates, [])
        var released: [ReadState] = []
        while !cluster.queue.isEmpty {
            let message = cluster.queue.removeFirst()
            cluster.replicas[message.to].step(message)
            let raft = cluster.replicas[message.to]
            while raft.hasReady {
                let ready = raft.ready()
                released += ready.readStates
                for (_, entry) in ready.entriesToPersist { cluster.disks[message.to].append(entry) }
                cluster.queue += ready.allMessages
                raft.advance(ready)
            }
        }
        XCTAssertEqual(released, [ReadState(requestId: 7, index: 1)])
        XCTAssertFalse(cluster.replicas[1].readIndex(requestId: 8), "followers do not serve read index")
    }

    /// A replica that discarded damaged entries votes as if it still held them, and does not campaign.
    func testVotingFloorProtectsEntriesADamagedReplicaAcknowledged() {
        var config = RaftConfig(replicaCount: 3)
        config.entriesPerMessageMax = 4
        let floor = HardState(term: 2).discardingSuffix(lastIndex: 10, lastTerm: 2)
        let damaged = Raft<String>(id: 0, config: config, seed: 1, noopPayload: "noop", hardState: floor,
                                   entries: (1...4).map { _ in Entry(term: 2, payload: "x") })
        damaged.step(Message(from: 2, to: 0, term: 3, body: .requestVote(lastIndex: 6, lastTerm: 2)))
        guard case .requestVoteResponse(let granted) = damaged.ready().allMessages.first?.body else { return XCTFail() }
        XCTAssertFalse(granted, "a candidate below the floor could lack entries this replica helped commit")
        for _ in 0..<100 { damaged.tick() }
        XCTAssertEqual(damaged.role, .follower)
        XCTAssertTrue(damaged.ready().allMessages.isEmpty, "below its floor it waits to be repaired")
    }
}
