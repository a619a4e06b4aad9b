// One replica process: the Raft core driven by a single thread, the segment log as its log, the
// ledger as its state machine, and the NIO transport at the edge.
import Consensus
import CSupport
import Foundation
import LedgerCore
import NIOCore
import Replica
import Storage

/// Told, on the replica thread, what the state machine did: for a read side (the HTTP shim's read
/// model and event streams) that must see exactly the applied batches, in order.
public protocol AppliedBatchObserver: AnyObject, Sendable {
    /// Batch `op` was applied; `ledger` is the state right after it (valid during the call only).
    func applied(_ batch: BatchView, ledger: Ledger, op: UInt64)
    /// The whole state was replaced (a snapshot installed from the leader) by `ledger` at `op`.
    func replaced(ledger: Ledger, op: UInt64)
}

/// Runs one replica until `stop()`.
///
/// All state lives on the replica thread: it drains the inbox (Raft messages and client
/// requests from the network threads), ticks the core every `tickIntervalMs`, forms batches from
/// client requests when it leads, and carries out each `Ready` in the order the core requires:
/// hard state and new entries durable (fsync), then messages out, then committed batches applied
/// and their clients answered. A client hears `ok` only for a batch a majority holds durably and
/// this replica has applied.
public final class ReplicaServer: @unchecked Sendable {
    public let options: ReplicaOptions
    let directory: DataDirectory
    let log: SegmentLog
    private var droppedMessages = DroppedMessages()
    /// The key every peer of this cluster proves (`DATA/cluster-key`); this replica's own tools
    /// (its REST API's cluster clients) use it as a client key too.
    public let clusterKey: SecretKey
    /// For this replica's own clients (its REST API's pool), when TLS is on.
    public var clientTLS: ClientTLS? { transport.tlsClient.map { ClientTLS(context: $0) } }
    /// Replaced whole when a snapshot from the leader is installed.
    var ledger: Ledger
    let raft: Raft<LogEntryPayload>
    let inbox = Inbox()
    let transport: Transport
    let clock: WallClock
    public let clusterId: UInt128
    let noopPayload: LogEntryPayload
    let compactor: Compactor?

    private var results: UnsafeMutableBufferPointer<UInt8>
    private var persistedHardState: HardState
    /// Client requests waiting for a batch (leader only), and how many records they hold.
    private var submitQueue: [(client: ClientConnection, requestId: UInt64, records: OwnedRecords)] = []
    private var submitQueueRecords = 0
    /// Per proposed index: who waits for which records of the batch.
    private var waitingReplies: [UInt64: [(client: ClientConnection, requestId: UInt64, first: Int, count: Int)]] = [:]
    private var nextReadId: UInt64 = 1
    private var pendingReads: [UInt64: (client: ClientConnection, requestId: UInt64, ids: [UInt128])] = [:]
    private var readsWaitingForApply: [(index: UInt64, client: ClientConnection, requestId: UInt64, ids: [UInt128])] = []
    private var digestCache: (op: UInt64, digest: Hash256)?
    private var appliedOp: UInt64 = 0
    /// The leader's fsyncs run here, one at a time, while the replica thread goes on.
    private let syncQueue = DispatchQueue(label: "wallet-replica-sync")
    private var syncInFlight: (generation: UInt64, pending: PendingSync)?
    private var syncGeneration: UInt64 = 0
    /// Entries appended but not yet reported durable to the core (leader, background fsync).
    private var entriesAwaitingSync: [(index: UInt64, entry: Entry<LogEntryPayload>)] = []
    /// This replica's snapshot digests against its peers' at the same ops.
    private var digestComparison = DigestComparison()
    /// Ticks until this replica's newest snapshot digest is sent again (a peer that was down
    /// when it was first sent hears it then).
    private var ticksUntilDigestResend = 0
    static let digestResendTicks = 100
    /// Archives are written and read back here, off the replica thread; only the swap is on it.
    private let archiveQueue = DispatchQueue(label: "wallet-replica-archive")
    private var archivingInFlight = false
    /// Install snapshot: the leader's sender, the follower's receiver, and a received snapshot
    /// checked and waiting for the core's `Ready.snapshot`.
    private let snapshotSender = SnapshotSender()
    private let snapshotReceiver: SnapshotReceiver
    private var receivedSnapshot: ReceivedSnapshot?
    private var raftCompactionDue = false
    /// Set before `run()`: hears every applied batch on the replica thread.
    public var observer: AppliedBatchObserver?
    /// The op of the received snapshot being read back in the background, if any.
    private var loadingSnapshotOp: UInt64?

