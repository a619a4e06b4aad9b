// The CLI as users and scripts drive it: real processes, real files, real exit codes.
import Foundation
import LedgerCore
import TestSupport
import XCTest

final class CLIEndToEndTests: XCTestCase {
    private var sampleAccounts: String { Wallet.repositoryRoot.appendingPathComponent("data/accounts.csv").path }
    private var sampleTransfers: String { Wallet.repositoryRoot.appendingPathComponent("data/transfers.csv").path }

    /// The sample's balances computed in-process by the library, to check the CLI against.
    private func expectedSampleLedger() throws -> Ledger {
        let ledger = Ledger()
        var timestamp: UInt64 = 1
        for path in [sampleAccounts, sampleTransfers] {
            let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
            let records = try bytes.withUnsafeBytes { try CSVRecords.parse($0).get() }
            var results = [UInt8](repeating: 0, count: Limits.batchRecordsMax)
            switch records {
            case .accounts(let accounts):
                accounts.withUnsafeBufferPointer { a in results.withUnsafeMutableBufferPointer { ledger.createAccounts(a, timestampNs: timestamp, results: $0) } }
            case .transfers(let transfers):
                transfers.withUnsafeBufferPointer { t in results.withUnsafeMutableBufferPointer { ledger.createTransfers(t, timestampNs: timestamp, results: $0) } }
            }
            timestamp += 10_000
        }
        return ledger
    }

    func testSampleDataThroughTheCLI() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        try Wallet.ok(["format", "--data", data, "--cluster", "7"])
        let ingest = try Wallet.json(try Wallet.ok(["ingest", "--data", data, "--json", sampleAccounts, sampleTransfers]))
        XCTAssertEqual(ingest["accounts"] as? Int, 17)
        XCTAssertEqual(ingest["transfers"] as? Int, 176)
        let results = try XCTUnwrap(ingest["transfer_results"] as? [String: Int])
        XCTAssertEqual(results["exists"], 1)
        XCTAssertEqual(results["accounts_must_have_the_same_ledger"], 1)
        XCTAssertEqual(results["debit_account_not_found"] ?? 0 + (results["credit_account_not_found"] ?? 0), 1)

