// `wallet verify`: replay the whole log into a fresh state and prove it equals the live state.
import ArgumentParser
import LedgerCore
import Replica
import Storage

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Replay the log from op 1 into a fresh state and compare its digest with the live one.",
        discussion: "Checks every batch checksum and the hash chain on the way. Exit 0 only on a match.")

    @Option(help: "The data directory.") var data: String
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(name: .customLong("with-current-rules"),
          help: "Also re-check the past under this build's applier rules: every batch records the rules version that first applied it.")
    var withCurrentRules = false

    func run() throws {
        try reportingErrors {
            let directory = try DataDirectory.open(path: data)
            // Opening the log checks every segment header, batch checksum and hash-chain link.
            let log: SegmentLog
            do {
                log = try directory.openLog(readOnly: true)
            } catch let error as LogCorruption {
                try failBeforeReplay("\(error)", op: error.op)
            } catch let error as ArchiveError {
                try failBeforeReplay("\(error)", op: error.op)
            }
            let checkpoint = try StateCheckpoint.read(directory: directory.path)
            let snapshots = try SnapshotFile.list(dataPath: directory.path)
            let clusterId = directory.superblock.clusterId
            var problems: [String] = []
            var notes: [String] = []
            // A pruned log (or one a leader's snapshot replaced) starts from its oldest snapshot
            // that can be continued: read back whole, bound to the log, holding the digest it
            // claims. Everything after it is checked as usual.
            let start = log.baseOp == 0 ? nil
                : startingSnapshot(snapshots, log: log, clusterId: clusterId, spareTransfers: LocalNode.recordCounts(log).transfers, problems: &problems)
            if let start {
                notes.append("the log starts after op \(log.baseOp) (pruned): the replay starts from the snapshot at op \(start.op); what came before is vouched for only by that snapshot's checksums")
            }
            let canReplay = log.baseOp == 0 || start != nil
            // Sized from the batch headers up front, so the replay never pauses to grow a table.
            let ledger = start?.ledger ?? LocalNode.genesisLedger(for: log, hashSeed: LocalNode.hashSeed(clusterId: clusterId))
            let progress = Progress("verify", total: Int(log.lastOp), unit: "batches", quiet: json)
            let startNs = monotonicNowNs()
            var divergence: (op: UInt64, account: AccountDivergence?)?
            // A torn tail is what a crash mid-write leaves: never acknowledged, cut by the next
            // writable open. Damage to an acknowledged batch already failed `openLog` above.
            if let cut = log.tailTruncation { notes.append("a crash left a torn tail (not acknowledged, cut on the next ingest): \(cut)") }
            var replayedTransfers = 0
            var replayedDigest: Hash256?
            var replayedThrough: UInt64 = start?.op ?? 0
            var replayNs: UInt64 = 0
            func replay(through op: UInt64) throws {
                guard op > replayedThrough else { return }
                let replayStartNs = monotonicNowNs()
                replayedTransfers += try LocalNode.replay(log, into: ledger, from: replayedThrough + 1, through: op, progress: { done, _ in progress.update(Int(done)) })
                replayNs += monotonicNowNs() - replayStartNs
                replayedThrough = op
            }
            // Archived segments are decompressed and checked as the replay reaches them; a damaged
            // one ends the replay there, named with its file, offset and op.
            var snapshotsChecked = start == nil ? 0 : 1
            let replayedFromOp = replayedThrough + 1
            do {
                // Every snapshot must read back whole and hold exactly the state the log gives at its op.
                for snapshot in snapshots where canReplay && snapshot.op > replayedThrough {
                    guard snapshot.op <= log.lastOp else {
                        problems.append("snapshot \(snapshot.path) is at op \(snapshot.op), past the log's end (op \(log.lastOp))")
                        continue
                    }
                    try replay(through: snapshot.op)
                    let digest = ledger.digest()
                    do {
                        let (header, restored) = try SnapshotFile.read(path: snapshot.path, clusterId: clusterId, hashSeed: ledger.hashSeed, spareTransfers: 1)
                        snapshotsChecked += 1
                        if header.batchHeaderHash != log.headerHash(op: snapshot.op) {
                            problems.append("snapshot \(snapshot.path) was taken from another log (batch header hash at op \(snapshot.op) differs)")
                        } else if header.digest != digest || restored.digest() != digest {
                            let where_ = firstDivergence(expected: ledger, actual: restored)
                            divergence = divergence ?? (snapshot.op, where_)
                            problems.append("snapshot \(snapshot.path) differs from the replayed state at op \(snapshot.op)\(where_.map { ": " + $0.text } ?? "")")
                        }
                    } catch {
                        problems.append("\(error)")
                    }
                }
                if !canReplay {
                    // Already reported: no snapshot to continue the pruned log from.
                } else if let checkpoint {
                    if checkpoint.op > log.lastOp {
                        problems.append("the live state is at op \(checkpoint.op) but the log ends at op \(log.lastOp): batches are missing")
                    } else if checkpoint.op < replayedThrough {
                        notes.append("the live digest (op \(checkpoint.op)) is older than the newest snapshot: checked against the snapshots instead")
                    } else {
                        try replay(through: checkpoint.op)
                        let digest = ledger.digest()
                        replayedDigest = digest
                        if digest != checkpoint.digest {
                            divergence = divergence ?? (checkpoint.op, nil)
                            problems.append("state digest mismatch at op \(checkpoint.op): live \(checkpoint.digest), replayed \(digest)")
                        }
                        if checkpoint.op < log.lastOp {
                            notes.append("ops \(checkpoint.op + 1)...\(log.lastOp) are durable but were written after the live digest was recorded (an interrupted ingest): replayed and checked for conservation")
                        }
                    }
                } else if directory.superblock.replicaCount > 1 {
                    // A replica keeps its live digest in memory (peers compare it at every snapshot op).
                    notes.append("a replica's directory: no live digest on disk; checked the checksums, the hash chain, conservation and every snapshot")
                } else if log.lastOp > 0 {
                    // Recorded when a writer stops cleanly: a killed one (SIGKILL, a crash, power loss)
                    // never records it. That is not damage: the log itself is checked as always.
                    notes.append("no live state digest recorded (the writer never stopped cleanly: killed, crashed or still running); "
                                 + "checked the checksums, the hash chain, conservation\(snapshots.isEmpty ? "" : " and every snapshot"), with no live state to compare")
                }
                if canReplay { try replay(through: log.lastOp) }
            } catch let error as ArchiveError {
                problems.append("\(error); the replay stopped there")
            }
            progress.finish()
            let elapsedNs = monotonicNowNs() - startNs
            for (ledgerCode, totals) in ledger.totalsByLedger().sorted(by: { $0.key < $1.key }) where !totals.isBalanced {
                problems.append("money not conserved in \(CurrencyCode.format(ledgerCode)): debits \(totals.debitsPosted) != credits \(totals.creditsPosted) (pending \(totals.debitsPending) vs \(totals.creditsPending))")
            }
            var rulesReport = ""
            if withCurrentRules {
                let versions = rulesVersions(log)
                rulesReport = ",\"rules_version_current\":\(Ledger.rulesVersion),\"rules_versions\":{"
                    + versions.map { "\"\($0.version)\":{\"batches\":\($0.batches),\"first_op\":\($0.firstOp),\"last_op\":\($0.lastOp)}" }.joined(separator: ",")
                    + "},\"rules_differences\":[]"
                for found in versions where found.version != Ledger.rulesVersion {
                    // This build carries one set of rules; a batch first applied under other rules
                    // cannot be re-applied as it was, so its outcome under today's rules cannot be compared.
                    problems.append("ops \(found.firstOp)...\(found.lastOp) (\(found.batches) batches) were first applied under rules version \(found.version); this build implements only version \(Ledger.rulesVersion), so their past outcomes cannot be re-checked")
                }
                if versions.allSatisfy({ $0.version == Ledger.rulesVersion }) {
                    notes.append("every batch was first applied under the current rules (version \(Ledger.rulesVersion)): the replay above is the replay under the current rules, and no transfer's result or effect differs")
                }
            }
            let ok = problems.isEmpty
            // The replay's own speed (checksums were checked when the log opened); digests and
            // snapshot reads are in elapsed_ms.
            let rate = formatRate(replayedTransfers, elapsedNs: max(replayNs, 1))
            if json {
                let escaped = problems.map { "\"" + jsonEscaped($0) + "\"" }.joined(separator: ",")
                let firstDivergence = divergence.map { found -> String in
                    guard let account = found.account else { return "{\"op\":\(found.op),\"account\":null,\"expected\":null,\"actual\":null}" }
                    return "{\"op\":\(found.op),\"account\":\"\(account.accountId)\",\"expected\":\"\(account.expected)\",\"actual\":\"\(account.actual)\"}"
                } ?? "null"
                print("{\"ok\":\(ok),\"batches\":\(log.lastOp),\"notes\":\(notes.count),\"transfers\":\(replayedTransfers),\"transfers_per_s\":\(rate),\"elapsed_ms\":\(elapsedNs / 1_000_000),"
                    + "\"snapshots_checked\":\(snapshotsChecked),\"archives\":\(log.archivePaths.count),\"base_op\":\(log.baseOp),\"replayed_from_op\":\(replayedFromOp),\"first_divergence\":\(firstDivergence),"
                    + "\"checkpoint_op\":\(checkpoint?.op ?? 0),\"digest\":\"\(replayedDigest?.description ?? "")\"\(rulesReport),\"problems\":[\(escaped)]}")
            } else {
                // What was replayed: from the first op not covered by the snapshot it started from.
                let replayedBatches = Int(replayedThrough >= replayedFromOp ? replayedThrough - replayedFromOp + 1 : 0)
                let range = replayedBatches == 0 ? "" : replayedBatches == 1 ? " (op \(replayedFromOp))" : " (ops \(replayedFromOp)...\(replayedThrough))"
                let startedFrom = replayedFromOp > 1 ? " from the snapshot at op \(replayedFromOp - 1)" + (log.baseOp > 0 ? " (ops up to \(log.baseOp) pruned from the log)" : "") : ""
                print("replayed \(counted(replayedBatches, "batch"))\(range)\(startedFrom), \(counted(replayedTransfers, "transfer")) at \(formatCount(rate)) transfers/s (replay), "
                    + "\(counted(snapshotsChecked, "snapshot")) checked, \(counted(log.archivePaths.count, "archived segment")) replayed, \(elapsedNs / 1_000_000) ms in all")
                if let digest = replayedDigest, let checkpoint { print("state digest at op \(checkpoint.op): \(digest)") }
                for note in notes { print("note: \(note)") }
                for problem in problems { print("FAIL: \(problem)") }
                print(ok ? "verify: OK (replayed state matches the live state; money is conserved)" : "verify: FAILED")
            }
            if !ok { throw ExitCode(2) }
        }
    }
}

