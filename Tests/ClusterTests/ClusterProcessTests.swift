// Three replica processes on 127.0.0.1: ingest through the client, agree on the state, answer reads.
import Cluster
import Foundation
import LedgerCore
import TestSupport
import XCTest

final class ClusterProcessTests: XCTestCase {
    func testThreeReplicasIngestTheSampleAndAgree() throws {
        let directory = TemporaryDirectory()
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path, replicaCount: 3, clusterId: 7, segmentSizeMib: 16)
        defer { cluster.stopAll() }
        try cluster.startAll()
        _ = try cluster.waitForLeader()

        let data = WalletBinary.repositoryRoot.appendingPathComponent("data").path
        let ingest = try WalletBinary.run(["ingest", "--addresses", cluster.addressList, "--cluster", "7", "--key-file", cluster.keyFile, "--json",
                                           data + "/accounts.csv", data + "/transfers.csv"])
        XCTAssertEqual(ingest.status, 0)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(ingest.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(report["accounts"] as? Int, 17)
        XCTAssertEqual((report["account_results"] as? [String: Int])?["ok"], 17)
        // Under load a leadership change can leave an attempt's outcome unknown; its retry then
        // answers `exists` for records that attempt applied (reported ok). Redirects never do.
        let existsOnRetry = try XCTUnwrap(report["exists_on_retry"] as? Int)
        let ambiguousRequests = try XCTUnwrap(report["ambiguous_requests"] as? Int)
        XCTAssertTrue(existsOnRetry == 0 || ambiguousRequests > 0, "\(existsOnRetry) records answered exists on a retry, yet no attempt's outcome was unknown")

        let statuses = try cluster.waitUntilConverged()
        XCTAssertEqual(Set(statuses.map(\.digest)).count, 1)
        XCTAssertEqual(statuses.filter { $0.role == "leader" }.count, 1)
        XCTAssertEqual(statuses[0].accountsCount, 17)

        // The same answer from a single node fed the same files: replication changes nothing.
        let single = directory.path + "/single"
        XCTAssertEqual(try WalletBinary.run(["format", "--data", single, "--cluster", "7"]).status, 0)
        XCTAssertEqual(try WalletBinary.run(["ingest", "--data", single, data + "/accounts.csv", data + "/transfers.csv"]).status, 0)
        for account in ["1", "2", "101"] {
            let viaCluster = try WalletBinary.run(["balance", "--addresses", cluster.addressList, "--cluster", "7", "--key-file", cluster.keyFile, "--json", account])
            let local = try WalletBinary.run(["balance", "--data", single, "--json", account])
            XCTAssertEqual(viaCluster.status, 0)
            let clusterObject = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(viaCluster.stdout.utf8)) as? [String: Any])
            let localObject = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(local.stdout.utf8)) as? [String: Any])
            for key in ["balance", "debits_posted", "credits_posted", "debits_pending", "credits_pending"] {
                XCTAssertEqual(clusterObject[key] as? String, localObject[key] as? String, "account \(account) \(key)")
            }
        }

        let status = try WalletBinary.run(["status", "--addresses", cluster.addressList, "--cluster", "7", "--key-file", cluster.keyFile, "--json"])
        XCTAssertEqual(status.status, 0)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let replicas = try XCTUnwrap(object["replicas"] as? [[String: Any]])
        XCTAssertEqual(replicas.count, 3)
        for replica in replicas {
            for key in ["role", "term", "commit_op", "applied_op", "digest"] { XCTAssertNotNil(replica[key], key) }
        }
    }

    /// A retried request (same ids) after its first attempt was applied answers `exists`, which the
    /// client reports as `ok`; the ledger holds each transfer once.
    func testRetryOfAnAppliedRequestAppliesNothingTwice() throws {
        let directory = TemporaryDirectory()
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path, replicaCount: 3, clusterId: 9, segmentSizeMib: 16)
        defer { cluster.stopAll() }
        try cluster.startAll()
        _ = try cluster.waitForLeader()
        let client = ClusterClient(addresses: cluster.addresses, clusterId: 9, key: cluster.key)
        defer { client.close() }
        let accounts = [Account(id: 1, ledger: 1), Account(id: 2, ledger: 1)]
        let created = try accounts.withUnsafeBytes { try client.submit(kind: .accounts, records: $0) }
        XCTAssertEqual(created.results, [0, 0])
        let transfers = (1...100).map { Transfer(id: UInt128($0), debitAccountId: 1, creditAccountId: 2, amount: UInt128($0), ledger: 1) }
        let first = try transfers.withUnsafeBytes { try client.submit(kind: .transfers, records: $0) }
        XCTAssertEqual(Set(first.results), [TransferResult.ok.rawValue])
        // The same request again, as a client whose reply was lost would send it.
        let again = try transfers.withUnsafeBytes { try client.submit(kind: .transfers, records: $0) }
        XCTAssertEqual(Set(again.results), [TransferResult.exists.rawValue], "a plain resend is told the ids exist")
        let (found, _) = try client.lookupAccounts([1, 2, 3])
        XCTAssertEqual(found[0]?.debitsPosted, 5050)
        XCTAssertEqual(found[1]?.creditsPosted, 5050)
        XCTAssertNil(found[2])

        // The reserved ids over the binary protocol: found nowhere (a look-up of 0 once answered
        // with account 1's balances), and the CLI refuses them before asking.
        let (reserved, _) = try client.lookupAccounts([0, .max, 1])
        XCTAssertNil(reserved[0])
        XCTAssertNil(reserved[1])
        XCTAssertEqual(reserved[2]?.debitsPosted, 5050)
        let refused = try WalletBinary.run(["balance", "--addresses", cluster.addressList, "--cluster", "9", "--key-file", cluster.keyFile, "0"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("account id 0 is reserved"), refused.stderr)
    }
}
