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

    func run() throws {
        try reportingErrors {
            let directory = try DataDirectory.open(path: data)
            // Opening the log checks every segment header, batch checksum and hash-chain link.
            let log = try directory.openLog(readOnly: true)
            let checkpoint = try StateCheckpoint.read(directory: directory.path)
            let ledger = Ledger(hashSeed: LocalNode.hashSeed(clusterId: directory.superblock.clusterId))
            let progress = Progress("verify", total: Int(log.lastOp), unit: "batches", quiet: json)
            let startNs = monotonicNowNs()
            var problems: [String] = []
            var notes: [String] = []
            // A torn tail is what a crash mid-write leaves: never acknowledged, cut by the next
            // writable open. Damage to an acknowledged batch already failed `openLog` above.
            if let cut = log.tailTruncation { notes.append("a crash left a torn tail (not acknowledged, cut on the next ingest): \(cut)") }
            var replayedTransfers = 0
            var replayedDigest: Hash256?
            if let checkpoint {
                if checkpoint.op > log.lastOp {
                    problems.append("the live state is at op \(checkpoint.op) but the log ends at op \(log.lastOp): batches are missing")
                } else {
                    replayedTransfers += LocalNode.replay(log, into: ledger, through: checkpoint.op, progress: { op, _ in progress.update(Int(op)) })
                    let digest = ledger.digest()
                    replayedDigest = digest
                    if digest != checkpoint.digest {
                        problems.append("state digest mismatch at op \(checkpoint.op): live \(checkpoint.digest), replayed \(digest)")
                    }
                    // Batches after the recorded digest (an ingest that was interrupted after they
                    // became durable) are replayed and checked too; the next ingest records them.
                    if checkpoint.op < log.lastOp {
                        replayedTransfers += LocalNode.replay(log, into: ledger, from: checkpoint.op + 1, through: log.lastOp,
                                                              progress: { op, _ in progress.update(Int(op)) })
                        notes.append("ops \(checkpoint.op + 1)...\(log.lastOp) are durable but were written after the live digest was recorded (an interrupted ingest): replayed and checked for conservation")
                    }
                }
            } else if log.lastOp > 0 {
                problems.append("no live state digest recorded (state-digest file missing) though the log holds \(log.lastOp) batches")
            }
            progress.finish()
            let elapsedNs = monotonicNowNs() - startNs
            for (ledgerCode, totals) in ledger.totalsByLedger().sorted(by: { $0.key < $1.key }) where !totals.isBalanced {
                problems.append("money not conserved in \(CurrencyCode.format(ledgerCode)): debits \(totals.debitsPosted) != credits \(totals.creditsPosted) (pending \(totals.debitsPending) vs \(totals.creditsPending))")
            }
            let ok = problems.isEmpty
            let rate = formatRate(replayedTransfers, elapsedNs: elapsedNs)
            if json {
                let escaped = problems.map { "\"" + $0.replacingOccurrences(of: "\"", with: "'") + "\"" }.joined(separator: ",")
                print("{\"ok\":\(ok),\"batches\":\(log.lastOp),\"notes\":\(notes.count),\"transfers\":\(replayedTransfers),\"transfers_per_s\":\(rate),"
                    + "\"checkpoint_op\":\(checkpoint?.op ?? 0),\"digest\":\"\(replayedDigest?.description ?? "")\",\"problems\":[\(escaped)]}")
            } else {
                print("replayed \(log.lastOp) batches, \(formatCount(replayedTransfers)) transfers, \(formatCount(rate)) transfers/s")
                if let digest = replayedDigest { print("state digest at op \(checkpoint!.op): \(digest)") }
                for note in notes { print("note: \(note)") }
                for problem in problems { print("FAIL: \(problem)") }
                print(ok ? "verify: OK (replayed state matches the live state; money is conserved)" : "verify: FAILED")
            }
            if !ok { throw ExitCode(2) }
        }
    }
}
