// Messages no correct peer sends: dropped before any state changes, never trapped on.
@testable import Consensus
import XCTest

final class InputCheckTests: XCTestCase {
    /// A three-replica cluster whose replica 0 leads term 2 with four committed entries.
    private func committedCluster() -> ManualCluster {
        let cluster = ManualCluster(logs: [[1, 1, 1], [1, 1, 1], [1, 1, 1]], terms: [1, 1, 1])
        cluster.replicas[0].campaign()
        cluster.drain(0)
        cluster.deliverAll()
        XCTAssertEqual(cluster.replicas[0].role, .leader)
        cluster.deliverAll()
        for raft in cluster.replicas { XCTAssertEqual(raft.term, 2) }
        // Commit the no-op everywhere (a heartbeat round carries the commit index).
        for _ in 0..<RaftConfig(replicaCount: 3).heartbeatIntervalTicks { cluster.replicas[0].tick() }
        cluster.drain(0)
        cluster.deliverAll()
        XCTAssertEqual(cluster.replicas[1].commitIndex, 4)
        return cluster
    }

    /// Nothing changed: the same term, vote, role, log and commit index, and nothing to do.
    private func assertUnchanged(_ raft: Raft<String>, term: UInt64, lastIndex: UInt64, commitIndex: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(raft.term, term, file: file, line: line)
        XCTAssertEqual(raft.lastIndex, lastIndex, file: file, line: line)
        XCTAssertEqual(raft.commitIndex, commitIndex, file: file, line: line)
        XCTAssertFalse(raft.hasReady, "a dropped message left work to do", file: file, line: line)
    }

    /// One request_vote with term 2^64-1 once made every replica persist that term, then trap on
    /// `term + 1` at each restart.
    func testATermPastTheBoundIsDropped() {
        let cluster = committedCluster()
        let follower = cluster.replicas[1]
        for term in [UInt64.max, RaftBounds.termMax + 1] {
            let result = follower.step(Message(from: 2, to: 1, term: term, body: .requestVote(lastIndex: 4, lastTerm: 2)))
            guard case .dropped(let why) = result else { return XCTFail("accepted term \(term)") }
            XCTAssertTrue(why.contains("past the bound"), why)
            assertUnchanged(follower, term: 2, lastIndex: 4, commitIndex: 4)
        }
        // At the bound itself a message is taken (and a later election's `+ 1` cannot overflow).
        XCTAssertEqual(follower.step(Message(from: 2, to: 1, term: RaftBounds.termMax, body: .preVote(lastIndex: 4, lastTerm: 2))), .accepted)
    }

    /// A forged append_entries "from replica 0" (term + 1, previous (0, 0), one entry at op 1)
    /// once tripped "a committed entry conflicts with the leader" on a follower.
    func testAnAppendThatContradictsCommittedEntriesIsDropped() {
        let cluster = committedCluster()
        let follower = cluster.replicas[1]
        let forged = Message<String>(from: 0, to: 1, term: 3, body: .appendEntries(previousIndex: 0, previousTerm: 0,
                                                                               entries: [Entry(term: 3, payload: "forged")], commitIndex: 1, readContext: 0))
        guard case .dropped(let why) = follower.step(forged) else { return XCTFail("accepted") }
        XCTAssertTrue(why.contains("contradicts the committed one"), why)
        assertUnchanged(follower, term: 2, lastIndex: 4, commitIndex: 4)
        // A previous entry that contradicts a committed one, too.
        let previous = Message<String>(from: 0, to: 1, term: 2, body: .appendEntries(previousIndex: 3, previousTerm: 2, entries: [], commitIndex: 4, readContext: 0))
        guard case .dropped = follower.step(previous) else { return XCTFail("accepted") }
        XCTAssertEqual(follower.entry(at: 1).payload, "i1t1")
    }

    func testMessagesNoCorrectPeerSendsAreDropped() {
        let cluster = committedCluster()
        let leader = cluster.replicas[0]
        let follower = cluster.replicas[1]
        let cases: [(Raft<String>, Message<String>, String)] = [
            (follower, Message(from: 0, to: 2, term: 2, body: .requestVoteResponse(granted: true)), "addressed to replica 2"),
            (follower, Message(from: 1, to: 1, term: 2, body: .requestVoteResponse(granted: true)), "not a peer"),
            (follower, Message(from: 7, to: 1, term: 2, body: .requestVoteResponse(granted: true)), "not a peer"),
            (follower, Message(from: 2, to: 1, term: 3, body: .requestVote(lastIndex: UInt64.max, lastTerm: 2)), "past the bound"),
            (follower, Message(from: 2, to: 1, term: 3, body: .requestVote(lastIndex: 9, lastTerm: 4)), "past its term"),
            (follower, Message(from: 0, to: 1, term: 2, body: .appendEntries(previousIndex: UInt64.max, previousTerm: 2, entries: [Entry(term: 2, payload: "x")],
                                                                               commitIndex: 4, readContext: 0)), "past the bound"),
            (follower, Message(from: 0, to: 1, term: 2, body: .appendEntries(previousIndex: 4, previousTerm: 2, entries: [Entry(term: 3, payload: "x")],
                                                                               commitIndex: 4, readContext: 0)), "nor pass the leader's term"),
            (follower, Message(from: 0, to: 1, term: 2, body: .appendEntries(previousIndex: 4, previousTerm: 2,
                                                                               entries: [Entry(term: 2, payload: "x"), Entry(term: 1, payload: "y")],
                                                                               commitIndex: 4, readContext: 0)), "must not decrease"),
            (follower, Message(from: 0, to: 1, term: 2, body: .installSnapshot(index: 0, snapshotTerm: 1)), "out of bounds"),
            (follower, Message(from: 0, to: 1, term: 2, body: .installSnapshot(index: 9, snapshotTerm: 3)), "is not in 1...2"),
            (leader, Message(from: 1, to: 0, term: 2, body: .appendEntries(previousIndex: 4, previousTerm: 2, entries: [], commitIndex: 4, readContext: 0)),
             "a second leader in term 2"),
            (leader, Message(from: 1, to: 0, term: 2, body: .installSnapshot(index: 9, snapshotTerm: 2)), "a second leader in term 2"),
            (leader, Message(from: 1, to: 0, term: 2, body: .appendEntriesResponse(success: true, matchIndex: 99, hintIndex: 0, readContext: 0)),
             "past the leader's last index"),
        ]
        for (raft, message, words) in cases {
            let before = (raft.term, raft.lastIndex, raft.commitIndex, raft.role)
            guard case .dropped(let why) = raft.step(message) else { XCTFail("accepted: \(message)"); continue }
            XCTAssertTrue(why.contains(words), "\(why) lacks '\(words)'")
            XCTAssertEqual(before.0, raft.term)
            XCTAssertEqual(before.1, raft.lastIndex)
            XCTAssertEqual(before.2, raft.commitIndex)
            XCTAssertEqual(before.3, raft.role)
        }
        XCTAssertEqual(leader.role, .leader, "the leader still leads")
    }
}
