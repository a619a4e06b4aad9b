// Client commands against a cluster that does not answer, or is another cluster: they give up
// after --timeout-ms with the addresses tried and why, never hang.
@testable import Cluster
import Foundation
import TestSupport
import XCTest

final class ClientCommandTimeoutTests: XCTestCase {
    /// Nothing listens at the address: balance and ingest say what they wait for, then fail
    /// naming the address and "Connection refused" once --timeout-ms passes without an answer.
    func testNothingListeningFailsAfterTheTimeoutNamingTheAddress() throws {
        let directory = TemporaryDirectory()
        let keyFile = directory.path + "/client.key"
        let made = try WalletBinary.run(["client-key", "--id", "9", "--out", keyFile])
        XCTAssertEqual(made.status, 0, made.stderr)
        let port = try XCTUnwrap(LocalCluster.freePorts(1).first)  // bound then closed: nothing listens
        let address = "127.0.0.1:\(port)"
        let accounts = WalletBinary.repositoryRoot.appendingPathComponent("data/accounts.csv").path
        for (arguments, timeoutMs) in [(["balance", "1"], 1_500), (["ingest", accounts], 4_500)] {
            let started = Date()
            let output = try WalletBinary.run(arguments + ["--addresses", address, "--cluster", "7", "--key-file", keyFile, "--timeout-ms", String(timeoutMs)])
            let elapsedS = Date().timeIntervalSince(started)
            XCTAssertEqual(output.status, 1, "\(arguments): \(output.stderr)")
            XCTAssertTrue(output.stderr.contains("no replica answered"), output.stderr)
            XCTAssertTrue(output.stderr.contains("\(address): connect: Connection refused"), output.stderr)
            XCTAssertGreaterThanOrEqual(elapsedS, Double(timeoutMs) / 1000 - 0.1, "gave up before --timeout-ms")
            XCTAssertLessThan(elapsedS, 60, "a bound on the hang, not a timing test")
            if timeoutMs > 4_000 { XCTAssertTrue(output.stderr.contains("wallet: waiting: no replica has answered"), output.stderr) }
        }
        let badTimeout = try WalletBinary.run(["balance", "1", "--addresses", address, "--key-file", keyFile, "--timeout-ms", "0"])
        XCTAssertEqual(badTimeout.status, 1)
        XCTAssertTrue(badTimeout.stderr.contains("--timeout-ms 0 is outside"), badTimeout.stderr)
    }

    /// The wrong --cluster: refused at the handshake, named at once, no retries.
    func testTheWrongClusterIsNamedAtOnce() throws {
        let directory = TemporaryDirectory()
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path + "/cluster", replicaCount: 1, clusterId: 73, segmentSizeMib: 16)
        defer { cluster.stopAll() }
        try cluster.startAll()
        _ = try cluster.waitForLeader()
        let accounts = WalletBinary.repositoryRoot.appendingPathComponent("data/accounts.csv").path
        for arguments in [["balance", "1"], ["ingest", accounts]] {
            let output = try WalletBinary.run(arguments + ["--addresses", cluster.addressList, "--cluster", "5", "--key-file", cluster.keyFile])
            XCTAssertEqual(output.status, 1, "\(arguments): \(output.stderr)")
            XCTAssertTrue(output.stderr.contains("this is cluster 73, not 5: pass --cluster 73"), "\(arguments): \(output.stderr)")
            XCTAssertFalse(output.stderr.contains("waiting"), output.stderr)
        }
    }
}
