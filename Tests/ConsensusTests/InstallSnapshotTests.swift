// Log compaction and install snapshot (Raft §7), driven message by message.
@testable import Consensus
import XCTest

/// A hand-driven cluster whose replicas keep a snapshot (index, term, applied payloads) and the
/// log after it on a simulated disk, and apply committed payloads to a list (the state machine).
final class SnapshotCluster {
    struct Disk {
        var snapshot: (index: UInt64, term: UInt64, state: [String]) = (0, 0, [])
        var entries: [Entry<String>] = []
        var hardState = HardState()
    }

    let config: RaftConfig
    var replicas: [Raft<String>] = []
    var disks: [Disk] = []
    /// Each replica's state machine: every payload applied, in index order.
    var states: [[String]] = []
    var queue: [Message<String>] = []
    var installs: [[SnapshotToInstall]] = []

    init(logs: [[UInt64]], terms: [UInt64]) {
        var config = RaftConfig(replicaCount: logs.count)
        config.entriesPerMessageMax = 4
        self.config = config
        for (id, log) in logs.enumerated() {
            let entries = log.enumerated().map { Entry(term: $0.element, payload: "i\($0.offset + 1)t\($0.element)") }
            disks.append(Disk(entries: entries, hardState: HardState(term: terms[id])))
            replicas.append(Raft(id: id, config: config, seed: UInt64(id), noopPayload: "noop", hardState: HardState(term: terms[id]), entries: entries))
            states.append([])
            installs.append([])
        }
    }

    /// Carries out every Ready of replica `id`, in the order `Ready` documents.
    func drain(_ id: Int) {
        let raft = replicas[id]
        while raft.hasReady {
            let ready = raft.ready()
            if let snapshot = ready.snapshot {
                // The leader's snapshot travels with the message; here, the leader's state at that index.
                let leaderState = states.first { $0.count >= Int(snapshot.index) }.map { Array($0.prefix(Int(snapshot.index))) }!
                let stored = disks[id]
                let kept = snapshot.keepsLogAfterIndex
                    ? Array(stored.entries.dropFirst(Int(snapshot.index - stored.snapshot.index))) : []
                disks[id].snapshot = (snapshot.index, snapshot.term, leaderState)
                disks[id].entries = kept
                states[id] = leaderState
                installs[id].append(snapshot)
            }
            if let truncate = ready.truncateAfterIndex {
                disks[id].entries.removeLast(disks[id].entries.count - Int(truncate - disks[id].snapshot.index))
            }
            for (index, entry) in ready.entriesToPersist {
                XCTAssertEqual(index, disks[id].snapshot.index + UInt64(disks[id].entries.count) + 1, "contiguous")
                disks[id].entries.append(entry)
            }
            if let hardState = ready.hardState { disks[id].hardState = hardState }
            queue.append(contentsOf: ready.allMessages)
            for (index, entry) in ready.committedEntries {
                XCTAssertEqual(Int(index), states[id].count + 1, "applied in order, once")
                states[id].append(entry.payload)
            }
            raft.advance(ready)
        }
    }

    func deliverAll(allow: (Message<String>) -> Bool = { _ in true }) {
        var budget = 10_000
        while !queue.isEmpty && budget > 0 {
            budget -= 1
            let message = queue.removeFirst()
            guard allow(message) else { continue }
            replicas[message.to].step(message)
            drain(message.to)
        }
    }

    /// The leader's heartbeat rounds: ticks every replica up (no elections happen in so few).
    func heartbeatRound(allow: (Message<String>) -> Bool = { _ in true }) {
        for _ in 0..<config.heartbeatIntervalTicks {
            for id in replicas.indices where replicas[id].role == .leader {
                replicas[id].tick()
                drain(id)
            }
        }
        deliverAll(allow: allow)
    }

    /// Restarts replica `id` from its disk: snapshot, log after it, hard state.
    func restart(_ id: Int) {
        let disk = disks[id]
        replicas[id] = Raft(id: id, config: config, seed: 77, noopPayload: "noop", hardState: disk.hardState, entries: disk.entries,
                            appliedIndex: disk.snapshot.index, snapshotIndex: disk.snapshot.index, snapshotTerm: disk.snapshot.term)
        states[id] = disk.snapshot.state
    }

