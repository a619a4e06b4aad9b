// The REST API inside replica processes: writes through any replica, reads from each, linearizable reads.
import Cluster
import Foundation
import TestSupport
import XCTest

final class ReplicaHTTPTests: XCTestCase {
    /// The `http://127.0.0.1:PORT` each replica printed when its API started listening.
    private func apiURLs(_ cluster: LocalCluster) throws -> [String] {
        let deadline = Date(timeIntervalSinceNow: 20)
        var urls: [String?] = Array(repeating: nil, count: cluster.addresses.count)
        while urls.contains(where: { $0 == nil }) && Date() < deadline {
            for replica in urls.indices where urls[replica] == nil {
                let log = (try? String(contentsOfFile: cluster.logPath(replica), encoding: .utf8)) ?? ""
                if let range = log.range(of: #"REST API on http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                    urls[replica] = String(log[range].dropFirst("REST API on ".count))
                }
            }
            usleep(50_000)
        }
        return try urls.map { try XCTUnwrap($0, "a replica never started its API") }
    }

    func testWritesThroughAFollowerAndReadsFromEveryReplica() throws {
        let directory = TemporaryDirectory()
        let walletPath = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wallet").path
        let cluster = try LocalCluster(walletPath: walletPath, root: directory.path, replicaCount: 3, clusterId: 21, segmentSizeMib: 4)
        cluster.startArguments = ["--http", "127.0.0.1:0", "--snapshot-interval-transfers", "0"]
        defer { cluster.stopAll() }
        try cluster.startAll()
        let leader = try cluster.waitForLeader()
        let urls = try apiURLs(cluster)
        let follower = (leader + 1) % 3
        let other = (leader + 2) % 3

        for id in ["1", "2"] {
            let created = try httpRequest(baseURL: urls[follower], "POST", "/v1/wallet/accounts", body: #"{"account_id":"\#(id)","currency":"EUR"}"#)
            XCTAssertEqual(created.status, 201, created.text)
        }
        let body = #"{"from_account":"1","to_account":"2","amount":"7.50","currency":"EUR","transaction_id":"3b2f0e7c-1a01-4f4e-9a51-8d9b2c2e6c0e"}"#
        let first = try httpRequest(baseURL: urls[follower], "POST", "/v1/wallet/balance_transfer", body: body)
        XCTAssertEqual(first.status, 201, first.text)
        let op = try XCTUnwrap(first.json["op"] as? Int)
        // The follower answered only after applying it itself: its own read shows it at once.
        let local = try httpRequest(baseURL: urls[follower], "GET", "/v1/wallet/accounts/2")
        XCTAssertEqual(local.json["balance"] as? String, "7.50")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(local.json["op"] as? Int), op)
        // Another replica: the transfer, and the account, through the leader's read index at once.
        let transferRead = try httpRequest(baseURL: urls[other], "GET", "/v1/wallet/transfers/3b2f0e7c-1a01-4f4e-9a51-8d9b2c2e6c0e?consistency=linearizable")
        XCTAssertEqual(transferRead.status, 200, transferRead.text)
        XCTAssertEqual(transferRead.json["consistency"] as? String, "linearizable")
        XCTAssertEqual(try XCTUnwrap(transferRead.json["op"] as? Int), op, "the op that applied it")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(transferRead.json["as_of_op"] as? Int), op)
        XCTAssertEqual(transferRead.json["amount"] as? String, "7.50")

        XCTAssertEqual(try httpRequest(baseURL: urls[other], "GET", "/v1/wallet/transfers/3b2f0e7c-1a01-4f4e-9a51-8d9b2c2e6c0e?consistency=eventual").status, 400)
        let linearizable = try httpRequest(baseURL: urls[other], "GET", "/v1/wallet/accounts/2?consistency=linearizable")
        XCTAssertEqual(linearizable.status, 200, linearizable.text)
        XCTAssertEqual(linearizable.json["balance"] as? String, "7.50")
        XCTAssertEqual(linearizable.json["consistency"] as? String, "linearizable")
        let deadline = Date(timeIntervalSinceNow: 5)
        var applied = try httpRequest(baseURL: urls[other], "GET", "/v1/wallet/accounts/2")
        while applied.json["balance"] as? String != "7.50" && Date() < deadline {
            usleep(20_000)
            applied = try httpRequest(baseURL: urls[other], "GET", "/v1/wallet/accounts/2")
        }
        XCTAssertEqual(applied.json["balance"] as? String, "7.50", "bounded staleness: the replica applies what was committed")
        // The past, from that replica's own balance history (fed by the batches it applied).
        let before = try httpRequest(baseURL: urls[other], "GET", "/v1/wallet/accounts/2?at_op=\(op - 1)")
        XCTAssertEqual(before.json["balance"] as? String, "0.00", before.text)
        XCTAssertEqual(before.json["source"] as? String, "balance_history")
        let after = try httpRequest(baseURL: urls[other], "GET", "/v1/wallet/accounts/2?at_op=\(op)")
        XCTAssertEqual(after.json["balance"] as? String, "7.50", after.text)
        XCTAssertEqual(after.json["source"] as? String, "balance_history")

