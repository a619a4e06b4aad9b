// The deterministic cluster simulator: seeded, single-threaded, tick-driven, checked every step.
@testable import Consensus
import Foundation
import LedgerCore
import Workload

/// A safety or liveness property that failed, with where.
struct SimulationFailure: Error, CustomStringConvertible {
    let seed: UInt64
    let tick: Int
    let message: String
    let replayCommand: String
    var description: String {
        "seed \(seed) failed at tick \(tick): \(message)\n  replay: \(replayCommand)  (SIM_DEBUG=1 dumps the replicas)"
    }
}

struct SimulationOptions {
    var replicaCount = 3
    /// Ticks with faults (drops, duplicates, delays, partitions, crashes).
    var faultyTicks = 1_500
    /// After faults stop: the cluster must commit a new batch on every replica within this many ticks.
    var recoveryTicksMax = 400
    var crashProbabilityPerTick = 0.004
    var partitionProbabilityPerTick = 0.004
    var proposeProbabilityPerTick = 0.3
    var corruptionProbabilityPerCrash = 0.3
    /// Per replica, compaction after this many applied entries is drawn from 5...this, or never
    /// (a third of the replicas): leaders then hold only part of the log, and followers that fall
    /// behind it get a snapshot.
    var compactionIntervalEntriesMax = 60
    /// Chance that a crash hits while a received snapshot is being installed.
    var crashDuringInstallProbability = 0.15
    /// The command that replays this run, printed with any failure.
    var replayCommand = ""
    /// A planted shell bug, for the test that shows the checkers catch it: acknowledgements and
    /// votes (`messagesAfterPersist`) are sent before the Ready is durable, so a crash in the
    /// middle of persisting takes back what they promised.
    var plantAcknowledgeBeforePersist = false
}

final class Simulator {
    let seed: UInt64
    let options: SimulationOptions
    var random: SplitMix64
    var network = SimNetwork<SimBatch>()
    var replicas: [SimReplica] = []
    var tick = 0
    let config: RaftConfig

    // What the checkers have seen.
    var leaderOfTerm: [UInt64: Int] = [:]
    /// index → batch id of every entry ever known committed.
    var committed: [UInt64: UInt64] = [:]
    /// index → batch id applied, and the state digest after it.
    var appliedRecord: [UInt64: (batchId: UInt64, digest: Hash256)] = [:]
    var nextBatchId: UInt64 = 1
    var partitionHealsAtTick: Int?
    /// Off once the faulty period ends: no more crashes, partitions, drops or duplicates.
    var faultsEnabled = true
    var statistics = (elections: 0, crashes: 0, partitions: 0, commits: 0, corruptions: 0, compactions: 0, installs: 0, crashesDuringInstall: 0)
    /// The state after each index some replica compacted at: what a leader's snapshot carries
    /// (the same on every replica, which `checkApplied` and `checkInstalled` verify).
    var snapshots: [UInt64: SimSnapshot] = [:]

    init(seed: UInt64, options: SimulationOptions = SimulationOptions()) {
        self.seed = seed
        self.options = options
        random = SplitMix64(seed: seed)
        config = RaftConfig(replicaCount: options.replicaCount)
        replicas = (0..<options.replicaCount).map { SimReplica(id: $0, config: config, seed: seed &* 31 &+ UInt64($0)) }
        for replica in replicas where options.compactionIntervalEntriesMax >= 5 && random.below(3) != 0 {
            replica.compactionIntervalEntries = 5 + random.below(options.compactionIntervalEntriesMax - 4)
        }
        network.dropProbability = 0.02 + random.unit() * 0.1
        network.duplicateProbability = random.unit() * 0.05
        network.delayTicksMax = 1 + random.below(4)
    }

    func fail(_ message: String) -> SimulationFailure {
        SimulationFailure(seed: seed, tick: tick, message: message, replayCommand: options.replayCommand)
    }

    /// Runs faults for `faultyTicks`, then heals everything and requires progress.
    func run() throws {
        while tick < options.faultyTicks {
            injectFaults()
            try step()
        }
        // Faults stop: every replica up, network whole and reliable.
        faultsEnabled = false
        network.heal()
        network.calm()
        for replica in replicas where !replica.isUp { replica.restartDiscardingDamage(seed: random.next()) }
        // A target batch must reach every replica's state machine. A proposal can still be lost
        // (its leader deposed by a healed partition before replicating it): propose again then.
        var targets: Set<UInt64> = []
        var lastProposalTick = -1_000
        let deadline = tick + options.recoveryTicksMax
        let proposed = { !targets.isEmpty }
        while tick < deadline {
            if tick - lastProposalTick >= 100, let leader = replicas.first(where: { $0.isUp && $0.raft.role == .leader }) {
                let batch = makeBatch()
                if leader.raft.propose(batch) != nil {
                    targets.insert(batch.id)
                    lastProposalTick = tick
                }
            }
            try step()
            if targets.contains(where: { target in replicas.allSatisfy { $0.applied.contains { $0.batchId == target } } }) { return }
        }
        if ProcessInfo.processInfo.environment["SIM_DEBUG"] != nil {
            for replica in replicas {
                let raft = replica.raft
                print("replica \(replica.id): role \(raft.role) term \(raft.term) last \(raft.lastIndex) stable \(raft.stableIndex) commit \(raft.commitIndex) applied \(raft.appliedIndex) lastTerm \(raft.term(at: raft.lastIndex) ?? 0)")
                if raft.role == .leader {
                    for (peer, progress) in raft.progress.enumerated() { print("  progress \(peer): \(progress)") }
                }
            }
        }
        throw fail("no progress within \(options.recoveryTicksMax) ticks after faults stopped (proposed: \(proposed()); replicas: \(replicas.map { "\($0.isUp ? "up" : "down")/\($0.raft.role)/t\($0.raft.term)/last\($0.raft.lastIndex)/c\($0.raft.commitIndex)/applied\($0.applied.last?.index ?? 0)" }))")
    }