    func logPayloads(_ id: Int) -> [String] { disks[id].entries.map(\.payload) }
}

final class InstallSnapshotTests: XCTestCase {
    /// A leader that compacted its log brings an empty follower up with its snapshot, then the tail.
    func testAFollowerBehindTheCompactedLogGetsTheSnapshotThenTheTail() {
        let cluster = SnapshotCluster(logs: [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], []], terms: [1, 1, 1])
        let awayFromTwo = { (message: Message<String>) in message.to != 2 && message.from != 2 }
        cluster.replicas[0].campaign()
        cluster.drain(0)
        cluster.deliverAll(allow: awayFromTwo)
        XCTAssertEqual(cluster.replicas[0].role, .leader)
        XCTAssertEqual(cluster.replicas[0].commitIndex, 11, "the no-op of term 2 committed with replica 1")
        cluster.replicas[0].compactLog(through: 11)
        XCTAssertEqual(cluster.replicas[0].snapshotIndex, 11)
        XCTAssertNil(cluster.replicas[0].term(at: 5), "compacted")
        XCTAssertEqual(cluster.replicas[0].term(at: 11), 2)

        // Replica 2 comes back: it cannot be sent entries 1...11 any more, so it gets the snapshot.
        for index in 1...3 { _ = cluster.replicas[0].propose("new\(index)") }
        cluster.drain(0)
        for _ in 0..<4 { cluster.heartbeatRound() }
        XCTAssertEqual(cluster.installs[2].map(\.index), [11])
        XCTAssertEqual(cluster.installs[2].first?.keepsLogAfterIndex, false)
        XCTAssertEqual(cluster.disks[2].snapshot.index, 11)
        XCTAssertEqual(cluster.logPayloads(2), ["new1", "new2", "new3"], "then the tail, entry by entry")
        XCTAssertEqual(cluster.replicas[2].commitIndex, 14)
        XCTAssertEqual(cluster.states[2], cluster.states[0], "the same state machine, through the snapshot")
        XCTAssertEqual(cluster.states[0].count, 14)
        XCTAssertEqual(cluster.installs[1], [], "a follower that keeps up never needs a snapshot")
    }

    /// A follower holding uncommitted entries of an old term, far behind: the snapshot replaces its
    /// whole log (nothing of the conflicting suffix survives), and it then matches the leader.
    func testTheSnapshotReplacesAConflictingLog() {
        let cluster = SnapshotCluster(logs: [[1, 1, 2, 2, 2, 2, 2, 2], [1, 1, 2, 2, 2, 2, 2, 2], [1, 1, 1, 1, 1]], terms: [2, 2, 2])
        let awayFromTwo = { (message: Message<String>) in message.to != 2 && message.from != 2 }
        cluster.replicas[0].campaign()
        cluster.drain(0)
        cluster.deliverAll(allow: awayFromTwo)
        cluster.replicas[0].compactLog(through: cluster.replicas[0].commitIndex)
        _ = cluster.replicas[0].propose("after")
        cluster.drain(0)
        for _ in 0..<4 { cluster.heartbeatRound() }
        XCTAssertEqual(cluster.installs[2].map(\.index), [9])
        XCTAssertFalse(cluster.logPayloads(2).contains("i3t1"), "the conflicting entries are gone")
        XCTAssertEqual(cluster.logPayloads(2), ["after"])
        XCTAssertEqual(cluster.states[2], cluster.states[0])
    }

    /// A follower that stored the snapshot's own entry (and more after it, all matching) keeps what
    /// follows; one that did not store it durably yet does not.
    func testAMatchingStoredSuffixIsKept() {
        var config = RaftConfig(replicaCount: 3)
        config.entriesPerMessageMax = 4
        let entries = (1...12).map { Entry(term: 1, payload: "i\($0)t1") }
        let follower = Raft(id: 1, config: config, seed: 1, noopPayload: "noop", hardState: HardState(term: 1), entries: entries)
        follower.step(Message(from: 0, to: 1, term: 1, body: .installSnapshot(index: 10, snapshotTerm: 1)))
        let ready = follower.ready()
        XCTAssertEqual(ready.snapshot, SnapshotToInstall(index: 10, term: 1, keepsLogAfterIndex: true))
        XCTAssertEqual(follower.lastIndex, 12)
        XCTAssertEqual(follower.commitIndex, 10)
        XCTAssertTrue(ready.committedEntries.isEmpty, "entries in the snapshot are not applied again")
        guard case .appendEntriesResponse(true, 10, _, _)? = ready.allMessages.first?.body else {
            return XCTFail("answered with match index 10: \(ready.allMessages)")
        }
        follower.advance(ready)

        // The same entries, but not yet durable: the stored log cannot be trusted through index 10.
        let fresh = Raft(id: 2, config: config, seed: 2, noopPayload: "noop", hardState: HardState(term: 1))
        fresh.step(Message(from: 0, to: 2, term: 1, body: .appendEntries(previousIndex: 0, previousTerm: 0, entries: entries, commitIndex: 0, readContext: 0)))
        fresh.step(Message(from: 0, to: 2, term: 1, body: .installSnapshot(index: 10, snapshotTerm: 1)))
        let freshReady = fresh.ready()
        XCTAssertEqual(freshReady.snapshot?.keepsLogAfterIndex, false)
        XCTAssertEqual(fresh.lastIndex, 10)
        XCTAssertTrue(freshReady.entriesToPersist.isEmpty, "nothing from before the snapshot is persisted after it")

        // An old snapshot (at or below what is committed) changes nothing and is acknowledged.
        follower.step(Message(from: 0, to: 1, term: 1, body: .installSnapshot(index: 8, snapshotTerm: 1)))
        let again = follower.ready()
        XCTAssertNil(again.snapshot)
        XCTAssertEqual(follower.lastIndex, 12)
    }

    /// A crash while the snapshot is being installed (its Ready never carried out) loses nothing:
    /// the follower restarts from its old disk and the leader sends the snapshot again.
    func testACrashDuringTheTransferIsRecoveredByResending() {
        let cluster = SnapshotCluster(logs: [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [1]], terms: [1, 1, 1])
        let awayFromTwo = { (message: Message<String>) in message.to != 2 && message.from != 2 }
        cluster.replicas[0].campaign()
        cluster.drain(0)
        cluster.deliverAll(allow: awayFromTwo)
        cluster.replicas[0].compactLog(through: 7)
        // Replica 2 receives the snapshot and crashes before its Ready is carried out.
        var crashed = false
        for _ in 0..<3 where !crashed {
            cluster.heartbeatRound(allow: { message in
                if message.to == 2, case .installSnapshot = message.body, !crashed {
                    cluster.replicas[2].step(message)  // taken in, never made durable
                    crashed = true
                    return false
                }
                return true
            })
        }
        XCTAssertTrue(crashed)
        XCTAssertEqual(cluster.disks[2].snapshot.index, 0, "nothing of the snapshot reached the disk")
        cluster.restart(2)
        XCTAssertEqual(cluster.replicas[2].lastIndex, 1)
        // The leader hears nothing back, goes back to probing after a heartbeat round, and resends.
        for _ in 0..<6 { cluster.heartbeatRound() }
        XCTAssertEqual(cluster.disks[2].snapshot.index, 7)
        XCTAssertEqual(cluster.states[2], cluster.states[0])
        // And after another restart it starts from that snapshot, applying nothing twice.
        cluster.restart(2)
        XCTAssertEqual(cluster.replicas[2].snapshotIndex, 7)
        XCTAssertEqual(cluster.replicas[2].appliedIndex, 7)
        _ = cluster.replicas[0].propose("later")
        cluster.drain(0)
        for _ in 0..<4 { cluster.heartbeatRound() }
        XCTAssertEqual(cluster.states[2], cluster.states[0])
        XCTAssertEqual(cluster.states[2].last, "later")
    }
}