        // A retry through the leader: the first outcome, nothing moves twice.
        let retry = try httpRequest(baseURL: urls[leader], "POST", "/v1/wallet/balance_transfer", body: body)
        XCTAssertEqual(retry.status, 200, retry.text)
        XCTAssertEqual(retry.json["replayed"] as? Bool, true)
        XCTAssertEqual(retry.json["transfer_id"] as? String, first.json["transfer_id"] as? String)
        XCTAssertEqual(retry.json["op"] as? Int, op, "a retry names the op that applied the transfer")
        XCTAssertEqual(try httpRequest(baseURL: urls[leader], "GET", "/v1/wallet/accounts/2?consistency=linearizable").json["balance"] as? String, "7.50")
        XCTAssertEqual(try httpRequest(baseURL: urls[other], "GET", "/v1/wallet/transfers/3b2f0e7c-1a01-4f4e-9a51-8d9b2c2e6c0e").status, 200)

        // Each replica's metrics name its own role.
        XCTAssertTrue(try httpRequest(baseURL: urls[leader], "GET", "/metrics").text.contains("wallet_replica_role{role=\"leader\"} 1"))
        XCTAssertTrue(try httpRequest(baseURL: urls[follower], "GET", "/metrics").text.contains("wallet_replica_role{role=\"follower\"} 1"))

        // A change written through one replica reaches an event stream on another.
        let port = Int(urls[other].split(separator: ":").last!)!
        let stream = try EventStreamReader(port: port, path: "/v1/wallet/accounts/2/events")
        defer { stream.close() }
        XCTAssertEqual(stream.waitForEvents(1).count, 1)
        let second = try httpRequest(baseURL: urls[follower], "POST", "/v1/wallet/balance_transfer",
                                     body: #"{"from_account":"1","to_account":"2","amount":"0.50","currency":"EUR","transaction_id":"99"}"#)
        XCTAssertEqual(second.status, 201)
        let events = stream.waitForEvents(2)
        XCTAssertEqual(events.count, 2)
        XCTAssertEqual(EventStreamReader.data(events.last?.block ?? "")["balance"] as? String, "8.00")

        // Many clients at once through a follower: grouped into a few cluster requests, all answered.
        let statuses = StatusList()
        DispatchQueue.concurrentPerform(iterations: 64) { index in
            let answer = try? httpRequest(baseURL: urls[follower], "POST", "/v1/wallet/balance_transfer",
                                          body: #"{"from_account":"1","to_account":"2","amount":"0.01","currency":"EUR","transaction_id":"\#(5000 + index)"}"#)
            statuses.append(answer?.status ?? 0)
        }
        XCTAssertEqual(statuses.all.filter { $0 == 201 }.count, 64, "\(statuses.all)")
        XCTAssertEqual(try httpRequest(baseURL: urls[follower], "GET", "/v1/wallet/accounts/2").json["balance"] as? String, "8.64")
        XCTAssertEqual(Set(try cluster.waitUntilConvergedDigests()).count, 1)
    }
}

extension LocalCluster {
    /// The state digests of all replicas once they report the same applied op (at most 20 s).
    func waitUntilConvergedDigests() throws -> [String] {
        let deadline = Date(timeIntervalSinceNow: 20)
        var policy = RetryPolicy()
        policy.requestTimeoutMs = 2_000
        while Date() < deadline {
            let client = ClusterClient(addresses: addresses, clusterId: clusterId, key: key, policy: policy, tls: clientTLS)
            let statuses = addresses.indices.compactMap { try? client.status(ofReplica: $0) }
            client.close()
            if statuses.count == addresses.count, Set(statuses.map(\.appliedOp)).count == 1 { return statuses.map { $0.digest.description } }
            usleep(100_000)
        }
        XCTFail("replicas did not converge")
        return []
    }
}