    public init(options: ReplicaOptions, clock: WallClock = SystemClock()) throws {
        self.options = options
        self.clock = clock
        directory = try DataDirectory.open(path: options.dataPath)
        let superblock = directory.superblock
        guard Int(superblock.replicaIndex) == options.replica, Int(superblock.replicaCount) == options.addresses.count else {
            throw DataDirectoryError(path: options.dataPath, message: "formatted as replica \(superblock.replicaIndex) of \(superblock.replicaCount), started as replica \(options.replica) of \(options.addresses.count) addresses")
        }
        clusterId = superblock.clusterId
        // No unauthenticated mode: every peer and client proves a key at connection start.
        clusterKey = try SecretKey.read(path: directory.path + "/" + SecretKey.clusterKeyFileName)
        let record = try RaftStateRecord.read(directory: directory.path)
        if let record { try ReplicaServer.checkPersisted(record, path: directory.path + "/" + RaftStateRecord.fileName, replicaCount: options.addresses.count) }
        var hardState = record.map {
            HardState(term: $0.term, votedFor: $0.vote, votingFloorIndex: $0.votingFloorIndex, votingFloorTerm: $0.votingFloorTerm)
        } ?? HardState()
        do {
            log = try directory.openLog()
        } catch let damage where damage is LogCorruption || damage is ArchiveError {
            // A damaged batch (bit rot, a bad sector) where a replica has peers: never applied,
            // never served. It and everything after it are set aside, and the leader repairs the
            // log like any follower's missing suffix; the voting floor keeps this replica from
            // helping elect a leader that lacks what it may have acknowledged.
            FileHandle.standardError.write(Data("replica \(options.replica): ERROR: DAMAGED LOG: \(damage)\n".utf8))
            let statePath = directory.path
            let aside = try SegmentLog.setAsideDamage(directoryPath: directory.logPath, clusterId: superblock.clusterId, damage: damage,
                                                      nowNs: SystemClock().nowNs()) { firstDiscardedOp, reached in
                let floorIndex = max(reached?.op ?? 0, firstDiscardedOp)
                let floorTerm = reached.map { $0.op >= firstDiscardedOp && $0.term > 0 ? $0.term : hardState.term } ?? hardState.term
                hardState = hardState.discardingSuffix(lastIndex: floorIndex, lastTerm: floorTerm)
                try RaftStateRecord(term: hardState.term, votedFor: hardState.votedFor, votingFloorIndex: hardState.votingFloorIndex,
                                    votingFloorTerm: hardState.votingFloorTerm).write(directory: statePath)
            }
            FileHandle.standardError.write(Data("replica \(options.replica): \(aside); voting floor op \(hardState.votingFloorIndex) term \(hardState.votingFloorTerm); the leader repairs the rest\n".utf8))
            log = try directory.openLog()
        }
        log.checksDurableOpClaims = false
        if let cut = log.tailTruncation { FileHandle.standardError.write(Data("replica \(options.replica): \(cut)\n".utf8)) }
        persistedHardState = hardState
        noopPayload = LogEntryPayload.noop()
        // The newest valid snapshot (committed and applied when it was taken) saves replaying the
        // log before it; damaged or foreign snapshots are reported and skipped.
        let hashSeed = LocalNode.hashSeed(clusterId: clusterId)
        var problems: [String] = []
        let restored = LocalNode.newestValidSnapshot(dataPath: options.dataPath, log: log, clusterId: clusterId, hashSeed: hashSeed,
                                                     spareTransfers: options.transfersCapacity, problems: &problems)
        for problem in problems { FileHandle.standardError.write(Data("replica \(options.replica): \(problem)\n".utf8)) }
        ledger = restored?.ledger ?? Ledger(hashSeed: hashSeed, accountsCapacity: options.accountsCapacity,
                                            transfersCapacity: options.transfersCapacity)
        appliedOp = restored?.op ?? 0
        if let restored {
            FileHandle.standardError.write(Data("replica \(options.replica): loaded the snapshot at op \(restored.op); replaying the log after it as it commits\n".utf8))
        }
        // A log that no longer starts at op 1 (pruned, or replaced by a leader's snapshot) gives the
        // core only what follows the restored snapshot: a follower that needs more gets the snapshot.
        let raftSnapshotOp: UInt64
        if log.baseOp > 0 {
            guard let restored else {
                throw DataDirectoryError(path: options.dataPath, message: "the log starts after op \(log.baseOp) and no valid snapshot at or after that op was found"
                    + (problems.isEmpty ? "" : ": " + problems.joined(separator: "; ")))
            }
            raftSnapshotOp = restored.op
        } else {
            raftSnapshotOp = 0
        }
        var entries: [Entry<LogEntryPayload>] = []
        entries.reserveCapacity(Int(log.lastOp - raftSnapshotOp))
        let stored = LogEntryPayload(.stored)
        // Terms from the headers alone: archived segments stay compressed until a replay needs them.
        if log.lastOp > raftSnapshotOp { for op in (raftSnapshotOp + 1)...log.lastOp { entries.append(Entry(term: log.header(op: op).term, payload: stored)) } }
        precondition(max(entries.last?.term ?? 0, log.term(op: raftSnapshotOp)) <= hardState.term, "the log holds a term the hard state never reached")
        var seedGenerator = SystemRandomNumberGenerator()
        raft = Raft(id: options.replica, config: options.raft, seed: seedGenerator.next(), noopPayload: noopPayload,
                    hardState: hardState, entries: entries, appliedIndex: appliedOp,
                    snapshotIndex: raftSnapshotOp, snapshotTerm: log.term(op: raftSnapshotOp))
        snapshotReceiver = SnapshotReceiver(dataPath: options.dataPath)
        if options.snapshotIntervalTransfers > 0 {
            // The compactor's own copy of the same starting state.
            let compactorLedger: Ledger
            var startDigest: Hash256?
            if let restored {
                // A copy in memory, not a second read of the file: nothing has been applied yet.
                compactorLedger = restored.ledger.copy(spareTransfers: options.transfersCapacity)
                startDigest = restored.digest
                // Peers that snapshotted at the same op compare it with theirs.
                inbox.push(.ownSnapshotDigest(op: restored.op, digest: restored.digest))
            } else {
                compactorLedger = Ledger(hashSeed: hashSeed, accountsCapacity: options.accountsCapacity, transfersCapacity: options.transfersCapacity)
            }
            compactor = Compactor(dataPath: options.dataPath, clusterId: clusterId, replica: options.replica, ledger: compactorLedger,
                                  startOp: appliedOp, startDigest: startDigest, intervalTransfers: options.snapshotIntervalTransfers,
                                  retainedCount: options.snapshotsRetained,
                                  onSnapshot: { [inbox] op, digest in inbox.push(.ownSnapshotDigest(op: op, digest: digest)) })
        } else {
            compactor = nil
        }
        results = .allocate(capacity: Limits.batchRecordsMax)
        transport = try Transport(replica: options.replica, addresses: options.addresses, clusterId: clusterId,
                                  limits: options.transport, inbox: inbox, clusterKey: clusterKey, clientKeys: options.clientKeys, tls: options.tls)
    }