    func makeBatch() -> SimBatch {
        let id = nextBatchId
        nextBatchId += 1
        var transfers: [Transfer] = []
        for index in 0..<(1 + random.below(4)) {
            let debit = UInt128(1 + random.below(SimReplica.accounts))
            var credit = UInt128(1 + random.below(SimReplica.accounts))
            if credit == debit { credit = debit % UInt128(SimReplica.accounts) + 1 }
            let amount = UInt128(1 + random.below(500))
            transfers.append(Transfer(id: UInt128(id) << 8 | UInt128(index + 1), debitAccountId: debit, creditAccountId: credit, amount: amount, ledger: 1))
        }
        return SimBatch(id: id, transfers: transfers)
    }

    private func injectFaults() {
        if let heal = partitionHealsAtTick, tick >= heal {
            network.heal()
            partitionHealsAtTick = nil
        }
        if partitionHealsAtTick == nil && random.unit() < options.partitionProbabilityPerTick {
            var group: Set<Int> = []
            for replica in 0..<options.replicaCount where random.below(2) == 0 { group.insert(replica) }
            network.partition(group, from: options.replicaCount)
            partitionHealsAtTick = tick + 20 + random.below(150)
            statistics.partitions += 1
        }
        for replica in replicas {
            if replica.isUp && random.unit() < options.crashProbabilityPerTick {
                replica.crash()
                statistics.crashes += 1
                // Sometimes the crash comes with bit rot in a stored batch, on this replica only
                // (damage on a majority at once is beyond what any replication can repair).
                let othersDamaged = replicas.contains { $0.id != replica.id && (!$0.disk.corrupted.isEmpty || $0.isUnrepaired) }
                if !othersDamaged && !replica.disk.entries.isEmpty && random.unit() < options.corruptionProbabilityPerCrash {
                    replica.corruptStoredEntry(at: random.below(replica.disk.entries.count))
                    statistics.corruptions += 1
                }
            } else if !replica.isUp && random.unit() < 0.05 {
                replica.restartDiscardingDamage(seed: random.next())
            }
        }
    }

    /// One tick: clients propose, replicas tick, messages are delivered, every Ready is carried out.
    func step() throws {
        tick += 1
        if random.unit() < options.proposeProbabilityPerTick,
           let leader = replicas.first(where: { $0.isUp && $0.raft.role == .leader }) {
            _ = leader.raft.propose(makeBatch())
        }
        for replica in replicas where replica.isUp {
            replica.raft.tick()
            try drain(replica)
        }
        for message in network.deliverable(now: tick, random: &random) {
            let replica = replicas[message.to]
            guard replica.isUp else { continue }
            // Every message here comes from a correct replica (however late, lost or doubled):
            // the input checks must never drop one.
            if case .dropped(let why) = replica.raft.step(message) {
                throw fail("replica \(replica.id) dropped a correct message from \(message.from) (term \(message.term)): \(why)")
            }
            try drain(replica)
        }
        try checkEveryStep()
    }

    /// Carries out Readies until the replica has none (or crashes in the middle of one).
    private func drain(_ replica: SimReplica) throws {
        while replica.isUp && replica.raft.hasReady {
            let ready = replica.raft.ready()
            let lastIndexBefore = replica.disk.lastIndex
            // What may go before the Ready is durable goes first: a crash below does not take it back.
            for message in ready.messages { network.send(message, now: tick, random: &random) }
            if options.plantAcknowledgeBeforePersist {
                for message in ready.messagesAfterPersist { network.send(message, now: tick, random: &random) }
            }
            // A crash while installing a leader's snapshot: before or after it became durable.
            if faultsEnabled, ready.snapshot != nil, random.unit() < options.crashDuringInstallProbability {
                _ = replica.process(ready, snapshots: snapshots, crashAfterEntries: 0, installBeforeCrash: random.below(2) == 0)
                statistics.crashes += 1
                statistics.crashesDuringInstall += 1
                return
            }
            // A rare crash in the middle of persisting: a torn write of this cycle's entries.
            if faultsEnabled && !ready.entriesToPersist.isEmpty && random.unit() < options.crashProbabilityPerTick / 4 {
                _ = replica.process(ready, snapshots: snapshots, crashAfterEntries: random.below(ready.entriesToPersist.count + 1),
                                    persistHardStateBeforeCrash: random.below(2) == 0)
                statistics.crashes += 1
                return
            }
            guard var messages = replica.process(ready, snapshots: snapshots) else { return }
            if options.plantAcknowledgeBeforePersist { messages = [] }  // sent above already
            if let installed = ready.snapshot {
                statistics.installs += 1
                try checkInstalled(replica, at: installed.index)
            }
            let firstNew = ready.snapshot != nil ? replica.disk.snapshot.index + 1 : min(lastIndexBefore, ready.truncateAfterIndex ?? lastIndexBefore) + 1
            try checkNewEntries(replica, fromIndex: firstNew)
            try checkApplied(replica, ready.committedEntries.map(\.index))
            recordCommitted(replica)
            if let snapshot = replica.compactIfDue() {
                statistics.compactions += 1
                try record(snapshot, from: replica)
            }
            for message in messages { network.send(message, now: tick, random: &random) }
        }
    }
}
