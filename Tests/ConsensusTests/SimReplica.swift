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

/// What survives a crash.
struct SimDisk {
    var hardState = HardState()
    var entries: [Entry<SimBatch>] = []
    /// Positions (0-based) of stored entries whose checksum no longer matches.
    var corrupted: Set<Int> = []
}

final class SimReplica {
    let id: Int
    let config: RaftConfig
    var disk = SimDisk()
    var raft: Raft<SimBatch>
    var ledger: Ledger
    var isUp = true
    var restarts = 0
    /// (index, batch id) of every entry applied since the last restart.
    var applied: [(index: UInt64, batchId: UInt64)] = []

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
        raft = Raft(id: id, config: config, seed: seed, noopPayload: .noop, hardState: disk.hardState, entries: disk.entries)
        ledger = SimReplica.freshLedger()
        applied = []
        isUp = true
        restarts += 1
    }

    /// Carries out one `Ready`. With `crashAfterEntries` set, the process dies after persisting
    /// that many of the new entries: the rest of the cycle never happens.
    func process(_ ready: Ready<SimBatch>, crashAfterEntries: Int? = nil, persistHardStateBeforeCrash: Bool = true) -> [Message<SimBatch>]? {
        if let truncate = ready.truncateAfterIndex {
            disk.entries.removeLast(disk.entries.count - Int(truncate))
            disk.corrupted = disk.corrupted.filter { $0 < Int(truncate) }
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
        return ready.messages
    }

    private func persist(index: UInt64, entry: Entry<SimBatch>) {
        precondition(Int(index) == disk.entries.count + 1, "entries are persisted contiguously")
        disk.entries.append(entry)
    }

    private func apply(index: UInt64, batch: SimBatch) {
        precondition(applied.last.map { $0.index + 1 == index } ?? (index == 1), "entries are applied in order, once")
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
        let lastTerm = disk.entries.last?.term ?? 0
        return !(lastTerm > floor.votingFloorTerm || (lastTerm == floor.votingFloorTerm && UInt64(disk.entries.count) >= floor.votingFloorIndex))
    }

    /// Restart after finding damage: the damaged entry and everything after it are discarded (never
    /// applied), and the voting floor remembers how far the log reached; a leader repairs the rest.
    func restartDiscardingDamage(seed: UInt64) {
        if let first = disk.corrupted.min(), first < disk.entries.count {
            let last = disk.entries.count
            disk.hardState = disk.hardState.discardingSuffix(lastIndex: UInt64(last), lastTerm: disk.entries[last - 1].term)
            disk.entries.removeLast(last - first)
        }
        disk.corrupted.removeAll()
        restart(seed: seed)
    }
}