    deinit { results.deallocate() }

    /// Binds the port and runs the replica loop on the calling thread until `stop()`.
    public func run() throws {
        try transport.start()
        compactor?.start()
        defer {
            // In order, before the log and the state go away with the process: the leader's
            // background fsync is finished (what it appended is durable), the compactor's thread
            // ends (it reads batches from the log's mapping), then the connections close.
            try? finishBackgroundSyncs()
            compactor?.stop()
            transport.shutdown()
        }
        let tickNs = UInt64(options.tickIntervalMs) * 1_000_000
        var nextTickNs = monotonicNowNs() + tickNs
        while true {
            // One reading of the clock: two could straddle `nextTickNs` and underflow.
            let nowNs = monotonicNowNs()
            let waitNs = nextTickNs > nowNs ? nextTickNs - nowNs : 0
            guard let items = inbox.drain(until: Date(timeIntervalSinceNow: Double(waitNs) / 1e9)) else { return }
            for item in items { try handle(item) }
            // Ticks come after the messages that arrived with them, so a follower that was busy
            // (an fsync) hears its leader's heartbeats before it counts the silence.
            var ticks = 0
            while monotonicNowNs() >= nextTickNs {
                nextTickNs += tickNs
                ticks += 1
            }
            for _ in 0..<min(ticks, options.raft.electionTimeoutTicksMin / 2) { raft.tick() }
            if ticks > 0 { resendSnapshotDigestIfDue(ticks: ticks) }
            try afterInputs()
        }
    }

    public func stop() { inbox.close() }

    /// Role, term and commit op: for a caller on the replica thread (`onReplicaThread`) only.
    public var consensusState: (role: String, term: UInt64, commitOp: UInt64, digestMismatches: Int) {
        (raft.role.rawValue, raft.term, raft.commitIndex, digestComparison.mismatchCount)
    }

    /// The state and its op, for a caller on the replica thread or before `run()` (nothing else
    /// may touch the ledger).
    public func withState<T>(_ body: (Ledger, UInt64) -> T) -> T { body(ledger, appliedOp) }

    /// The op of the batch that holds the record stamped `timestampNs` (see `History.op`): for a
    /// caller on the replica thread only.
    public func op(ofRecordTimestampNs timestampNs: UInt64) -> UInt64? { History.op(ofRecordTimestampNs: timestampNs, in: log) }

    /// Runs `body` on the replica thread, between two inbox items, with the state as it is then:
    /// a read of the local ledger (bounded staleness on a follower).
    public func onReplicaThread(_ body: @escaping @Sendable (Ledger, UInt64) -> Void) {
        inbox.push(.run(body))
    }

    // MARK: Inputs