extension VerifyCommand {
    /// The rules versions recorded in the batch headers, each with its batch count and op range.
    func rulesVersions(_ log: SegmentLog) -> [(version: UInt32, batches: Int, firstOp: UInt64, lastOp: UInt64)] {
        var found: [UInt32: (batches: Int, firstOp: UInt64, lastOp: UInt64)] = [:]
        guard log.lastOp >= log.firstOp else { return [] }
        for op in log.firstOp...log.lastOp {
            let version = log.header(op: op).rulesVersion
            let seen = found[version]
            found[version] = ((seen?.batches ?? 0) + 1, seen?.firstOp ?? op, op)
        }
        return found.sorted { $0.key < $1.key }.map { ($0.key, $0.value.batches, $0.value.firstOp, $0.value.lastOp) }
    }

    /// The oldest snapshot at or after a pruned log's base that reads back whole, is bound to this
    /// log and holds the digest it claims: where the replay of a pruned log starts. Nil (with the
    /// reason in `problems`) when there is none: then nothing can be replayed.
    func startingSnapshot(_ snapshots: [(op: UInt64, path: String)], log: SegmentLog, clusterId: UInt128, spareTransfers: Int,
                          problems: inout [String]) -> (op: UInt64, ledger: Ledger)? {
        var skipped: [String] = []
        for snapshot in snapshots where snapshot.op >= log.baseOp && snapshot.op <= log.lastOp {
            do {
                let (header, restored) = try SnapshotFile.read(path: snapshot.path, clusterId: clusterId,
                                                               hashSeed: LocalNode.hashSeed(clusterId: clusterId), spareTransfers: spareTransfers)
                guard header.batchHeaderHash == log.headerHash(op: snapshot.op) else {
                    throw SnapshotError(path: snapshot.path, offset: 64, reason: "was taken from another log (batch header hash at op \(snapshot.op) differs)")
                }
                guard restored.digest() == header.digest else {
                    throw SnapshotError(path: snapshot.path, offset: 96, reason: "its state does not have the digest its header records")
                }
                problems += skipped
                return (snapshot.op, restored)
            } catch {
                skipped.append("\(error)")
            }
        }
        problems += skipped
        problems.append("the log starts after op \(log.baseOp) (pruned) and no valid snapshot at or after that op was found: nothing can be replayed")
        return nil
    }

