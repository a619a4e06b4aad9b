// Archives through the CLI: compact archives, verify replays through them; tampering and SIGKILL.
import Foundation
import TestSupport
import XCTest

final class ArchiveCLITests: XCTestCase {
    /// A data directory of 4 MiB segments (3 full batches each) holding `transfers` transfers in batches of 8189.
    private func makeData(_ directory: TemporaryDirectory, transfers: Int) throws -> String {
        let data = directory.path + "/data"
        try Wallet.ok(["gen", "--accounts", "1000", "--transfers", String(transfers), "--seed", "8", "--transfers-per-file", String(transfers), "--out", directory.path + "/gen"])
        try Wallet.ok(["format", "--data", data, "--segment-size-mib", "4"])
        try Wallet.ok(["ingest", "--data", data, directory.path + "/gen/accounts.wbatch", directory.path + "/gen/transfers-000001.wbatch"])
        return data
    }

    private func segmentFiles(_ data: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: data + "/log").filter { $0.hasSuffix(".wlog") }.sorted().map { data + "/log/" + $0 }
    }

    /// (offset, size) of each batch in a segment file, walking the batch headers from the first page.
    private func batches(in segment: Data) -> [(offset: Int, size: Int)] {
        var found: [(Int, Int)] = []
        var offset = 4096
        while offset + 128 <= segment.count {
            let magic = segment[offset + 4..<offset + 8].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            guard magic == 0x3142_4C57 else { break }
            let body = segment[offset + 56..<offset + 60].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            found.append((offset, 128 + Int(body)))
            offset += 128 + Int(body)
        }
        return found
    }

    func testVerifyReplaysThroughArchivesAndNamesTampering() throws {
        let directory = TemporaryDirectory()
        let data = try makeData(directory, transfers: 200_000)
        let balanceBefore = try Wallet.ok(["balance", "--data", data, "--json", "5"]).stdout
        let compact = try Wallet.json(try Wallet.ok(["compact", "--data", data, "--json"]))
        let archived = try XCTUnwrap(compact["segments_archived"] as? Int)
        XCTAssertGreaterThanOrEqual(archived, 3)
        XCTAssertLessThan(try XCTUnwrap(compact["archive_bytes"] as? Int), try XCTUnwrap(compact["archived_data_bytes"] as? Int))
        let verified = try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))
        XCTAssertEqual(verified["ok"] as? Bool, true, "\(verified)")
        XCTAssertEqual(verified["archives"] as? Int, archived)
        XCTAssertEqual(verified["transfers"] as? Int, 200_000)
        XCTAssertEqual(try Wallet.ok(["balance", "--data", data, "--json", "5"]).stdout, balanceBefore)
        XCTAssertEqual(try Wallet.ok(["history", "--data", data, "--json", "--from-op", "2", "5"]).status, 0, "history reads archives")

        // A flipped byte inside an archive: verify fails (exit 2) naming the archive and the op.
        let archive = data + "/log/archive-0000000002.wlza"
        let original = try Data(contentsOf: URL(fileURLWithPath: archive))
        var damaged = original
        damaged[damaged.count / 2] ^= 0x01
        try damaged.write(to: URL(fileURLWithPath: archive))
        let failed = try Wallet.run(["verify", "--data", data, "--json"])
        XCTAssertEqual(failed.status, 2)
        let report = try Wallet.json(failed)
        XCTAssertEqual(report["ok"] as? Bool, false)
        let problems = try XCTUnwrap(report["problems"] as? [String])
        XCTAssertTrue(problems.contains { $0.contains(archive) && $0.contains("offset") && $0.contains("(op ") }, "\(problems)")
        try original.write(to: URL(fileURLWithPath: archive))
        XCTAssertEqual(try Wallet.run(["verify", "--data", data]).status, 0)

        // Grow the live segment, then remove one batch from it, and separately swap two: each is
        // caught by the hash chain and named with the segment, offset and op.
        try Wallet.ok(["ingest", "--data", data, directory.path + "/gen/transfers-000001.wbatch"])
        let live = try XCTUnwrap(try segmentFiles(data).first { batches(in: try Data(contentsOf: URL(fileURLWithPath: $0))).count >= 3 },
                                 "the test needs a segment of 3 batches")
        let liveOriginal = try Data(contentsOf: URL(fileURLWithPath: live))
        let inLive = batches(in: liveOriginal)
        let removed = inLive[1]
        var withoutOne = liveOriginal
        withoutOne.removeSubrange(removed.offset..<(removed.offset + removed.size))
        withoutOne.append(Data(count: removed.size))
        var swapped = liveOriginal
        let (a, b) = (inLive[0], inLive[1])
        swapped.replaceSubrange(a.offset..<(b.offset + b.size), with: liveOriginal[b.offset..<(b.offset + b.size)] + liveOriginal[a.offset..<(a.offset + a.size)])
        for (name, tampered) in [("removed", withoutOne), ("reordered", swapped)] {
            try tampered.write(to: URL(fileURLWithPath: live))
            let output = try Wallet.run(["verify", "--data", data, "--json"])
            XCTAssertEqual(output.status, 2, name)
            let problem = try XCTUnwrap((try Wallet.json(output))["problems"] as? [String]).joined()
            XCTAssertTrue(problem.contains(live) && problem.contains("offset") && problem.contains("op "), "\(name): \(problem)")
            XCTAssertNotNil((try Wallet.json(output))["damaged_op"] as? Int, name)
        }
        try liveOriginal.write(to: URL(fileURLWithPath: live))
        XCTAssertEqual(try Wallet.run(["verify", "--data", data]).status, 0)
    }

    func testSIGKILLDuringCompactionLosesNothing() throws {
        let directory = TemporaryDirectory()
        let data = try makeData(directory, transfers: 300_000)
        let expected = try Wallet.ok(["balance", "--data", data, "--json", "7"]).stdout
        let expectedDigest = try XCTUnwrap((try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"])))["digest"] as? String)
        // Kill `wallet compact` at spread-out moments: while it replays, writes the snapshot, or
        // archives segments. Each time the directory must verify, give the same balance, and the
        // next compaction must finish the job.
        var killedCount = 0
        for delayMs in [150, 400, 700, 1000, 1400, 1900] {
            let process = Process()
            process.executableURL = Wallet.executableURL
            process.arguments = ["compact", "--data", data]
            process.standardOutput = Pipe()
            process.standardError = Pipe()
            try process.run()
            usleep(UInt32(delayMs) * 1000)
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                killedCount += 1
            }
            process.waitUntilExit()
            let verify = try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))
            XCTAssertEqual(verify["ok"] as? Bool, true, "after a kill at \(delayMs) ms: \(verify)")
            XCTAssertEqual(verify["transfers"] as? Int, 300_000)
            XCTAssertEqual(verify["digest"] as? String, expectedDigest)
            XCTAssertEqual(try Wallet.ok(["balance", "--data", data, "--json", "7"]).stdout, expected)
        }
        XCTAssertGreaterThan(killedCount, 0, "no compaction was killed mid-way")
        try Wallet.ok(["compact", "--data", data])
        let names = try FileManager.default.contentsOfDirectory(atPath: data + "/log") + FileManager.default.contentsOfDirectory(atPath: data + "/snapshots")
        XCTAssertFalse(names.contains { $0.hasSuffix(".tmp") }, "\(names)")
        XCTAssertEqual(try segmentFiles(data).count, 1, "every sealed segment is archived")
        XCTAssertEqual(try Wallet.ok(["balance", "--data", data, "--json", "7"]).stdout, expected)
    }
}
