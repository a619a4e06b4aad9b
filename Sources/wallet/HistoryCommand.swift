// `wallet history`: one account's transfers in a range of ops, with its balance after each.
import ArgumentParser
import HTTPShim
import LedgerCore
import Replica
import Storage

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List an account's successful transfers in a range of ops, with its balances after each.",
        discussion: """
            Rebuilt from the data directory: the nearest snapshot at or before --from-op, then a replay \
            of the range. Each batch's running balances are checked against the replayed state.
            """)

    /// The most entries one call lists (`history_entries_max`); when more follow, it says where
    /// to continue (the op and the record of the next change).
    static let entriesMaxLimit = 1_000_000

    @Option(help: "The data directory (a replica's works too).") var data: String
    @Option(name: .customLong("from-op"), help: "The first op to scan.") var fromOp: UInt64 = 1
    @Option(name: .customLong("to-op"), help: "The last op to scan (default: the log's last).") var toOp: UInt64?
    @Option(name: .customLong("from-record"), help: "With --from-op: the first record of that op to list (to continue a listing).")
    var fromRecord: Int = 0
    @Option(help: "List at most this many changes (history_entries_max, at most 1000000), then say where to continue.")
    var limit: Int = 1000
    @Flag(help: "Print one JSON object.") var json = false
    @Argument(help: "The account id (decimal).") var accountId: String

    func run() throws {
        try reportingErrors {
            let id: UInt128
            switch ReservedIds.parse(accountId, "account id") {
            case .success(let parsed): id = parsed
            case .failure(let error): throw UserError(error.message)
            }
            guard limit >= 1 && limit <= HistoryCommand.entriesMaxLimit else {
                throw UserError("--limit \(limit) is outside 1...\(HistoryCommand.entriesMaxLimit) (history_entries_max)")
            }
            let directory = try DataDirectory.open(path: data)
            let log = try directory.openLog(readOnly: true)
            guard log.lastOp >= 1 else { throw UserError("\(data): the log is empty") }
            let lastOp = toOp ?? log.lastOp
            guard fromOp >= 1, fromOp <= lastOp, lastOp <= log.lastOp else {
                throw UserError("ops \(fromOp)...\(lastOp) are not a range within the log (ops 1...\(log.lastOp))")
            }
            guard fromRecord >= 0 && fromRecord < Limits.batchRecordsMax else {
                throw UserError("--from-record \(fromRecord) is outside 0...\(Limits.batchRecordsMax - 1) (batch_records_max)")
            }
            var problems: [String] = []
            let found = try History.account(id, ops: fromOp...lastOp, fromRecord: fromRecord, entriesMax: limit, dataPath: data, log: log,
                                            clusterId: directory.superblock.clusterId, problems: &problems)
            for problem in problems { printError("wallet: warning: \(problem)") }
            guard found.accountExists else { throw UserError("account \(id) does not exist (as of op \(lastOp))") }
            if json {
                let entries = found.entries.map { entry in
                    "{\"op\":\(entry.op),\"record\":\(entry.recordIndex),\"timestamp_ns\":\(entry.timestampNs),\"transfer_id\":\"\(entry.transferId)\","
                        + "\"kind\":\"\(entry.kind.rawValue)\",\"side\":\"\(entry.isDebit ? "debit" : "credit")\",\"counterparty\":\"\(entry.counterpartyId)\","
                        + "\"amount\":\"\(entry.amount)\",\"balance\":\"\(signedDifference(entry.after.creditsPosted, entry.after.debitsPosted))\","
                        + "\"debits_posted\":\"\(entry.after.debitsPosted)\",\"credits_posted\":\"\(entry.after.creditsPosted)\","
                        + "\"debits_pending\":\"\(entry.after.debitsPending)\",\"credits_pending\":\"\(entry.after.creditsPending)\"}"
                }.joined(separator: ",")
                let next = found.next.map { "{\"op\":\($0.op),\"record\":\($0.record)}" } ?? "null"
                let currency = found.entries.first.map { entry -> String in
                    let (code, exponent) = Currency.display(entry.after.ledger)
                    return "\"currency\":\"\(code)\",\"exponent\":\(exponent),"
                } ?? ""
                // Amounts and balances in minor units (integer strings); `exponent` gives the major unit.
                print("{\"account_id\":\"\(id)\",\(currency)\"unit\":\"minor\",\"from_op\":\(fromOp),\"from_record\":\(fromRecord),\"to_op\":\(lastOp),\"continue_from\":\(next),\"entries\":[\(entries)]}")
            } else {
                let listed = found.next == nil ? "" : " listed (--limit \(limit)), more follow"
                print("account \(id), ops \(fromOp)...\(lastOp): \(found.entries.count) \(found.entries.count == 1 ? "change" : "changes")\(listed)")
                for entry in found.entries {
                    let sign = entry.isDebit ? "-" : "+"
                    let pending = entry.after.creditsPending > 0 || entry.after.debitsPending > 0
                        ? "  (pending, in minor units: debits \(entry.after.debitsPending), credits \(entry.after.creditsPending))" : ""
                    let (currency, exponent) = Currency.display(entry.after.ledger)
                    let unit = MoneyUnit(currency: currency, exponent: exponent)
                    print("op \(entry.op) #\(entry.recordIndex) \(Instant.format(ns: entry.timestampNs)) transfer \(entry.transferId) \(entry.kind.rawValue) "
                        + "\(sign)\(unit.decimal(String(entry.amount))) \(currency) \(entry.isDebit ? "to" : "from") \(entry.counterpartyId) -> balance \(unit.label(signedDifference(entry.after.creditsPosted, entry.after.debitsPosted)))\(pending)")
                }
                if let next = found.next { print("more: continue with --from-op \(next.op) --from-record \(next.record)") }
            }
        }
    }
}