    /// The log itself is damaged (a checksum, a missing or reordered batch, a broken chain): report
    /// it the way a failed replay is reported, exit 2.
    func failBeforeReplay(_ problem: String, op: UInt64?) throws -> Never {
        if json {
            print("{\"ok\":false,\"batches\":0,\"transfers\":0,\"transfers_per_s\":0,\"elapsed_ms\":0,\"snapshots_checked\":0,"
                + "\"first_divergence\":null,\"damaged_op\":\(op.map(String.init) ?? "null"),\"problems\":[\"\(jsonEscaped(problem))\"]}")
        } else {
            print("FAIL: \(problem)")
            print("verify: FAILED")
        }
        throw ExitCode(2)
    }
}

/// Where two states first differ: the account (in creation order) and its balances on each side.
struct AccountDivergence {
    var accountId: UInt128
    var expected: String
    var actual: String
    var text: String { "first difference at account \(accountId): expected \(expected), actual \(actual)" }
}

func firstDivergence(expected: Ledger, actual: Ledger) -> AccountDivergence? {
    func describe(_ account: Account) -> String {
        "id \(account.id) debits_posted \(account.debitsPosted) credits_posted \(account.creditsPosted) debits_pending \(account.debitsPending) credits_pending \(account.creditsPending)"
    }
    let count = max(expected.accountsCount, actual.accountsCount)
    for index in 0..<count {
        let left = index < expected.accountsCount ? expected.account(atIndex: index) : nil
        let right = index < actual.accountsCount ? actual.account(atIndex: index) : nil
        if left != right {
            return AccountDivergence(accountId: left?.id ?? right!.id, expected: left.map(describe) ?? "absent", actual: right.map(describe) ?? "absent")
        }
    }
    return nil
}