    private func handle(_ item: InboxItem) throws {
        switch item {
        case .raft(let message):
            if case .installSnapshot(let index, _) = message.body {
                receiveInstallSnapshot(message, index: index)
                return
            }
            stepCore(message)
        case .run(let body):
            body(ledger, appliedOp)
        case .snapshotChunk(let chunk):
            // A transfer of a snapshot this replica already has, or is reading back right now (the
            // leader resends while a large file is checked): not written again.
            guard chunk.snapshotOp > appliedOp, chunk.snapshotOp != loadingSnapshotOp else { return }
            do {
                if let started = try snapshotReceiver.receive(chunk) { logLine(started) }
            } catch {
                logLine("receiving a snapshot FAILED: \(error) (the leader sends it again)")
            }
        case .snapshotLoaded(let message, let received, let error):
            loadingSnapshotOp = nil
            if let error {
                logLine("the snapshot received from replica \(message.from) FAILED its checks: \(error) (the leader sends it again)")
                return
            }
            // The core decides: a stale message (an old term, or a snapshot it already covers) is
            // answered without `Ready.snapshot`, and the file is dropped after this cycle.
            if let stale = receivedSnapshot { unlink(stale.path) }
            receivedSnapshot = received
            stepCore(message)
            // Carried out now, so the checked file and the core's `Ready.snapshot` stay paired.
            try afterInputs()
        case .snapshotSent(let peer, let op, let sizeBytes, let error):
            snapshotSender.finished(peer: peer, op: op, sizeBytes: sizeBytes, whole: error == nil, nowNs: monotonicNowNs())
            if let error { logLine("sending the snapshot to replica \(peer) FAILED: \(error) (sent again when the core asks)") }
        case .submit(let client, let requestId, let records):
            guard raft.role == .leader else {
                answerNotLeader(client, requestId: requestId, command: .submitReply)
                return
            }
            guard submitQueueRecords + records.count <= options.submitQueueRecordsMax else {
                answerWithoutResults(client, requestId: requestId, ReplyPrefix(status: .busy, leaderHint: options.replica))
                return
            }
            submitQueue.append((client, requestId, records))
            submitQueueRecords += records.count
        case .lookupAccounts(let client, let requestId, let ids):
            let readId = nextReadId
            nextReadId += 1
            guard raft.readIndex(requestId: readId) else {
                if raft.role == .leader {
                    client.send(ClientMessages.lookupAccountsReply(ReplyPrefix(status: .busy, leaderHint: options.replica), accounts: [],
                                                                   clusterId: clusterId, requestId: requestId))
                } else {
                    answerNotLeader(client, requestId: requestId, command: .lookupAccountsReply)
                }
                return
            }
            pendingReads[readId] = (client, requestId, ids)
        case .status(let client, let requestId):
            client.send(status().encode(clusterId: clusterId, requestId: requestId))
        case .ownSnapshotDigest(let op, let digest):
            for mismatch in digestComparison.recordOwn(op: op, digest: digest) { report(mismatch) }
            transport.broadcast(SnapshotDigestMessage(from: options.replica, op: op, digest: digest).encode(clusterId: clusterId))
            ticksUntilDigestResend = ReplicaServer.digestResendTicks
            if options.archiveSegments { startArchiving(throughOp: op) }
            // Retention may have deleted the snapshot the core would send to a far-behind follower.
            compactRaftLogToRetainedSnapshot()
        case .archived(let jobs, let error):
            archivingInFlight = false
            for job in jobs {
                guard log.isCurrent(job) else {
                    // The log was replaced by a leader's snapshot while this was written.
                    log.discardArchive(job)
                    continue
                }
                let report = try log.installArchive(job)
                FileHandle.standardError.write(Data("replica \(options.replica): archived ops \(report.firstOp)...\(report.lastOp): \(report.dataSizeBytes) bytes -> \(report.archiveSizeBytes) bytes\n".utf8))
            }
            if let error {
                FileHandle.standardError.write(Data("replica \(options.replica): archiving FAILED: \(error) (the segment is kept; the next snapshot tries again)\n".utf8))
            }
            if options.pruneArchives { try pruneArchives() }
        case .peerSnapshotDigest(let message):
            if let mismatch = digestComparison.recordPeer(message.from, op: message.op, digest: message.digest) { report(mismatch) }
        case .synced(let generation, let pending, let error):
            // A failed fsync leaves the log's durability unknown: stop (fail-stop) rather than
            // acknowledge anything; a restart recovers from what the disk really holds.
            if let error { fatalError("replica \(options.replica): fsync failed: \(error)") }
            // Already waited for on this thread (`finishBackgroundSyncs`): nothing left to do.
            guard let current = syncInFlight, current.generation == generation else { return }
            syncInFlight = nil
            log.confirmDurable(pending)
            let durable = entriesAwaitingSync.filter { $0.index <= pending.lastOp }
            entriesAwaitingSync.removeAll { $0.index <= pending.lastOp }
            if !durable.isEmpty { raft.advance(Ready(durableEntries: durable)) }
            startBackgroundSyncIfIdle()
        }
    }

    /// A hard state no correct replica can have written (a term past `RaftBounds.termMax`, which
    /// only a forged message could once have put there): refused at start, naming the file and
    /// the field, instead of trapping on `term + 1` at every restart.
    static func checkPersisted(_ record: RaftStateRecord, path: String, replicaCount: Int) throws {
        func impossible(_ field: String, _ value: UInt64, _ why: String) -> DataDirectoryError {
            DataDirectoryError(path: path, message: "field \(field) is \(value): \(why). No replica reaches that by itself; the file was written "
                               + "after a forged or corrupted message, or is damaged. Refusing to start: restore this replica from a peer "
                               + "(format a fresh data directory and let the leader send it a snapshot)")
        }
        guard record.term <= RaftBounds.termMax else { throw impossible("term", record.term, "past the largest term (\(RaftBounds.termMax))") }
        guard record.votedFor == RaftStateRecord.noVote || record.votedFor < UInt64(replicaCount) else {
            throw impossible("voted_for", record.votedFor, "not a replica of this \(replicaCount)-replica cluster")
        }
        guard record.votingFloorIndex <= RaftBounds.indexMax else { throw impossible("voting_floor_index", record.votingFloorIndex, "past the largest index") }
        guard record.votingFloorTerm <= RaftBounds.termMax else { throw impossible("voting_floor_term", record.votingFloorTerm, "past the largest term") }
    }

