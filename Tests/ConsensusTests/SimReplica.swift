// A simulated replica: the real Raft core, a simulated disk, and the real ledger as its state machine.
//
// Disk fault model: what a `Ready` persists is durable once the cycle completes. A crash may hit
// in the middle of persisting: then only a prefix of the new entries (and maybe not the hard
// state) survives, and none of the cycle's messages were sent, so nothing was promised from the
// lost part. Everything else in memory (unpersisted entries, commit index, the ledger) is lost.
import Consensus
import LedgerCore
import Workload

/// A batch as the simulator proposes it: an id (to check logs against each other) and transfers.
struct SimBatch: Sendable, Equatable {
    var id: UInt64
    var transfers: [Transfer]

    static let noop = SimBatch(id: 0, transfers: [])
}

/// A snapshot on a simulated disk: the ledger state after `index` (a copy, as the real snapshot
/// file restores it: every table byte for byte).
struct SimSnapshot {
    var index: UInt64 = 0
    var term: UInt64 = 0
    var ledger: Ledger?
}

/// What survives a crash: the hard state, the newest snapshot, and the log after it.
struct SimDisk {
    var hardState = HardState()
    var snapshot = SimSnapshot()
    /// The entries after `snapshot.index`.
    var entries: [Entry<SimBatch>] = []
    /// Positions (0-based, in `entries`) of stored entries whose checksum no longer matches.
    var corrupted: Set<Int> = []

    var lastIndex: UInt64 { snapshot.index + UInt64(entries.count) }
    var lastTerm: UInt64 { entries.last?.term ?? snapshot.term }

    func term(at index: UInt64) -> UInt64? {
        index == snapshot.index ? snapshot.term : entry(at: index)?.term
    }

    func entry(at index: UInt64) -> Entry<SimBatch>? {
        guard index > snapshot.index, index <= lastIndex else { return nil }
        return entries[Int(index - snapshot.index - 1)]
    }
}



final class SimReplica {
    let id: Int
    let config: RaftConfig
    var disk = SimDisk()
    var raft: Raft<SimBatch>
    var ledger: Ledger
    var isUp = true
    var restarts = 0
    /// (index, batch id) of every entry applied since the last restart or snapshot install.
    var applied: [(index: UInt64, batchId: UInt64)] = []
    /// The index the state machine started from (a snapshot's, or 0).
    var appliedBase: UInt64 = 0
    /// Compact the log once this many applied entries follow the snapshot (0: never).
    var compactionIntervalEntries = 0
    /// Snapshots installed from a leader, for the statistics.
    var installs = 0

    static let accounts = 8

    init(id: Int, config: RaftConfig, seed: UInt64) {
        self.id = id
        self.config = config
        raft = Raft(id: id, config: config, seed: seed, noopPayload: .noop)
        ledger = SimReplica.freshLedger()
    }

    /// Every replica starts from the same genesis: accounts 1...8, account 1 without limits.
    static func freshLedger() -> Ledger {
        let ledger = Ledger(hashSeed: 99)
        let accounts = (1...accounts).map { Account(id: UInt128($0), ledger: 1, flags: $0 == 1 ? [] : .debitsMustNotExceedCredits) }
        var results = [UInt8](repeating: 0, count: accounts.count)
        accounts.withUnsafeBufferPointer { records in
            results.withUnsafeMutableBufferPointer { ledger.createAccounts(records, timestampNs: 1, results: $0) }
        }
        return ledger
    }

    func crash() {
        isUp = false
    }

    func restart(seed: UInt64) {
        let snapshot = disk.snapshot
        raft = Raft(id: id, config: config, seed: seed, noopPayload: .noop, hardState: disk.hardState, entries: disk.entries,
                    appliedIndex: snapshot.index, snapshotIndex: snapshot.index, snapshotTerm: snapshot.term)
        ledger = snapshot.ledger?.copy(spareTransfers: 64) ?? SimReplica.freshLedger()
        applied = []
        appliedBase = snapshot.index
        isUp = true
        restarts += 1
    }

