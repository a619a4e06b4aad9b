// TLS on the replica port: a 3-replica cluster whose every connection is TLS (replica to replica,
// client to replica), a plain or wrongly trusting client refused, and the replicas agreeing.
@testable import Cluster
import Foundation
import LedgerCore
import TestSupport
import XCTest

final class TLSTests: XCTestCase {
    func testAClusterServesOverTLSAndRefusesWhatIsNotTLSToItsCA() throws {
        let directory = TemporaryDirectory()
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path + "/cluster", replicaCount: 3, clusterId: 71, segmentSizeMib: 16)
        cluster.tls = try LocalCertificates.make(in: directory.path + "/tls")
        defer { cluster.stopAll() }
        try cluster.startAll()
        _ = try cluster.waitForLeader()
        let client = ClusterClient(addresses: cluster.addresses, clusterId: 71, key: cluster.key, tls: cluster.clientTLS)
        defer { client.close() }
        XCTAssertEqual(try [Account(id: 1, ledger: 1), Account(id: 2, ledger: 1)].withUnsafeBytes { try client.submit(kind: .accounts, records: $0) }.results, [0, 0])
        let transfers = (1...50).map { Transfer(id: UInt128($0), debitAccountId: 1, creditAccountId: 2, amount: 2, ledger: 1) }
        XCTAssertEqual(Set(try transfers.withUnsafeBytes { try client.submit(kind: .transfers, records: $0) }.results), [TransferResult.ok.rawValue])
        let statuses = try cluster.waitUntilConverged()
        XCTAssertEqual(Set(statuses.map(\.digest)).count, 1, "replicas replicate over TLS and agree")
        XCTAssertEqual(statuses.first?.transfersCount, 50)

        // A client speaking plain TCP to a TLS port, and one trusting another CA: neither gets in.
        var policy = RetryPolicy()
        policy.deadlineMs = 1_500
        policy.requestTimeoutMs = 500
        let plain = ClusterClient(addresses: cluster.addresses, clusterId: 71, key: cluster.key, policy: policy)
        defer { plain.close() }
        XCTAssertThrowsError(try plain.status(ofReplica: 0))
        let otherCA = try LocalCertificates.make(in: directory.path + "/other")
        let distrusting = ClusterClient(addresses: cluster.addresses, clusterId: 71, key: cluster.key, policy: policy, tls: try ClientTLS(caPath: otherCA.caPath))
        defer { distrusting.close() }
        XCTAssertThrowsError(try distrusting.status(ofReplica: 0)) { error in
            XCTAssertTrue("\(error)".contains("TLS") || "\(error)".contains("certificate"), "\(error)")
        }
        // The CLI over TLS.
        let status = try WalletBinary.run(["status", "--addresses", cluster.addressList, "--cluster", "71", "--key-file", cluster.keyFile,
                                           "--tls-ca", cluster.tls!.caPath, "--json"])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("\"role\":\"leader\""), status.stdout)
        for replica in 0..<3 { XCTAssertTrue(cluster.isRunning(replica)) }
    }
}