    /// Steps the core with a peer's message; a drop is counted and logged (`DroppedMessages`).
    private func stepCore(_ message: Message<LogEntryPayload>) {
        if let line = droppedMessages.record(raft.step(message), from: message.from, term: message.term, nowNs: monotonicNowNs()) { logLine(line) }
    }

    private func logLine(_ line: String) {
        FileHandle.standardError.write(Data("replica \(options.replica): \(line)\n".utf8))
    }

    // MARK: Install snapshot

    /// Follower: the leader's install_snapshot message, after the file's chunks. The core hears
    /// it only once the whole file is durable and checked (`snapshotLoaded`), so its answer
    /// ("I hold everything through `index`") is true when it is sent. An incomplete file means
    /// lost chunks: the message is dropped and the leader's core asks again.
    private func receiveInstallSnapshot(_ message: Message<LogEntryPayload>, index: UInt64) {
        if index <= appliedOp {
            // Already applied past it: the core answers so at once, with no file to read.
            stepCore(message)
            return
        }
        guard loadingSnapshotOp != index else { return }
        guard let (path, receiveElapsedNs) = snapshotReceiver.takeComplete(from: message.from, op: index) else {
            logLine("install_snapshot at op \(index) from replica \(message.from) without its whole file: dropped (it is sent again)")
            return
        }
        let inbox = self.inbox
        loadingSnapshotOp = index
        SnapshotReceiver.load(path: path, op: index, clusterId: clusterId, spareTransfers: options.transfersCapacity,
                              receiveElapsedNs: receiveElapsedNs) { result in
            switch result {
            case .success(let received): inbox.push(.snapshotLoaded(message, received, nil))
            case .failure(let error): inbox.push(.snapshotLoaded(message, nil, error))
            }
        }
    }

    /// Follower, Ready step 1: the core took the leader's snapshot. Publish the file, replace the
    /// log (unless the core keeps the suffix that matches it) and the state, and restart the
    /// compactor from the same state. Everything is durable before the core's reply is sent.
    private func install(_ snapshot: SnapshotToInstall) throws {
        guard let received = receivedSnapshot, received.header.op == snapshot.index else {
            preconditionFailure("the core installs only the snapshot the shell checked (op \(snapshot.index))")
        }
        receivedSnapshot = nil
        let installStartNs = monotonicNowNs()
        let published = try SnapshotFile.publishReceived(path: received.path, dataPath: options.dataPath, op: snapshot.index,
                                                         retainedCount: options.snapshotsRetained)
        var retired: [AnyObject] = []
        if snapshot.keepsLogAfterIndex {
            precondition(log.headerHash(op: snapshot.index) == received.header.batchHeaderHash, "the kept log does not hold the snapshot's batch")
        } else {
            retired = try log.reset(baseOp: snapshot.index, baseTerm: snapshot.term, baseHeaderHash: received.header.batchHeaderHash,
                                    baseRecordTimestampNs: received.header.lastTimestampNs)
        }
        ledger = received.ledger
        appliedOp = snapshot.index
        digestCache = nil
        observer?.replaced(ledger: ledger, op: snapshot.index)
        if let compactor {
            let (clusterId, spareTransfers) = (self.clusterId, options.transfersCapacity)
            compactor.restart(load: {
                // Read on the compactor's thread once it reaches this point; should retention
                // have deleted the file by then, the compactor pauses until the next install.
                try SnapshotFile.read(path: published, clusterId: clusterId, hashSeed: LocalNode.hashSeed(clusterId: clusterId),
                                      spareTransfers: spareTransfers).ledger
            }, op: snapshot.index, digest: received.header.digest, retired: retired)
        }
        logLine("installed the snapshot at op \(snapshot.index) (term \(snapshot.term)) from the leader: received in \(received.receiveElapsedNs / 1_000_000) ms, "
            + "read back and checked in \(received.checkElapsedNs / 1_000_000) ms, installed in \((monotonicNowNs() - installStartNs) / 1_000_000) ms"
            + (snapshot.keepsLogAfterIndex ? "; the log after it is kept" : "; the log now starts after it"))
        inbox.push(.ownSnapshotDigest(op: snapshot.index, digest: received.header.digest))
    }

