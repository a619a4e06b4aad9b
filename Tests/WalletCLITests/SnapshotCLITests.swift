// `wallet compact` and `wallet verify` over snapshots: real processes, real files, tampering.
import Foundation
import TestSupport
import XCTest

/// The snapshots directory's files, oldest first (names only, as `wallet` writes them).
private enum SnapshotFile {
    static func list(_ data: String) throws -> [String] {
        let directory = data + "/snapshots"
        guard FileManager.default.fileExists(atPath: directory) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".wsnap") }.sorted()
    }
}

final class SnapshotCLITests: XCTestCase {
    private var sample: [String] {
        ["data/accounts.csv", "data/transfers.csv"].map { Wallet.repositoryRoot.appendingPathComponent($0).path }
    }

    func testCompactThenVerifyChecksTheSnapshotAndDetectsTampering() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        try Wallet.ok(["format", "--data", data, "--cluster", "3"])
        try Wallet.ok(["ingest", "--data", data] + sample)
        let compact = try Wallet.json(try Wallet.ok(["compact", "--data", data, "--json"]))
        XCTAssertEqual(compact["op"] as? Int, 2)
        let snapshotPath = try XCTUnwrap(compact["path"] as? String)

        let verified = try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))
        XCTAssertEqual(verified["ok"] as? Bool, true)
        XCTAssertEqual(verified["snapshots_checked"] as? Int, 1)
        XCTAssertTrue(verified["first_divergence"] is NSNull)
        let before = try Wallet.ok(["balance", "--data", data, "--json", "2"]).stdout

        // A flipped byte inside the snapshot: verify names the file and offset and fails; reads
        // fall back to replaying the log and still give the right balance.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: snapshotPath))
        bytes[bytes.count - 10] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: snapshotPath))
        let failed = try Wallet.run(["verify", "--data", data, "--json"])
        XCTAssertEqual(failed.status, 2)
        let report = try Wallet.json(failed)
        XCTAssertEqual(report["ok"] as? Bool, false)
        let problems = try XCTUnwrap(report["problems"] as? [String])
        XCTAssertTrue(problems.contains { $0.contains(snapshotPath) && $0.contains("offset") }, "\(problems)")
        let after = try Wallet.run(["balance", "--data", data, "--json", "2"])
        XCTAssertEqual(after.status, 0)
        XCTAssertEqual(after.stdout, before)
        XCTAssertTrue(after.stderr.contains("skipped"), after.stderr)
    }

    func testIngestCompactsOnItsSchedule() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        try Wallet.ok(["format", "--data", data])
        // 176 transfers: under an interval of 200 nothing happens, then the second ingest crosses it.
        let first = try Wallet.ok(["ingest", "--data", data, "--snapshot-interval-transfers", "200"] + sample)
        XCTAssertFalse(first.stdout.contains("compacted"), first.stdout)
        XCTAssertTrue(try SnapshotFile.list(data).isEmpty)
        let second = try Wallet.ok(["ingest", "--data", data, "--snapshot-interval-transfers", "200", sample[1]])
        XCTAssertTrue(second.stdout.contains("compacted (352 transfers since the last snapshot): snapshot at op 3"), second.stdout)
        XCTAssertEqual(try SnapshotFile.list(data).count, 1)
        // Counted from the newest snapshot: the next small ingest does not compact again.
        let third = try Wallet.ok(["ingest", "--data", data, "--snapshot-interval-transfers", "200", sample[1]])
        XCTAssertFalse(third.stdout.contains("compacted"), third.stdout)
        XCTAssertEqual(try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))["ok"] as? Bool, true)
        let bad = try Wallet.run(["ingest", "--data", data, "--snapshot-interval-transfers", "-1", sample[1]])
        XCTAssertNotEqual(bad.status, 0)
    }

    func testCompactOnAnEmptyLogIsAClearError() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        try Wallet.ok(["format", "--data", data])
        let output = try Wallet.run(["compact", "--data", data])
        XCTAssertEqual(output.status, 1)
        XCTAssertTrue(output.stderr.contains("nothing to snapshot"), output.stderr)
    }
}
