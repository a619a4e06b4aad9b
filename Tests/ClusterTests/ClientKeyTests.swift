// Client keys through the real binary: `wallet client-key` makes them, replicas take --client-keys,
// a read-only key looks up but never submits, a write key submits, an unknown key gets nowhere.
@testable import Cluster
import Foundation
import LedgerCore
import TestSupport
import XCTest

final class ClientKeyTests: XCTestCase {
    func testReadKeysReadWriteKeysWriteUnknownKeysAreRefused() throws {
        let directory = TemporaryDirectory()
        var lines = ""
        for (id, read) in [("dashboard", true), ("payments", false)] {
            let made = try WalletBinary.run(["client-key", "--id", id, "--out", directory.path + "/\(id).key"] + (read ? ["--read"] : []))
            XCTAssertEqual(made.status, 0, made.stderr)
            lines += made.stdout.split(separator: "\n").last.map { String($0) + "\n" } ?? ""
        }
        XCTAssertNotEqual(try WalletBinary.run(["client-key", "--id", "payments", "--out", directory.path + "/payments.key"]).status, 0, "never overwritten")
        let keysFile = directory.path + "/client-keys"
        try lines.write(toFile: keysFile, atomically: true, encoding: .utf8)
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path + "/cluster", replicaCount: 1, clusterId: 73, segmentSizeMib: 16)
        cluster.startArguments = ["--client-keys", keysFile]
        defer { cluster.stopAll() }
        try cluster.startAll()
        _ = try cluster.waitForLeader()

        let reader = ClusterClient(addresses: cluster.addresses, clusterId: 73, key: try SecretKey.read(path: directory.path + "/dashboard.key"))
        defer { reader.close() }
        let writer = ClusterClient(addresses: cluster.addresses, clusterId: 73, key: try SecretKey.read(path: directory.path + "/payments.key"))
        defer { writer.close() }
        let accounts = [Account(id: 1, ledger: 1)]
        XCTAssertThrowsError(try accounts.withUnsafeBytes { try reader.submit(kind: .accounts, records: $0) }) { error in
            XCTAssertTrue("\(error)".contains("forbidden: this client key may only read"), "\(error)")
        }
        XCTAssertEqual(try accounts.withUnsafeBytes { try writer.submit(kind: .accounts, records: $0) }.results, [0])
        XCTAssertEqual(try reader.lookupAccounts([1]).accounts.first??.id, 1)
        XCTAssertEqual(try reader.status(ofReplica: 0).role, "leader")

        // A key the replica was not given: refused at the handshake, plainly.
        let stranger = try SecretKey.random(id: "stranger")
        var policy = RetryPolicy()
        policy.deadlineMs = 2_000
        let unknown = ClusterClient(addresses: cluster.addresses, clusterId: 73, key: stranger, policy: policy)
        defer { unknown.close() }
        XCTAssertThrowsError(try unknown.status(ofReplica: 0)) { XCTAssertTrue("\($0)".contains("unknown client key 'stranger'"), "\($0)") }
        // The CLI with the wrong --cluster is told which cluster it reached.
        let wrong = try WalletBinary.run(["status", "--addresses", cluster.addressList, "--cluster", "5", "--key-file", directory.path + "/dashboard.key"])
        XCTAssertTrue((wrong.stdout + wrong.stderr).contains("this is cluster 73"), wrong.stdout + wrong.stderr)
        // And without a key at all it says what to give.
        let keyless = try WalletBinary.run(["status", "--addresses", cluster.addressList, "--cluster", "73"])
        XCTAssertNotEqual(keyless.status, 0)
        XCTAssertTrue(keyless.stderr.contains("--key-file"), keyless.stderr)
    }
}