    /// Leader: the core asks for a snapshot to go to a follower whose next entry the log no longer
    /// holds. One transfer per follower at a time; the core's own resend (after a heartbeat with no
    /// progress) starts a new one once this one ended.
    private func sendSnapshot(_ message: Message<LogEntryPayload>, index: UInt64) {
        // A follower that is down hears nothing until it reconnects; the core asks again then.
        guard transport.isConnected(to: message.to), snapshotSender.shouldSend(op: index, to: message.to, nowNs: monotonicNowNs()) else { return }
        let path = SnapshotFile.directoryPath(options.dataPath) + "/" + SnapshotFile.fileName(op: index)
        guard FileManager.default.fileExists(atPath: path) else {
            logLine("no snapshot file at op \(index) to send to replica \(message.to): retention moved on; the core moves to the oldest one kept")
            // Not here, in the middle of carrying out a Ready: after it (`afterInputs`).
            raftCompactionDue = true
            return
        }
        logLine("sending the snapshot at op \(index) to replica \(message.to)")
        let inbox = self.inbox
        snapshotSender.start(message, path: path, transport: transport, clusterId: clusterId) { sizeBytes, error in
            inbox.push(.snapshotSent(peer: message.to, op: index, sizeBytes: sizeBytes, error))
        }
    }

    /// Deletes the archives the oldest retained snapshot covers (`--prune-archives`), then moves
    /// the core's compaction point along.
    private func pruneArchives() throws {
        let snapshots = try SnapshotFile.list(dataPath: options.dataPath)
        guard let oldest = snapshots.first(where: { $0.op >= log.baseOp && $0.op <= appliedOp }) else { return }
        let pruned = try log.pruneArchives(throughOp: oldest.op)
        if !pruned.isEmpty {
            logLine("pruned \(pruned.count) archives: the log now starts after op \(log.baseOp)")
            compactRaftLogToRetainedSnapshot()
        }
    }

    /// Once the log no longer starts at op 1, the core's log starts at a snapshot this replica
    /// keeps, so whatever a follower needs is either in the log or in that snapshot's file. When
    /// retention deletes that file, the core moves on to the oldest one kept.
    private func compactRaftLogToRetainedSnapshot() {
        guard log.baseOp > 0 || raft.snapshotIndex > 0 else { return }
        let floor = max(log.baseOp, raft.snapshotIndex)
        let kept = (try? SnapshotFile.list(dataPath: options.dataPath)) ?? []
        guard let oldest = kept.first(where: { $0.op >= floor && $0.op <= appliedOp }), oldest.op > raft.snapshotIndex else { return }
        raft.compactLog(through: oldest.op)
    }

    /// Loud on purpose: a digest mismatch means replicas with the same log hold different states.
    private func report(_ mismatch: DigestComparison.Mismatch) {
        FileHandle.standardError.write(Data("replica \(options.replica): ERROR: \(mismatch)\n".utf8))
    }

    /// Archives the sealed segments a snapshot at `op` covers: those ops are committed, applied by
    /// both appliers, and never truncated, and no batch view of them is held any more.
    private func startArchiving(throughOp op: UInt64) {
        guard !archivingInFlight else { return }
        let jobs = log.archiveJobs(throughOp: op)
        guard !jobs.isEmpty else { return }
        archivingInFlight = true
        let inbox = self.inbox
        archiveQueue.async {
            _ = wallet_lower_thread_priority(Compactor.niceIncrement)
            var done: [ArchiveJob] = []
            for job in jobs {
                do {
                    try job.perform()
                    done.append(job)
                } catch {
                    inbox.push(.archived(done, error))
                    return
                }
            }
            inbox.push(.archived(done, nil))
        }
    }

    private func resendSnapshotDigestIfDue(ticks: Int) {
        ticksUntilDigestResend -= ticks
        guard ticksUntilDigestResend <= 0, let latest = digestComparison.latestOwn else { return }
        ticksUntilDigestResend = ReplicaServer.digestResendTicks
        transport.broadcast(SnapshotDigestMessage(from: options.replica, op: latest.op, digest: latest.digest).encode(clusterId: clusterId))
    }

    private func answerNotLeader(_ client: ClientConnection, requestId: UInt64, command: Command) {
        let prefix = ReplyPrefix(status: raft.leaderId == nil ? .unavailable : .notLeader, leaderHint: raft.leaderId)
        if command == .submitReply {
            answerWithoutResults(client, requestId: requestId, prefix)
        } else {
            client.send(ClientMessages.lookupAccountsReply(prefix, accounts: [], clusterId: clusterId, requestId: requestId))
        }
    }

    public func status() -> ReplicaStatus {
        if digestCache?.op != appliedOp { digestCache = (appliedOp, ledger.digest()) }
        var status = ReplicaStatus(
            replica: options.replica, replicaCount: options.addresses.count, role: raft.role.rawValue, term: raft.term,
            leader: raft.leaderId, commitOp: raft.commitIndex, appliedOp: appliedOp, lastOp: log.lastOp,
            accountsCount: ledger.accountsCount, transfersCount: ledger.transfersCount, digest: digestCache!.digest)
        if let snapshot = compactor?.latest {
            status.snapshotOp = snapshot.op
            status.snapshotDigest = snapshot.digest
        }
        status.digestsCompared = UInt64(digestComparison.comparedCount)
        status.digestMismatches = UInt64(digestComparison.mismatchCount)
        status.messagesDropped = droppedMessages.count
        status.authenticationFailures = transport.authenticationFailures.withLockedValue { $0 }
        return status
    }

    // MARK: The cycle