    /// Carries out one `Ready` after its `messages` were sent (the simulator sends them first, as
    /// the shell does: they promise nothing about this disk). Returns `messagesAfterPersist`, or
    /// nil when it crashed. With `crashAfterEntries` set, the process dies after persisting that
    /// many of the new entries: the rest of the cycle never happens.
    /// `snapshots` are the states at committed indexes (the same on every replica, which the
    /// checkers verify): what a leader's snapshot message would carry.
    func process(_ ready: Ready<SimBatch>, snapshots: [UInt64: SimSnapshot], crashAfterEntries: Int? = nil,
                 persistHardStateBeforeCrash: Bool = true, installBeforeCrash: Bool = true) -> [Message<SimBatch>]? {
        if let snapshot = ready.snapshot {
            // A crash during the transfer: the snapshot never became durable.
            if crashAfterEntries != nil && !installBeforeCrash {
                crash()
                return nil
            }
            guard let state = snapshots[snapshot.index], state.term == snapshot.term else {
                preconditionFailure("no committed state recorded at index \(snapshot.index)")
            }
            let kept = snapshot.keepsLogAfterIndex ? Array(disk.entries.dropFirst(Int(snapshot.index - disk.snapshot.index))) : []
            disk.corrupted = snapshot.keepsLogAfterIndex
                ? Set(disk.corrupted.compactMap { $0 >= Int(snapshot.index - disk.snapshot.index) ? $0 - Int(snapshot.index - disk.snapshot.index) : nil }) : []
            disk.snapshot = SimSnapshot(index: snapshot.index, term: snapshot.term, ledger: state.ledger!.copy(spareTransfers: 64))
            disk.entries = kept
            ledger = state.ledger!.copy(spareTransfers: 64)
            applied = []
            appliedBase = snapshot.index
            installs += 1
        }
        if let truncate = ready.truncateAfterIndex {
            let keep = Int(truncate - disk.snapshot.index)
            disk.entries.removeLast(disk.entries.count - keep)
            disk.corrupted = disk.corrupted.filter { $0 < keep }
        }
        if let crashAfter = crashAfterEntries {
            for (index, entry) in ready.entriesToPersist.prefix(crashAfter) { persist(index: index, entry: entry) }
            if persistHardStateBeforeCrash, let hardState = ready.hardState { disk.hardState = hardState }
            crash()
            return nil
        }
        for (index, entry) in ready.entriesToPersist { persist(index: index, entry: entry) }
        if let hardState = ready.hardState { disk.hardState = hardState }
        for (index, entry) in ready.committedEntries { apply(index: index, batch: entry.payload) }
        raft.advance(ready)
        return ready.messagesAfterPersist
    }

    /// Takes a snapshot of the applied state and drops the log before it, once the interval is
    /// reached: atomically on the simulated disk (snapshot first, then the prefix goes).
    /// Returns the snapshot taken, for the simulator's record of committed states.
    func compactIfDue() -> SimSnapshot? {
        guard compactionIntervalEntries > 0, raft.appliedIndex >= disk.snapshot.index + UInt64(compactionIntervalEntries) else { return nil }
        let index = raft.appliedIndex
        // Only what is stored durably can be dropped; an applied entry is always stored here.
        guard index <= disk.lastIndex, let term = raft.term(at: index) else { return nil }
        let snapshot = SimSnapshot(index: index, term: term, ledger: ledger.copy(spareTransfers: 64))
        let dropped = Int(index - disk.snapshot.index)
        disk.entries.removeFirst(dropped)
        disk.corrupted = Set(disk.corrupted.compactMap { $0 >= dropped ? $0 - dropped : nil })
        disk.snapshot = snapshot
        raft.compactLog(through: index)
        return snapshot
    }

    private func persist(index: UInt64, entry: Entry<SimBatch>) {
        precondition(index == disk.lastIndex + 1, "entries are persisted contiguously")
        disk.entries.append(entry)
    }

    private func apply(index: UInt64, batch: SimBatch) {
        precondition(applied.last.map { $0.index + 1 == index } ?? (index == appliedBase + 1), "entries are applied in order, once")
        applied.append((index, batch.id))
        guard !batch.transfers.isEmpty else { return }
        var results = [UInt8](repeating: 0, count: batch.transfers.count)
        batch.transfers.withUnsafeBufferPointer { records in
            // Timestamps derive from the index: the same on every replica, increasing with the log.
            results.withUnsafeMutableBufferPointer { ledger.createTransfers(records, timestampNs: index * 1_000 + 10, results: $0) }
        }
    }
}

extension SimReplica {
    /// Bit rot: one stored entry no longer passes its checksum. The simulator models the checksum
    /// by this flag; the real log detects it with CRC32C (and the segment log's recovery rules).
    func corruptStoredEntry(at position: Int) {
        disk.corrupted.insert(position)
    }

    /// Whether it discarded damaged entries and has not yet been repaired up to its voting floor.
    var isUnrepaired: Bool {
        let floor = disk.hardState
        guard floor.votingFloorIndex > 0 else { return false }
        let lastTerm = disk.lastTerm
        return !(lastTerm > floor.votingFloorTerm || (lastTerm == floor.votingFloorTerm && disk.lastIndex >= floor.votingFloorIndex))
    }

    /// Restart after finding damage: the damaged entry and everything after it are discarded (never
    /// applied), and the voting floor remembers how far the log reached; a leader repairs the rest.
    func restartDiscardingDamage(seed: UInt64) {
        if let first = disk.corrupted.min(), first < disk.entries.count {
            disk.hardState = disk.hardState.discardingSuffix(lastIndex: disk.lastIndex, lastTerm: disk.lastTerm)
            disk.entries.removeLast(disk.entries.count - first)
        }
        disk.corrupted.removeAll()
        restart(seed: seed)
    }
}
