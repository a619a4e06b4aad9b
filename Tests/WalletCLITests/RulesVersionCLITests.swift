// `wallet verify --with-current-rules`: the rules version each batch records, checked against this build's.
import Foundation
import LedgerCore
import Replica
import Storage
import TestSupport
import XCTest

final class RulesVersionCLITests: XCTestCase {
    private var sample: [String] {
        ["data/accounts.csv", "data/transfers.csv"].map { Wallet.repositoryRoot.appendingPathComponent($0).path }
    }

    func testCurrentRulesReplayReportsTheVersionsAndRefusesUnknownOnes() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        try Wallet.ok(["format", "--data", data])
        try Wallet.ok(["ingest", "--data", data] + sample)
        let report = try Wallet.json(try Wallet.ok(["verify", "--data", data, "--json", "--with-current-rules"]))
        XCTAssertEqual(report["ok"] as? Bool, true)
        XCTAssertEqual(report["rules_version_current"] as? Int, Int(Ledger.rulesVersion))
        let versions = try XCTUnwrap(report["rules_versions"] as? [String: [String: Int]])
        XCTAssertEqual(versions, ["\(Ledger.rulesVersion)": ["batches": 2, "first_op": 1, "last_op": 2]])
        XCTAssertEqual((report["rules_differences"] as? [Any])?.count, 0)

        // A batch stamped with rules this build does not carry (a newer build wrote it): named, exit 2.
        do {
            let node = try LocalNode(path: data)
            let buffer = BatchBuffer(recordKind: .transfers)
            buffer.append(Transfer(id: 777_000, debitAccountId: 1, creditAccountId: 2, amount: 5, ledger: CurrencyCode.parse("USD")!))
            let batch = buffer.seal(clusterId: node.log.clusterId, term: 1, op: node.log.lastOp + 1, timestampNs: node.log.lastRecordTimestampNs + 1,
                                    previousHeaderHash: node.log.lastHeaderHash, rulesVersion: Ledger.rulesVersion + 6, durableOp: node.log.durableOp)
            let stored = try node.log.append(batch)
            try node.log.sync()
            let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 1)
            defer { results.deallocate() }
            node.ledger.apply(stored, results: results)
            try node.recordCheckpoint()
        }
        let failed = try Wallet.run(["verify", "--data", data, "--json", "--with-current-rules"])
        XCTAssertEqual(failed.status, 2)
        let problems = try XCTUnwrap((try Wallet.json(failed))["problems"] as? [String])
        XCTAssertTrue(problems.contains { $0.contains("ops 3...3") && $0.contains("rules version \(Ledger.rulesVersion + 6)") }, "\(problems)")
        // Without the flag the replay itself still verifies.
        XCTAssertEqual(try Wallet.run(["verify", "--data", data]).status, 0)
    }
}