    private func afterInputs() throws {
        if raft.role != .leader { abandonLeaderWork() }
        formBatches()
        while raft.hasReady {
            let ready = raft.ready()
            raft.advance(try carryOut(ready))
            if raft.role != .leader { abandonLeaderWork() }
            formBatches()
        }
        if raftCompactionDue {
            raftCompactionDue = false
            compactRaftLogToRetainedSnapshot()
        }
        if let unused = receivedSnapshot {
            // The core did not take it (stale, or already covered): nothing refers to the file.
            receivedSnapshot = nil
            unlink(unused.path)
        }
    }

    /// Leader: packs queued client requests into batches (group commit: every request that
    /// arrived while the last cycle ran shares the next batches) and proposes them.
    private func formBatches() {
        guard raft.role == .leader else { return }
        while !submitQueue.isEmpty && raft.lastIndex - raft.commitIndex < UInt64(options.uncommittedBatchesMax) {
            let kind = submitQueue[0].records.kind
            let buffer = BatchBuffer(recordKind: kind)
            var waiters: [(client: ClientConnection, requestId: UInt64, first: Int, count: Int)] = []
            var taken = 0
            while taken < submitQueue.count, submitQueue[taken].records.kind == kind,
                  buffer.recordCount + submitQueue[taken].records.count <= buffer.recordsCapacity {
                let request = submitQueue[taken]
                waiters.append((request.client, request.requestId, buffer.recordCount, request.records.count))
                buffer.append(records: request.records.bytes)
                submitQueueRecords -= request.records.count
                taken += 1
            }
            submitQueue.removeFirst(taken)
            guard let index = raft.propose(LogEntryPayload(.unsealed(buffer))) else { preconditionFailure("a leader accepts proposals") }
            waitingReplies[index] = waiters
        }
    }

    /// No longer the leader: whatever this replica promised to answer, it can no longer know the
    /// outcome of. Clients are told to retry (same ids: what was applied answers `exists`).
    private func abandonLeaderWork() {
        for (_, waiters) in waitingReplies {
            for waiter in waiters { answerUnavailable(waiter.client, requestId: waiter.requestId) }
        }
        waitingReplies.removeAll()
        for request in submitQueue { answerNotLeader(request.client, requestId: request.requestId, command: .submitReply) }
        submitQueue.removeAll()
        submitQueueRecords = 0
        for (_, read) in pendingReads { answerNotLeader(read.client, requestId: read.requestId, command: .lookupAccountsReply) }
        pendingReads.removeAll()
    }

    private func answerUnavailable(_ client: ClientConnection, requestId: UInt64) {
        answerWithoutResults(client, requestId: requestId, ReplyPrefix(status: .unavailable, leaderHint: raft.leaderId))
    }

    /// A submit reply that carries no results: the request was not (or not knowingly) applied.
    private func answerWithoutResults(_ client: ClientConnection, requestId: UInt64, _ prefix: ReplyPrefix) {
        client.send(ClientMessages.submitReply(prefix, results: UnsafeRawBufferPointer(start: nil, count: 0), clusterId: clusterId, requestId: requestId))
    }

    private func startBackgroundSyncIfIdle() {
        guard syncInFlight == nil, let pending = log.takePendingSync() else { return }
        syncGeneration += 1
        let generation = syncGeneration
        syncInFlight = (generation, pending)
        let inbox = self.inbox
        syncQueue.async {
            var failure: Error?
            do { try pending.perform() } catch { failure = error }
            inbox.push(.synced(generation: generation, pending, failure))
        }
    }

    /// Waits for the background fsync, syncs whatever else was appended, and reports every
    /// appended entry durable: before anything that must follow durability in order.
    private func finishBackgroundSyncs() throws {
        if let (_, pending) = syncInFlight {
            // The same range again, on this thread: returns once it (and anything before) is durable.
            try pending.perform()
            log.confirmDurable(pending)
            syncInFlight = nil
        }
        try log.sync()
        if !entriesAwaitingSync.isEmpty {
            let durable = entriesAwaitingSync
            entriesAwaitingSync.removeAll()
            raft.advance(Ready(durableEntries: durable))
        }
    }

