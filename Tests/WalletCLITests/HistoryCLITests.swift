// `wallet balance --at-op/--at-time` and `wallet history`: real processes on the sample data.
import Foundation
import TestSupport
import XCTest

final class HistoryCLITests: XCTestCase {
    func testPastBalancesAndHistoryAgreeWithEachOther() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        try Wallet.ok(["format", "--data", data, "--cluster", "5"])
        try Wallet.ok(["ingest", "--data", data, Wallet.repositoryRoot.appendingPathComponent("data/accounts.csv").path])
        try Wallet.ok(["ingest", "--data", data, Wallet.repositoryRoot.appendingPathComponent("data/transfers.csv").path])
        try Wallet.ok(["compact", "--data", data])

        // Before the transfers (op 1: accounts only) the wallet holds nothing; after them, what it holds now.
        let atOne = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", "--at-op", "1", "2"]))
        XCTAssertEqual(atOne["balance"] as? String, "0")
        XCTAssertEqual(atOne["op"] as? Int, 1)
        let now = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", "2"]))
        let atTwo = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", "--at-op", "2", "2"]))
        XCTAssertEqual(atTwo["balance"] as? String, now["balance"] as? String)
        XCTAssertEqual(atTwo["snapshot_op"] as? Int, 2, "the snapshot at op 2 is used")

        // The history's running balance after each entry equals the balance as of that entry's instant.
        let history = try Wallet.json(try Wallet.ok(["history", "--data", data, "--json", "2"]))
        let entries = try XCTUnwrap(history["entries"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(entries.count, 2)
        XCTAssertEqual(entries.last?["balance"] as? String, now["balance"] as? String)
        for entry in [entries[0], entries[entries.count / 2], entries[entries.count - 1]] {
            let instant = try XCTUnwrap(entry["timestamp_ns"] as? Int)
            let past = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", "--at-time", String(instant), "2"]))
            XCTAssertEqual(past["balance"] as? String, entry["balance"] as? String, "balance at \(instant)")
            XCTAssertEqual(past["as_of_ns"] as? Int, instant)
        }
        // One nanosecond before the first change, the balance is what it was before it.
        let firstInstant = try XCTUnwrap(entries[0]["timestamp_ns"] as? Int)
        let before = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", "--at-time", String(firstInstant - 1), "2"]))
        XCTAssertEqual(before["balance"] as? String, "0")
        // The text form lists the same changes.
        let text = try Wallet.ok(["history", "--data", data, "2"]).stdout
        XCTAssertTrue(text.contains("\(entries.count) changes"), text)

        // --limit lists exactly that many; each page names where the next starts, and the pages
        // together are the whole list.
        var paged: [[String: Any]] = []
        var arguments = ["history", "--data", data, "--json", "--limit", "1", "2"]
        for _ in 0..<entries.count + 1 {
            let page = try Wallet.json(try Wallet.ok(arguments))
            let listed = try XCTUnwrap(page["entries"] as? [[String: Any]])
            XCTAssertEqual(listed.count, 1)
            paged += listed
            guard let next = page["continue_from"] as? [String: Int] else { break }
            arguments = ["history", "--data", data, "--json", "--limit", "1", "--from-op", String(next["op"]!), "--from-record", String(next["record"]!), "2"]
        }
        XCTAssertEqual(paged.map { $0["transfer_id"] as? String }, entries.map { $0["transfer_id"] as? String })
        let limited = try Wallet.ok(["history", "--data", data, "--limit", "1", "2"]).stdout
        XCTAssertTrue(limited.contains("1 change listed (--limit 1), more follow"), limited)
        XCTAssertTrue(limited.contains("more: continue with --from-op"), limited)
        XCTAssertEqual(limited.split(separator: "\n").filter { $0.hasPrefix("op ") }.count, 1, limited)

        // Bad input: a clear error, exit 1.
        for (arguments, expected) in [
            (["balance", "--data", data, "--at-op", "99", "2"], "past the log's end"),
            (["balance", "--data", data, "--at-time", "yesterday", "2"], "RFC 3339"),
            (["balance", "--data", data, "--at-time", "1970-01-01T00:00:01Z", "2"], "log starts later"),
            (["balance", "--data", data, "--at-op", "1", "--at-time", "5", "2"], "not both"),
            (["history", "--data", data, "--from-op", "3", "2"], "not a range within the log"),
            (["history", "--data", data, "--limit", "0", "2"], "history_entries_max"),
            (["history", "--data", data, "999999"], "account 999999 does not exist"),
            (["balance", "--data", data, "999999"], "account 999999 does not exist"),
            (["history", "--data", data, "--from-record", "99999", "2"], "--from-record"),
        ] {
            let output = try Wallet.run(arguments)
            XCTAssertEqual(output.status, 1, arguments.joined(separator: " "))
            XCTAssertTrue(output.stderr.contains(expected), "\(arguments): \(output.stderr)")
        }
    }
}