        let expected = try expectedSampleLedger()
        for id in [1, 2, 3, 4, 5, 6, 101, 103, 104] {
            let balance = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", String(id)]))
            let account = try XCTUnwrap(expected.account(id: UInt128(id)))
            XCTAssertEqual(balance["debits_posted"] as? String, String(account.debitsPosted), "account \(id)")
            XCTAssertEqual(balance["credits_posted"] as? String, String(account.creditsPosted), "account \(id)")
            XCTAssertEqual(balance["debits_pending"] as? String, String(account.debitsPending), "account \(id)")
            XCTAssertEqual(balance["credits_pending"] as? String, String(account.creditsPending), "account \(id)")
        }
        let verify = try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))
        XCTAssertEqual(verify["ok"] as? Bool, true)
        XCTAssertEqual(verify["transfers"] as? Int, 176)
        let text = try Wallet.ok(["verify", "--data", data])
        XCTAssertTrue(text.stdout.contains("verify: OK"))
    }

    func testGeneratedBatchFilesAndCSVGiveTheSameBalances() throws {
        let directory = TemporaryDirectory()
        try Wallet.ok(["gen", "--accounts", "200", "--transfers", "20000", "--distribution", "zipf", "--duplicates", "0.02",
                       "--invalid", "0.02", "--seed", "9", "--transfers-per-file", "7000", "--out", directory.path + "/bin"])
        try Wallet.ok(["gen", "--accounts", "200", "--transfers", "20000", "--distribution", "zipf", "--duplicates", "0.02",
                       "--invalid", "0.02", "--seed", "9", "--transfers-per-file", "7000", "--csv", "--out", directory.path + "/csv"])
        let binaryFiles = ["accounts.wbatch", "transfers-000001.wbatch", "transfers-000002.wbatch", "transfers-000003.wbatch"].map { directory.path + "/bin/" + $0 }
        let csvFiles = ["accounts.csv", "transfers-000001.csv", "transfers-000002.csv", "transfers-000003.csv"].map { directory.path + "/csv/" + $0 }
        var outcomes: [[String: Int]] = []
        for (name, files) in [("b", binaryFiles), ("c", csvFiles)] {
            let data = directory.path + "/data-" + name
            try Wallet.ok(["format", "--data", data])
            let report = try Wallet.json(try Wallet.ok(["ingest", "--data", data, "--json"] + files))
            XCTAssertEqual(report["transfers"] as? Int, 20_000)
            outcomes.append(try XCTUnwrap(report["transfer_results"] as? [String: Int]))
            XCTAssertEqual(try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))["ok"] as? Bool, true)
        }
        XCTAssertEqual(outcomes[0], outcomes[1])
        for id in ["1", "2", "77", "200"] {
            let fromBinary = try Wallet.json(try Wallet.ok(["balance", "--data", directory.path + "/data-b", "--json", id]))
            let fromCSV = try Wallet.json(try Wallet.ok(["balance", "--data", directory.path + "/data-c", "--json", id]))
            XCTAssertEqual(fromBinary["balance"] as? String, fromCSV["balance"] as? String, "account \(id)")
        }
    }

    // MARK: Bad input: a clear error naming the file and where, a non-zero exit, nothing changed.

    private func preparedDataDirectory(_ directory: TemporaryDirectory) throws -> (data: String, digest: String) {
        let data = directory.path + "/data"
        try Wallet.ok(["format", "--data", data])
        try Wallet.ok(["ingest", "--data", data, sampleAccounts, sampleTransfers])
        let verify = try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))
        return (data, try XCTUnwrap(verify["digest"] as? String))
    }

    private func assertRejected(_ data: String, files: [String], digest: String, mentions fragments: [String],
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let output = try Wallet.run(["ingest", "--data", data] + files)
        XCTAssertNotEqual(output.status, 0, "accepted bad input", file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(output.stderr.contains(fragment), "'\(output.stderr)' lacks '\(fragment)'", file: file, line: line)
        }
        let verify = try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json"]))
        XCTAssertEqual(verify["digest"] as? String, digest, "state changed", file: file, line: line)
        XCTAssertEqual(verify["ok"] as? Bool, true, file: file, line: line)
    }

    func testMalformedCSVLine() throws {
        let directory = TemporaryDirectory()
        let (data, digest) = try preparedDataDirectory(directory)
        let good = directory.path + "/good.csv"
        let bad = directory.path + "/bad.csv"
        try "transaction_id,from_account,to_account,amount,currency\n9001,1,2,5,USD\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "transaction_id,from_account,to_account,amount,currency\n9002,1,2,5,USD\n9003,1,2,12.50,USD\n".write(toFile: bad, atomically: true, encoding: .utf8)
        try assertRejected(data, files: [good, bad], digest: digest, mentions: [bad, "line 3", "12.50"])
    }

    func testAmountThatDoesNotFit() throws {
        let directory = TemporaryDirectory()
        let (data, digest) = try preparedDataDirectory(directory)
        let bad = directory.path + "/huge.csv"
        try "transaction_id,from_account,to_account,amount,currency\n9002,1,2,999999999999999999999999999999999999999999,USD\n".write(toFile: bad, atomically: true, encoding: .utf8)
        try assertRejected(data, files: [bad], digest: digest, mentions: [bad, "line 2", "does not fit"])
    }

    private func generatedBatchFile(_ directory: TemporaryDirectory) throws -> (path: String, bytes: [UInt8]) {
        try Wallet.ok(["gen", "--accounts", "10", "--transfers", "300", "--batch-size", "100", "--seed", "3", "--out", directory.path + "/gen"])
        let path = directory.path + "/gen/transfers-000001.wbatch"
        return (path, try Array(Data(contentsOf: URL(fileURLWithPath: path))))
    }

    func testCorruptBatchFile() throws {
        let directory = TemporaryDirectory()
        let (data, digest) = try preparedDataDirectory(directory)
        var (path, bytes) = try generatedBatchFile(directory)
        let secondBatch = 128 + 100 * 128
        bytes[secondBatch + 128 + 77] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try assertRejected(data, files: [path], digest: digest, mentions: [path, "offset \(secondBatch)", "body checksum"])
    }

    func testTruncatedBatchFile() throws {
        let directory = TemporaryDirectory()
        let (data, digest) = try preparedDataDirectory(directory)
        let (path, bytes) = try generatedBatchFile(directory)
        try Data(bytes.dropLast(300)).write(to: URL(fileURLWithPath: path))
        try assertRejected(data, files: [path], digest: digest, mentions: [path, "offset \(2 * (128 + 100 * 128))", "truncated"])
    }

    private func rewriteFirstHeader(_ bytes: inout [UInt8], _ change: (inout BatchHeader) -> Void) {
        var header = bytes.withUnsafeBytes { $0.loadUnaligned(as: BatchHeader.self) }
        change(&header)
        header.headerChecksum = header.computeHeaderChecksum()
        withUnsafeBytes(of: header) { bytes.replaceSubrange(0..<128, with: $0) }
    }

    func testUnknownRecordKind() throws {
        let directory = TemporaryDirectory()
        let (data, digest) = try preparedDataDirectory(directory)
        var (path, bytes) = try generatedBatchFile(directory)
        rewriteFirstHeader(&bytes) { $0.recordKindRaw = 7 }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try assertRejected(data, files: [path], digest: digest, mentions: [path, "offset 0", "unknown record kind 7"])
    }

    func testOversizeBatch() throws {
        let directory = TemporaryDirectory()
        let (data, digest) = try preparedDataDirectory(directory)
        var (path, bytes) = try generatedBatchFile(directory)
        rewriteFirstHeader(&bytes) {
            $0.recordCount = 9_000
            $0.bodySizeBytes = 9_000 * 128
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try assertRejected(data, files: [path], digest: digest, mentions: [path, "oversize batch", "batch_records_max"])
    }

    func testMissingFileAndUnformattedDirectory() throws {
        let directory = TemporaryDirectory()
        let (data, digest) = try preparedDataDirectory(directory)
        try assertRejected(data, files: [directory.path + "/nope.csv"], digest: digest, mentions: ["nope.csv", "cannot read"])
        let output = try Wallet.run(["balance", "--data", directory.path + "/empty", "1"])
        XCTAssertEqual(output.status, 1)
        XCTAssertTrue(output.stderr.contains("not a data directory"))
        XCTAssertEqual(try Wallet.run(["balance", "--data", data, "12345"]).status, 1)
        XCTAssertEqual(try Wallet.run(["format", "--data", data]).status, 1)
    }

    func testVerifyFailsWhenTheLiveDigestDisagrees() throws {
        let directory = TemporaryDirectory()
        let (data, _) = try preparedDataDirectory(directory)
        // Forge the recorded live digest: one byte of the digest changed, checksum resealed.
        let path = data + "/state-digest"
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[40] ^= 0x01
        let checksum = bytes.withUnsafeBytes { Checksum.crc32c(UnsafeRawBufferPointer(rebasing: $0[4..<128])) }
        withUnsafeBytes(of: checksum.littleEndian) { bytes.replaceSubrange(0..<4, with: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let output = try Wallet.run(["verify", "--data", data])
        XCTAssertEqual(output.status, 2)
        XCTAssertTrue(output.stdout.contains("state digest mismatch"), output.stdout)
        XCTAssertTrue(output.stdout.contains("verify: FAILED"))
    }

    func testVerifyRefusesACorruptLog() throws {
        let directory = TemporaryDirectory()
        let (data, _) = try preparedDataDirectory(directory)
        try Wallet.ok(["ingest", "--data", data, sampleTransfers])  // a second batch after the first ones
        let segment = data + "/log/segment-0000000001.wlog"
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: segment))
        try handle.seek(toOffset: 4096 + 128 + 5)
        try handle.write(contentsOf: Data([0xEE]))
        try handle.close()
        let output = try Wallet.run(["verify", "--data", data])
        XCTAssertEqual(output.status, 2)
        XCTAssertTrue(output.stdout.contains("FAIL: log corruption") && output.stdout.contains("op 1"), output.stdout)
        XCTAssertTrue(output.stdout.contains("verify: FAILED"), output.stdout)
    }
}