    /// Carries out `ready`; returns what to `advance` the core with (without the entries still
    /// waiting for a background fsync).
    private func carryOut(_ ready: Ready<LogEntryPayload>) throws -> Ready<LogEntryPayload> {
        // The core splits the messages (`Ready`): `messages` may go before this Ready is durable,
        // `messagesAfterPersist` only after. A leader with nothing else to wait for appends,
        // sends, and fsyncs in the background (Raft thesis §10.2.1): the core counts its own
        // entries only once `.synced` reports them durable, so its disk and its followers' work in
        // parallel, and this thread keeps taking acknowledgements. Anything else (a vote, a term
        // change, a truncation, a follower's acknowledgement) waits for every earlier write and
        // its own to be durable before it is sent.
        let background = raft.role == .leader && ready.hardState == nil && ready.truncateAfterIndex == nil && ready.snapshot == nil
            && ready.messagesAfterPersist.isEmpty
        if !background { try finishBackgroundSyncs() }
        // 0. A leader's snapshot replaces the state (and the log, unless its suffix is kept).
        if let snapshot = ready.snapshot { try install(snapshot) }
        // 1. The hard state first (a log must never hold a term its hard state has not reached),
        //    then the truncation and the new entries. Entries are written (not yet synced) before
        //    anything is sent, because appends are framed from the log's own bytes.
        if let hardState = ready.hardState, hardState != persistedHardState {
            try RaftStateRecord(term: hardState.term, votedFor: hardState.votedFor, votingFloorIndex: hardState.votingFloorIndex,
                                votingFloorTerm: hardState.votingFloorTerm).write(directory: directory.path)
            persistedHardState = hardState
        }
        if let keep = ready.truncateAfterIndex, keep < log.lastOp {
            try log.truncate(after: keep)
            for index in waitingReplies.keys where index > keep {
                for waiter in waitingReplies.removeValue(forKey: index)! { answerUnavailable(waiter.client, requestId: waiter.requestId) }
            }
        }
        for (index, entry) in ready.entriesToPersist { try persist(index: index, entry: entry) }
        // 2. What may go before the fsync.
        send(ready.messages)
        var toAdvance = ready
        if background {
            entriesAwaitingSync += ready.entriesToPersist
            toAdvance.entriesToPersist = []
            startBackgroundSyncIfIdle()
        } else {
            // 3. Durable, then the promises.
            try log.sync()
            send(ready.messagesAfterPersist)
        }

        // 3. Apply, and answer the clients whose batches these were.
        for (index, _) in ready.committedEntries { apply(index: index) }
        for read in ready.readStates {
            guard let pending = pendingReads.removeValue(forKey: read.requestId) else { continue }
            readsWaitingForApply.append((read.index, pending.client, pending.requestId, pending.ids))
        }
        answerReadsUpToApplied()
        return toAdvance
    }

    private func send(_ messages: [Message<LogEntryPayload>]) {
        var lowestArchivedOpSent = UInt64.max
        let archivedThrough = log.archivedThroughOp
        for message in messages {
            if case .installSnapshot(let index, _) = message.body {
                sendSnapshot(message, index: index)
                continue
            }
            let frame = RaftMessageCodec.encode(message, clusterId: clusterId) { op in
                if op <= archivedThrough { lowestArchivedOpSent = min(lowestArchivedOpSent, op) }
                return log.batch(op: op).bytes
            }
            transport.send(to: message.to, frame)
        }
        // A follower far behind is sent batches from archives, decompressed on demand; frames
        // copy what they send, so archives wholly before the lowest op still being sent are freed.
        if lowestArchivedOpSent != .max && lowestArchivedOpSent > log.firstOp { log.releaseArchives(through: lowestArchivedOpSent - 1) }
    }

    private func persist(index: UInt64, entry: Entry<LogEntryPayload>) throws {
        precondition(index == log.lastOp + 1, "entries are persisted contiguously: op \(index) after \(log.lastOp)")
        let payload = entry.payload
        let view: BatchView
        switch payload.content {
        case .unsealed(let buffer):
            view = try log.sealNext(buffer, clusterId: clusterId, term: entry.term, nowNs: clock.nowNs(), durableOp: min(raft.commitIndex, index - 1), op: index)
        case .received(let batch):
            let header = batch.view.header
            precondition(header.op == index && header.term == entry.term, "received batch does not match its entry")
            // Log matching (Raft §5.3): equal (index, term) before means equal logs before, so the
            // chain must link. A mismatch means a broken invariant: stop rather than store it.
            precondition(header.previousHeaderHash == log.lastHeaderHash, "op \(index) does not chain to op \(index - 1): logs diverged")
            view = batch.view
        case .stored:
            preconditionFailure("op \(index) is already stored")
        }
        if log.unsyncedBytes + view.bytes.count > SegmentLog.unsyncedBytesMax { try log.sync() }
        try log.append(view)
        if payload !== noopPayload { payload.content = .stored }
    }

    private func apply(index: UInt64) {
        precondition(index == appliedOp + 1, "batches are applied in op order, once")
        let batch = log.batch(op: index)
        ledger.apply(batch, results: results)
        appliedOp = index
        compactor?.follow(batch)
        observer?.applied(batch, ledger: ledger, op: index)
        guard let waiters = waitingReplies.removeValue(forKey: index) else { return }
        for waiter in waiters {
            let slice = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(results)[waiter.first..<(waiter.first + waiter.count)])
            waiter.client.send(ClientMessages.submitReply(ReplyPrefix(status: .ok, leaderHint: options.replica, op: index), results: slice,
                                                          clusterId: clusterId, requestId: waiter.requestId))
        }
    }

    private func answerReadsUpToApplied() {
        guard !readsWaitingForApply.isEmpty else { return }
        var still: [(index: UInt64, client: ClientConnection, requestId: UInt64, ids: [UInt128])] = []
        for read in readsWaitingForApply {
            if read.index <= appliedOp {
                let accounts = read.ids.map { ledger.account(id: $0) }
                read.client.send(ClientMessages.lookupAccountsReply(ReplyPrefix(status: .ok, leaderHint: options.replica, op: appliedOp),
                                                                    accounts: accounts, clusterId: clusterId, requestId: read.requestId))
            } else {
                still.append(read)
            }
        }
        readsWaitingForApply = still
    }
}
