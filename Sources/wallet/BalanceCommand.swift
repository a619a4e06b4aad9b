// `wallet balance`: one account's balances, from the local data directory.
import ArgumentParser
import Cluster
import HTTPShim
import LedgerCore
import Replica
import Storage

struct BalanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "balance", abstract: "Print an account's balances.")

    @Option(help: "The data directory; or give --addresses.") var data: String?
    @OptionGroup var access: ClusterAccess
    @Flag(name: .customLong("report-open"),
          help: "With --json and --data: also report what opening the directory cost (\"open\": snapshot op, restore ms, transfers replayed, replay ms).")
    var reportOpen = false
    @Flag(help: "Print one JSON object.") var json = false
    @Option(name: .customLong("at-op"), help: "The balance right after this op (from the nearest snapshot at or before it, then a replay).")
    var atOp: UInt64?
    @Option(name: .customLong("at-time"), help: "The balance as of this instant: ns since the epoch or RFC 3339 UTC (2026-11-23T14:20:00.5Z); exact to the record.")
    var atTime: String?
    @Argument(help: "The account id (decimal).") var accountId: String

    func run() throws {
        try reportingErrors {
            let id: UInt128
            switch ReservedIds.parse(accountId, "account id") {
            case .success(let parsed): id = parsed
            case .failure(let error): throw UserError(error.message)
            }
            let account: Account
            let op: UInt64
            var asOf = ""
            if atOp != nil || atTime != nil {
                guard atOp == nil || atTime == nil else { throw UserError("give either --at-op or --at-time, not both") }
                guard let data, try access.parsed() == nil else {
                    throw UserError("a past balance is rebuilt from a data directory: give --data DIR (a replica's directory works too)")
                }
                let directory = try DataDirectory.open(path: data)
                let log = try directory.openLog(readOnly: true)
                let point: HistoryPoint
                if let atOp {
                    point = try History.point(afterOp: atOp, in: log)
                } else {
                    guard let instant = Instant.parseNs(atTime!) else {
                        throw UserError("--at-time '\(atTime!)' is neither ns since the epoch nor RFC 3339 UTC (e.g. 2026-11-23T14:20:00Z)")
                    }
                    guard let found = try History.point(atTimeNs: instant, in: log) else {
                        throw UserError("no record is at or before \(Instant.format(ns: instant)): the log starts later (or is empty)")
                    }
                    point = found
                }
                var problems: [String] = []
                let past = try History.ledger(at: point, dataPath: data, log: log, clusterId: directory.superblock.clusterId, problems: &problems)
                for problem in problems { printError("wallet: warning: \(problem)") }
                guard let found = past.ledger.account(id: id) else {
                    throw UserError("account \(id) did not exist at op \(point.op)")
                }
                account = found
                op = point.op
                asOf = point.isWholeBatch ? "" : " (its first \(point.records) records)"
                if json {
                    asOf = ",\"records_of_op\":\(point.records),\"as_of_ns\":\(point.timestampNs),\"snapshot_op\":\(past.snapshotOp)"
                }
            } else if let (addresses, clusterId, key) = try access.parsed() {
                guard data == nil else { throw UserError("give either --data or --addresses, not both") }
                let client = ClusterClient(addresses: addresses, clusterId: clusterId, key: key, policy: try access.policy(), tls: try access.tls())
                defer { client.close() }
                let answer = try client.lookupAccounts([id])
                guard let found = answer.accounts.first ?? nil else { throw UserError("account \(id) does not exist (as of op \(answer.op))") }
                account = found
                op = answer.op
            } else {
                guard let data else { throw UserError("balance needs --data DIR or --addresses A,B,C") }
                let openStartNs = monotonicNowNs()
                let node = try openNode(data: data, readOnly: true, quiet: true)
                if json && reportOpen {
                    // What opening (recovery) cost: the snapshot it started from and the tail it replayed.
                    asOf = ",\"open\":{\"snapshot_op\":\(node.snapshotOp),\"restore_ms\":\(node.restoreElapsedNs / 1_000_000),\"replayed_transfers\":\(node.replayedTransfers),"
                        + "\"replay_ms\":\(node.replayElapsedNs / 1_000_000),\"elapsed_ms\":\((monotonicNowNs() - openStartNs) / 1_000_000)}"
                }
                guard let found = node.ledger.account(id: id) else {
                    throw UserError("account \(id) does not exist (as of op \(node.log.lastOp))")
                }
                account = found
                op = node.log.lastOp
            }
            let balance = signedDifference(account.creditsPosted, account.debitsPosted)
            let (debitsTotal, debitsOverflow) = account.debitsPosted.addingReportingOverflow(account.debitsPending)
            let available = debitsOverflow ? "-(more than 2^128)" : signedDifference(account.creditsPosted, debitsTotal)
            let (currency, exponent) = Currency.display(account.ledger)
            let unit = MoneyUnit(currency: currency, exponent: exponent)
            if json {
                // Amounts in minor units (integer strings, as scripts sum them); `exponent` and the
                // `_decimal` fields give them in the currency's major unit.
                print("{\"account_id\":\"\(id)\",\"currency\":\"\(currency)\",\"exponent\":\(exponent),\"unit\":\"minor\",\"balance\":\"\(balance)\",\"available\":\"\(available)\","
                    + "\"balance_decimal\":\"\(unit.decimal(balance))\",\"available_decimal\":\"\(unit.decimal(available))\","
                    + "\"debits_posted\":\"\(account.debitsPosted)\",\"credits_posted\":\"\(account.creditsPosted)\","
                    + "\"debits_pending\":\"\(account.debitsPending)\",\"credits_pending\":\"\(account.creditsPending)\",\"op\":\(op)\(asOf)}")
            } else {
                print("account \(id) (\(currency)) at op \(op)\(asOf): balance \(unit.label(balance)), available \(unit.label(available))")
                print("  in \(unit.minorName): debits posted \(account.debitsPosted), credits posted \(account.creditsPosted), debits pending \(account.debitsPending), credits pending \(account.creditsPending)")
            }
        }
    }
}

/// How the CLI labels money: the currency's major unit with its decimals ("-1500.00 USD"), the
/// minor units (what the ledger stores, integer) where a script needs them.
struct MoneyUnit {
    let currency: String
    let exponent: Int

    /// Signed minor units as text → the same amount in the major unit ("-150000" → "-1500.00").
    func decimal(_ minorText: String) -> String {
        let negative = minorText.hasPrefix("-")
        guard let minor = UInt128(negative ? String(minorText.dropFirst()) : minorText) else { return minorText }
        return (negative ? "-" : "") + Amount.format(minor, exponent: exponent)
    }

    /// "-1500.00 USD (-150000 minor units)"; a ledger with no minor unit: "-1500 JPY".
    func label(_ minorText: String) -> String {
        exponent == 0 ? "\(minorText) \(currency)" : "\(decimal(minorText)) \(currency) (\(minorText) minor units)"
    }

    /// What the raw fields are counted in.
    var minorName: String { exponent == 0 ? currency : "minor units (10^-\(exponent) \(currency))" }
}

/// `a - b` as decimal text, negative when b > a (balances are unsigned; the difference may not be).
func signedDifference(_ a: UInt128, _ b: UInt128) -> String {
    a >= b ? String(a - b) : "-" + String(b - a)
}
