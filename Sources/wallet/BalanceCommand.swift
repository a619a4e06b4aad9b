// `wallet balance`: one account's balances, from the local data directory.
import ArgumentParser
import Cluster
import LedgerCore
import Replica

struct BalanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "balance", abstract: "Print an account's balances.")

    @Option(help: "The data directory; or give --addresses.") var data: String?
    @OptionGroup var access: ClusterAccess
    @Flag(help: "Print one JSON object.") var json = false
    @Argument(help: "The account id (decimal).") var accountId: String

    func run() throws {
        try reportingErrors {
            guard case .success(let id) = UInt128.parseDecimal(accountId) else {
                throw UserError("account id '\(accountId)' is not a decimal 128-bit integer")
            }
            let account: Account
            let op: UInt64
            if let (addresses, clusterId) = try access.parsed() {
                guard data == nil else { throw UserError("give either --data or --addresses, not both") }
                let client = ClusterClient(addresses: addresses, clusterId: clusterId)
                defer { client.close() }
                let answer = try client.lookupAccounts([id])
                guard let found = answer.accounts.first ?? nil else { throw UserError("account \(id) does not exist (as of op \(answer.op))") }
                account = found
                op = answer.op
            } else {
                guard let data else { throw UserError("balance needs --data DIR or --addresses A,B,C") }
                let node = try openNode(data: data, readOnly: true, quiet: true)
                guard let found = node.ledger.account(id: id) else {
                    throw UserError("account \(id) does not exist (as of op \(node.log.lastOp))")
                }
                account = found
                op = node.log.lastOp
            }
            let balance = signedDifference(account.creditsPosted, account.debitsPosted)
            let (debitsTotal, debitsOverflow) = account.debitsPosted.addingReportingOverflow(account.debitsPending)
            let available = debitsOverflow ? "-(more than 2^128)" : signedDifference(account.creditsPosted, debitsTotal)
            let currency = CurrencyCode.format(account.ledger)
            if json {
                print("{\"account_id\":\"\(id)\",\"currency\":\"\(currency)\",\"balance\":\"\(balance)\",\"available\":\"\(available)\","
                    + "\"debits_posted\":\"\(account.debitsPosted)\",\"credits_posted\":\"\(account.creditsPosted)\","
                    + "\"debits_pending\":\"\(account.debitsPending)\",\"credits_pending\":\"\(account.creditsPending)\",\"op\":\(op)}")
            } else {
                print("account \(id) (\(currency)) at op \(op): balance \(balance), available \(available)")
                print("  debits posted \(account.debitsPosted), credits posted \(account.creditsPosted), debits pending \(account.debitsPending), credits pending \(account.creditsPending)")
            }
        }
    }
}

/// `a - b` as decimal text, negative when b > a (balances are unsigned; the difference may not be).
func signedDifference(_ a: UInt128, _ b: UInt128) -> String {
    a >= b ? String(a - b) : "-" + String(b - a)
}
