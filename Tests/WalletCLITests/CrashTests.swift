// A real `wallet ingest` process killed with SIGKILL mid-way: the data directory recovers,
// verifies, and takes more work.
import Foundation
import TestSupport
import XCTest

final class CrashTests: XCTestCase {
    func testSIGKILLDuringIngestLosesNothingDurable() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        try Wallet.ok(["gen", "--accounts", "2000", "--transfers", "600000", "--seed", "4", "--transfers-per-file", "600000", "--out", directory.path + "/gen"])
        try Wallet.ok(["format", "--data", data, "--segment-size-mib", "8"])
        try Wallet.ok(["ingest", "--data", data, directory.path + "/gen/accounts.wbatch"])

        // Start the big ingest and kill it once it reports progress (so batches are being written).
        let process = Process()
        process.executableURL = Wallet.executableURL
        process.arguments = ["ingest", "--data", data, directory.path + "/gen/transfers-000001.wbatch"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        var seen = ""
        while Date() < deadline && !seen.contains("ingest: 20%") && process.isRunning {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { usleep(10_000) } else { seen += String(decoding: chunk, as: UTF8.self) }
        }
        let killedMidway = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertTrue(killedMidway, "the ingest finished before it could be killed: \(seen)")
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)

        // Whatever became durable is replayed; the digest recorded before the crash still matches.
        let verify = try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))
        XCTAssertEqual(verify["ok"] as? Bool, true, "\(verify)")
        let batches = try XCTUnwrap(verify["batches"] as? Int)
        XCTAssertGreaterThanOrEqual(batches, 1)
        XCTAssertLessThanOrEqual(batches, 1 + 74)  // accounts + at most every transfer batch

        // The node takes new work after the crash and records a digest that verifies.
        let more = directory.path + "/more.csv"
        try "transaction_id,from_account,to_account,amount,currency\n\(UInt128(99) << 64 | 1),1,2,5,USD\n".write(toFile: more, atomically: true, encoding: .utf8)
        try Wallet.ok(["ingest", "--data", data, more])
        let after = try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))
        XCTAssertEqual(after["ok"] as? Bool, true)
        XCTAssertEqual(after["batches"] as? Int, batches + 1)
        XCTAssertEqual(after["notes"] as? Int, 0, "the next ingest cut the torn tail and recorded every op")
    }
}
