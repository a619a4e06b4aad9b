// `compact --prune-archives`: archives a snapshot covers are deleted; open, verify and history work from the base on.
import Foundation
import TestSupport
import XCTest

final class PruneCLITests: XCTestCase {
    func testPrunedLogOpensVerifiesAndAnswersFromItsBaseOn() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        try Wallet.ok(["gen", "--accounts", "1000", "--transfers", "200000", "--seed", "9", "--transfers-per-file", "200000", "--out", directory.path + "/gen"])
        try Wallet.ok(["format", "--data", data, "--segment-size-mib", "4"])
        try Wallet.ok(["ingest", "--data", data, directory.path + "/gen/accounts.wbatch", directory.path + "/gen/transfers-000001.wbatch"])
        let first = try Wallet.json(try Wallet.ok(["compact", "--data", data, "--json"]))
        let firstOp = try XCTUnwrap(first["op"] as? Int)
        XCTAssertEqual(first["archives_pruned"] as? Int, 0)
        // More batches (the same transfers again: answered `exists`, still batches of the log).
        try Wallet.ok(["ingest", "--data", data, directory.path + "/gen/transfers-000001.wbatch"])
        let balanceBefore = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", "5"]))
        let atFirstOp = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", "--at-op", String(firstOp), "5"]))

        let pruned = try Wallet.json(try Wallet.ok(["compact", "--data", data, "--retain", "2", "--prune-archives", "--json"]))
        let baseOp = try XCTUnwrap(pruned["base_op"] as? Int)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(pruned["archives_pruned"] as? Int), 2)
        XCTAssertGreaterThan(baseOp, 0)
        XCTAssertLessThanOrEqual(baseOp, firstOp, "only what the oldest retained snapshot covers")
        XCTAssertFalse(FileManager.default.fileExists(atPath: data + "/log/archive-0000000001.wlza"))

        // The state opens from a snapshot; verify replays from the oldest one it can continue.
        let balanceAfter = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", "--report-open", "5"]))
        let opened = try XCTUnwrap(balanceAfter["open"] as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(opened["snapshot_op"] as? Int), firstOp, "recovery starts from the newest snapshot")
        XCTAssertEqual(opened["replayed_transfers"] as? Int, 0)
        XCTAssertEqual(balanceAfter["credits_posted"] as? String, balanceBefore["credits_posted"] as? String)
        XCTAssertEqual(balanceAfter["debits_posted"] as? String, balanceBefore["debits_posted"] as? String)
        let verified = try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))
        XCTAssertEqual(verified["ok"] as? Bool, true, "\(verified)")
        XCTAssertEqual(verified["base_op"] as? Int, baseOp)
        XCTAssertEqual(verified["replayed_from_op"] as? Int, firstOp + 1)
        XCTAssertEqual(verified["snapshots_checked"] as? Int, 2)

        // The past from the oldest snapshot on is still there; before the base it is gone, said so.
        let atFirstOpAfter = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", "--at-op", String(firstOp), "5"]))
        for field in ["balance", "debits_posted", "credits_posted", "op"] {
            XCTAssertEqual("\(atFirstOpAfter[field] ?? "")", "\(atFirstOp[field] ?? "")", field)
        }
        XCTAssertEqual(try Wallet.ok(["history", "--data", data, "--json", "--from-op", String(firstOp + 1), "5"]).status, 0)
        let beforeBase = try Wallet.run(["balance", "--data", data, "--at-op", String(baseOp - 1), "5"])
        XCTAssertNotEqual(beforeBase.status, 0, "base \(baseOp): \(beforeBase.stdout)")
        XCTAssertTrue(beforeBase.stderr.contains("pruned"), beforeBase.stderr)
        let fromBase = try Wallet.run(["history", "--data", data, "--from-op", String(baseOp + 1), "5"])
        if baseOp < firstOp {
            XCTAssertNotEqual(fromBase.status, 0)
            XCTAssertTrue(fromBase.stderr.contains("no valid snapshot between the log's base"), fromBase.stderr)
        } else {
            XCTAssertEqual(fromBase.status, 0, "the oldest snapshot is at the base itself: \(fromBase.stderr)")
        }

        // Without its snapshots a pruned log cannot be opened or verified: a clear error, exit 2 for verify.
        for snapshot in try FileManager.default.contentsOfDirectory(atPath: data + "/snapshots") {
            try FileManager.default.moveItem(atPath: data + "/snapshots/" + snapshot, toPath: directory.path + "/" + snapshot)
        }
        let unopenable = try Wallet.run(["balance", "--data", data, "5"])
        XCTAssertNotEqual(unopenable.status, 0)
        XCTAssertTrue(unopenable.stderr.contains("no valid snapshot at or after that op"), unopenable.stderr)
        let failed = try Wallet.run(["verify", "--data", data, "--json"])
        XCTAssertEqual(failed.status, 2)
        XCTAssertTrue(try XCTUnwrap(try Wallet.json(failed)["problems"] as? [String]).contains { $0.contains("nothing can be replayed") })
    }
}
