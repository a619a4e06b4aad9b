// The reserved ids 0 and 2^128-1 through the real binary: refused with a clear error at every entry point.
import Foundation
import LedgerCore
import TestSupport
import Workload
import XCTest

final class ReservedIdCLITests: XCTestCase {
    private static let max = "340282366920938463463374607431768211455"

    private func sampleData(_ directory: TemporaryDirectory) throws -> String {
        let data = directory.path + "/data"
        try Wallet.ok(["format", "--data", data])
        let root = Wallet.repositoryRoot.appendingPathComponent("data")
        try Wallet.ok(["ingest", "--data", data, root.appendingPathComponent("accounts.csv").path, root.appendingPathComponent("transfers.csv").path])
        return data
    }

    /// `wallet balance --data D 0` once printed account 1's balances with exit 0.
    func testBalanceAndHistoryRefuseReservedIds() throws {
        let directory = TemporaryDirectory()
        let data = try sampleData(directory)
        for (id, words) in [("0", "account id 0 is reserved"), ("000", "account id 0 is reserved"), (ReservedIdCLITests.max, "account id 2^128-1 is reserved")] {
            for command in [["balance", "--data", data, id], ["balance", "--data", data, "--json", id], ["balance", "--data", data, "--at-op", "1", id],
                            ["history", "--data", data, id]] {
                let output = try Wallet.run(command)
                XCTAssertEqual(output.status, 1, "\(command): \(output.stdout)")
                XCTAssertTrue(output.stderr.contains(words), "\(command): \(output.stderr)")
                XCTAssertFalse(output.stdout.contains("debits"), "\(command) printed balances: \(output.stdout)")
            }
        }
        XCTAssertEqual(try Wallet.run(["balance", "--data", data, "1"]).status, 0)
    }

    func testCSVRowsWithReservedIdsAreRefusedNamingTheLine() throws {
        let directory = TemporaryDirectory()
        let data = try sampleData(directory)
        let before = try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))["digest"] as? String
        for (row, words) in [("9001,0,2,5,USD", "from_account 0 is reserved"), ("0,1,2,5,USD", "transaction_id 0 is reserved"),
                             ("9002,1,\(ReservedIdCLITests.max),5,USD", "to_account 2^128-1 is reserved")] {
            let file = directory.path + "/bad.csv"
            try "transaction_id,from_account,to_account,amount,currency\n9000,1,2,5,USD\n\(row)\n".write(toFile: file, atomically: true, encoding: .utf8)
            let output = try Wallet.run(["ingest", "--data", data, file])
            XCTAssertNotEqual(output.status, 0)
            XCTAssertTrue(output.stderr.contains("line 3") && output.stderr.contains(words), output.stderr)
        }
        XCTAssertEqual(try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))["digest"] as? String, before, "nothing was applied")
    }

    /// Batch files carry records as they are: the ledger refuses each reserved id with its own result code.
    func testBatchFileRecordsWithReservedIdsAreRefusedByTheLedger() throws {
        let directory = TemporaryDirectory()
        let data = try sampleData(directory)
        let usd = CurrencyCode.parse("USD")!
        let file = directory.path + "/reserved.wbatch"
        let bytes = BatchFile.encode(transfers: [
            Transfer(id: 0, debitAccountId: 1, creditAccountId: 2, amount: 5, ledger: usd),
            Transfer(id: .max, debitAccountId: 1, creditAccountId: 2, amount: 5, ledger: usd),
            Transfer(id: 9_100, debitAccountId: 0, creditAccountId: 2, amount: 5, ledger: usd),
            Transfer(id: 9_101, debitAccountId: 1, creditAccountId: .max, amount: 5, ledger: usd),
        ])
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let balanceBefore = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", "1"]))
        let report = try Wallet.json(try Wallet.ok(["ingest", "--data", data, "--json", file]))
        let results = try XCTUnwrap(report["transfer_results"] as? [String: Int])
        XCTAssertEqual(results["id_must_not_be_zero"], 1)
        XCTAssertEqual(results["id_must_not_be_int_max"], 1)
        XCTAssertEqual(results["debit_account_id_must_not_be_zero_or_int_max"], 1)
        XCTAssertEqual(results["credit_account_id_must_not_be_zero_or_int_max"], 1)
        let balanceAfter = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", "1"]))
        XCTAssertEqual(balanceBefore["debits_posted"] as? String, balanceAfter["debits_posted"] as? String)
    }
}
