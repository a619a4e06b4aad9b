// `wallet balance`: one account's balances, from the local data directory.
import ArgumentParser
import LedgerCore
import Replica

struct BalanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "balance", abstract: "Print an account's balances.")

    @Option(help: "The data directory.") var data: String
    @Flag(help: "Print one JSON object.") var json = false
    @Argument(help: "The account id (decimal).") var accountId: String

    func run() throws {
        try reportingErrors {
            guard case .success(let id) = UInt128.parseDecimal(accountId) else {
                throw UserError("account id '\(accountId)' is not a decimal 128-bit integer")
            }
            let node = try openNode(data: data, readOnly: true, quiet: true)
            guard let account = node.ledger.account(id: id) else {
                throw UserError("account \(id) does not exist (as of op \(node.log.lastOp))")
            }
            let balance = signedDifference(account.creditsPosted, account.debitsPosted)
            let (debitsTotal, debitsOverflow) = account.debitsPosted.addingReportingOverflow(account.debitsPending)
            let available = debitsOverflow ? "-(more than 2^128)" : signedDifference(account.creditsPosted, debitsTotal)
            let currency = CurrencyCode.format(account.ledger)
            if json {
                print("{\"account_id\":\"\(id)\",\"currency\":\"\(currency)\",\"balance\":\"\(balance)\",\"available\":\"\(available)\","
                    + "\"debits_posted\":\"\(account.debitsPosted)\",\"credits_posted\":\"\(account.creditsPosted)\","
                    + "\"debits_pending\":\"\(account.debitsPending)\",\"credits_pending\":\"\(account.creditsPending)\",\"op\":\(node.log.lastOp)}")
            } else {
                print("account \(id) (\(currency)) at op \(node.log.lastOp): balance \(balance), available \(available)")
                print("  debits posted \(account.debitsPosted), credits posted \(account.creditsPosted), debits pending \(account.debitsPending), credits pending \(account.creditsPending)")
            }
        }
    }
}

/// `a - b` as decimal text, negative when b > a (balances are unsigned; the difference may not be).
func signedDifference(_ a: UInt128, _ b: UInt128) -> String {
    a >= b ? String(a - b) : "-" + String(b - a)
}
