// The REST API end to end: a real server process, a real HTTP client, real files.
import Foundation
import HTTPShim
import TestSupport
import XCTest

final class WalletAPITests: XCTestCase {
    private func transfer(_ from: String, _ to: String, _ amount: String, id: String, currency: String = "USD") -> String {
        #"{"from_account":"\#(from)","to_account":"\#(to)","amount":"\#(amount)","currency":"\#(currency)","transaction_id":"\#(id)"}"#
    }

    func testAccountsTransfersAndAnIdempotentRetry() throws {
        let directory = TemporaryDirectory()
        // A snapshot after every 50 transfers: the compactor runs during the concurrent burst below.
        let server = try ServeProcess(data: directory.path + "/data", arguments: ["--snapshot-interval-transfers", "50"])
        XCTAssertEqual(try server.request("GET", "/healthz").status, 200)
        for (id, flags) in [("1", ""), ("2", #","flags":["debits_must_not_exceed_credits"]"#)] {
            let created = try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"\#(id)","currency":"USD"\#(flags)}"#)
            XCTAssertEqual(created.status, 201, created.text)
        }
        XCTAssertEqual(try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"1","currency":"USD"}"#).status, 200, "the same account again")
        let conflict = try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"1","currency":"EUR"}"#)
        XCTAssertEqual(conflict.status, 409)
        XCTAssertEqual(conflict.json["type"] as? String, "urn:wallet:problem:account-exists")

        // 12.34 USD is 1234 cents; a retry with the same transaction_id moves nothing twice.
        let uuid = "5f0c6a8e-6f3b-4a51-9c55-0d7a1f2b3c4d"
        let first = try server.request("POST", "/v1/wallet/balance_transfer", body: transfer("1", "2", "12.34", id: uuid))
        XCTAssertEqual(first.status, 201, first.text)
        XCTAssertEqual(first.json["amount"] as? String, "12.34")
        XCTAssertEqual(first.json["replayed"] as? Bool, false)
        let retry = try server.request("POST", "/v1/wallet/balance_transfer", body: transfer("1", "2", "12.34", id: uuid))
        XCTAssertEqual(retry.status, 200)
        XCTAssertEqual(retry.json["replayed"] as? Bool, true)
        XCTAssertEqual(retry.json["transfer_id"] as? String, first.json["transfer_id"] as? String)
        XCTAssertEqual(retry.json["timestamp_ns"] as? Int, first.json["timestamp_ns"] as? Int, "the first outcome, not a second transfer")
        let reused = try server.request("POST", "/v1/wallet/balance_transfer", body: transfer("1", "2", "99.00", id: uuid))
        XCTAssertEqual(reused.status, 409)
        XCTAssertEqual(reused.json["result"] as? String, "exists_with_different_fields")

        let account = try server.request("GET", "/v1/wallet/accounts/2")
        XCTAssertEqual(account.status, 200)
        XCTAssertEqual(account.json["balance"] as? String, "12.34")
        XCTAssertEqual(account.json["credits_posted"] as? String, "12.34")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(account.json["op"] as? Int), try XCTUnwrap(first.json["op"] as? Int), "a read says the op it reflects")
        let stored = try server.request("GET", "/v1/wallet/transfers/" + uuid)
        XCTAssertEqual(stored.status, 200)
        XCTAssertEqual(stored.json["result"] as? String, "ok")
        XCTAssertEqual(try server.request("GET", "/v1/wallet/transfers/12345").status, 404)
        let linearizable = try server.request("GET", "/v1/wallet/transfers/" + uuid + "?consistency=linearizable")
        XCTAssertEqual(linearizable.json["consistency"] as? String, "linearizable")
        XCTAssertEqual(linearizable.json["transfer_id"] as? String, stored.json["transfer_id"] as? String)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/transfers/" + uuid + "?colour=red").status, 400)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/77").status, 404)

        // A refusal by the ledger is a 422 with its result code, and a retry answers the same.
        let overdraft = try server.request("POST", "/v1/wallet/balance_transfer", body: transfer("2", "1", "20.00", id: "77"))
        XCTAssertEqual(overdraft.status, 422)
        XCTAssertEqual(overdraft.json["result"] as? String, "exceeds_credits")
        XCTAssertEqual(overdraft.headers["content-type"], "application/problem+json")
        let overdraftAgain = try server.request("POST", "/v1/wallet/balance_transfer", body: transfer("2", "1", "20.00", id: "77"))
        XCTAssertEqual(overdraftAgain.json["result"] as? String, "exceeds_credits")
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/2").json["balance"] as? String, "12.34", "nothing moved")

        // Many clients at once: every request answered, grouped into fewer batches than requests.
        let opBefore = try XCTUnwrap(try server.request("GET", "/readyz").json["op"] as? Int)
        let statuses = StatusList()
        DispatchQueue.concurrentPerform(iterations: 64) { index in
            let answer = try? server.request("POST", "/v1/wallet/balance_transfer", body: transfer("1", "2", "0.01", id: String(1000 + index)))
            statuses.append(answer?.status ?? 0)
        }
        XCTAssertEqual(statuses.all.filter { $0 == 201 }.count, 64, "\(statuses.all)")
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/2").json["balance"] as? String, "12.98")
        let opAfter = try XCTUnwrap(try server.request("GET", "/readyz").json["op"] as? Int)
        XCTAssertLessThanOrEqual(opAfter - opBefore, 64)

        // Prometheus text: what the ledger did, and Hummingbird's request metrics in the same registry.
        // (The compactor writes its snapshot in the background: wait until it is there.)
        var metrics = try server.request("GET", "/metrics")
        let snapshotDeadline = Date(timeIntervalSinceNow: 10)
        while metrics.text.contains("wallet_snapshot_age_seconds -1") && Date() < snapshotDeadline {
            usleep(50_000)
            metrics = try server.request("GET", "/metrics")
        }
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain") ?? false)
        let lines = metrics.text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("wallet_transfers_applied_total 65"), metrics.text)
        XCTAssertTrue(lines.contains("wallet_accounts_created_total 2"), metrics.text)
        XCTAssertTrue(lines.contains("wallet_applied_op \(opAfter).0") || lines.contains("wallet_applied_op \(opAfter)"), metrics.text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("wallet_batch_latency_seconds_bucket") }, metrics.text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("wallet_replica_role{role=\"leader\"} 1") }, metrics.text)
        let age = try XCTUnwrap(lines.first { $0.hasPrefix("wallet_snapshot_age_seconds ") }.flatMap { Double($0.split(separator: " ")[1]) })
        XCTAssertTrue(age >= 0 && age < 60, "the compactor wrote a snapshot just now: \(age)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("hb_requests") }, "Hummingbird's request counter: \(metrics.text.prefix(2000))")

        // Shut down cleanly; the directory verifies and holds exactly what was acknowledged.
        server.stop()
        let verify = Process()
        verify.executableURL = ServeProcess.walletURL
        verify.arguments = ["verify", "--data", server.data, "--json"]
        let verifyOutput = Pipe()
        verify.standardOutput = verifyOutput
        try verify.run()
        let verified = verifyOutput.fileHandleForReading.readDataToEndOfFile()
        verify.waitUntilExit()
        XCTAssertEqual(verify.terminationStatus, 0, String(decoding: verified, as: UTF8.self))
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: verified) as? [String: Any])
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(report["snapshots_checked"] as? Int), 1, "the serve compactor wrote a snapshot that verifies")
    }

    func testBadInputGetsAProblemAndTheServerKeepsServing() throws {
        let directory = TemporaryDirectory()
        let server = try ServeProcess(data: directory.path + "/data", arguments: ["--connection-idle-timeout-ms", "500"])
        _ = try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"1","currency":"USD"}"#)
        _ = try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"2","currency":"JPY"}"#)
        let cases: [(String, String, Int, String)] = [
            ("POST", "{not json", 400, "invalid-json"),
            ("POST", "[1,2]", 400, "invalid-json"),
            ("POST", #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"5","memo":"x"}"#, 400, "unknown-field"),
            ("POST", #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD"}"#, 400, "missing-field"),
            ("POST", transfer("1", "2", "1.001", id: "5"), 400, "too-many-decimals"),
            ("POST", transfer("1", "2", "-1.00", id: "5"), 400, "invalid-amount"),
            ("POST", transfer("1", "2", "1e3", id: "5"), 400, "invalid-amount"),
            ("POST", transfer("1", "2", "0.00", id: "5"), 400, "amount-zero"),
            ("POST", transfer("1", "2", "3402823669209384634633746074317682114.56", id: "5"), 400, "amount-out-of-range"),
            ("POST", transfer("1", "2", "1.00", id: "5", currency: "ABC"), 400, "unknown-currency"),
            ("POST", transfer("one", "2", "1.00", id: "5"), 400, "invalid-account-id"),
            ("POST", transfer("1", "2", "1.00", id: "not-a-uuid-and-not-a-number-at-all-xx"), 400, "invalid-transaction-id"),
            ("POST", transfer("1", "2", "1.00", id: "6"), 422, "transfer-rejected"),
            ("POST", #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"7","pad":""#
                + String(repeating: "x", count: 40_000) + "\"}", 413, "body-too-large"),
        ]
        for (method, body, status, type) in cases {
            let answer = try server.request(method, "/v1/wallet/balance_transfer", body: body)
            XCTAssertEqual(answer.status, status, "\(body.prefix(80)): \(answer.text)")
            XCTAssertEqual(answer.json["type"] as? String, "urn:wallet:problem:" + type, "\(body.prefix(80))")
            XCTAssertEqual(answer.headers["content-type"], "application/problem+json")
        }
        // 1 USD to a JPY account: the ledger's own refusal, with its code.
        XCTAssertEqual(try server.request("POST", "/v1/wallet/balance_transfer", body: transfer("1", "2", "1.00", id: "6")).json["result"] as? String,
                       "accounts_must_have_the_same_ledger")
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/x1").json["type"] as? String, "urn:wallet:problem:invalid-account-id")

        // A slow client that never finishes its request is answered 408 and cut off; others are served meanwhile.
        let started = Date()
        let slow = RawHTTP.exchange(port: server.port, Array("POST /v1/wallet/accounts HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"acc".utf8), waitMs: 4_000)
        XCTAssertEqual(slow.answer?.status, 408)
        XCTAssertTrue(slow.closedByServer, "the server closed the idle connection")
        XCTAssertLessThan(Date().timeIntervalSince(started), 3.5)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/1").status, 200, "still serving")
    }

    func testAPIKeysGuardWrites() throws {
        let directory = TemporaryDirectory()
        let keysFile = directory.path + "/keys"
        try "writer-key-0123456789\nreader-key-0123456789 read\n".write(toFile: keysFile, atomically: true, encoding: .utf8)
        let server = try ServeProcess(data: directory.path + "/data", arguments: ["--api-keys", keysFile])
        let body = #"{"account_id":"1","currency":"USD"}"#
        let none = try server.request("POST", "/v1/wallet/accounts", body: body)
        XCTAssertEqual(none.status, 401)
        XCTAssertEqual(none.headers["www-authenticate"], "Bearer")
        XCTAssertEqual(try server.request("POST", "/v1/wallet/accounts", body: body, headers: ["Authorization": "Bearer wrong-key-0123456789"]).status, 401)
        XCTAssertEqual(try server.request("POST", "/v1/wallet/accounts", body: body, headers: ["Authorization": "Bearer reader-key-0123456789"]).status, 403)
        XCTAssertEqual(try server.request("POST", "/v1/wallet/accounts", body: body, headers: ["Authorization": "Bearer writer-key-0123456789"]).status, 201)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/1").status, 200, "reads are open by default")
        server.stop()

        let closed = try ServeProcess(data: directory.path + "/data", arguments: ["--api-keys", keysFile, "--reads-require-key"])
        XCTAssertEqual(try closed.request("GET", "/v1/wallet/accounts/1").status, 401)
        XCTAssertEqual(try closed.request("GET", "/v1/wallet/accounts/1", headers: ["Authorization": "Bearer reader-key-0123456789"]).status, 200)
    }

    func testAcknowledgedTransfersSurviveSIGKILL() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        var server: ServeProcess? = try ServeProcess(data: data)
        _ = try server!.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"1","currency":"KRW"}"#)
        _ = try server!.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"2","currency":"KRW"}"#)
        var acknowledged = 0
        for index in 0..<30 where try server!.request("POST", "/v1/wallet/balance_transfer", body: transfer("1", "2", "1000", id: String(500 + index), currency: "KRW")).status == 201 {
            acknowledged += 1
        }
        XCTAssertEqual(acknowledged, 30)
        server!.stop(signal: SIGKILL)
        server = nil
        // A crash is not damage: verify passes on the log the killed server left (no live digest was
        // ever recorded: it says so in a note), and finds all 30 transfers.
        let verify = try runWallet(["verify", "--data", data])
        XCTAssertEqual(verify.status, 0, verify.output)
        XCTAssertTrue(verify.output.contains("verify: OK"), verify.output)
        XCTAssertTrue(verify.output.contains("note: no live state digest"), verify.output)
        let restarted = try ServeProcess(data: data)
        XCTAssertEqual(try restarted.request("GET", "/v1/wallet/accounts/2").json["balance"] as? String, "30000")
        XCTAssertEqual(try restarted.request("POST", "/v1/wallet/balance_transfer", body: transfer("1", "2", "1000", id: "500", currency: "KRW")).json["replayed"] as? Bool,
                       true, "a retry after the crash still finds the first outcome")
    }
}

final class StatusList: @unchecked Sendable {
    private let lock = NSLock()
    private var statuses: [Int] = []
    func append(_ status: Int) { lock.lock(); statuses.append(status); lock.unlock() }
    var all: [Int] { lock.lock(); defer { lock.unlock() }; return statuses }
}

final class HistoricalAndSpecTests: XCTestCase {
    func testPastBalancesAndAnAccountsTransfersPaged() throws {
        let directory = TemporaryDirectory()
        let server = try ServeProcess(data: directory.path + "/data")
        for id in ["1", "2"] { _ = try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"\#(id)","currency":"EUR"}"#) }
        var opsAfter: [Int] = []
        var instants: [Int] = []
        for index in 1...5 {
            let answer = try server.request("POST", "/v1/wallet/balance_transfer",
                                            body: #"{"from_account":"1","to_account":"2","amount":"\#(index).00","currency":"EUR","transaction_id":"\#(index)"}"#)
            XCTAssertEqual(answer.status, 201, answer.text)
            opsAfter.append(try XCTUnwrap(answer.json["op"] as? Int))
            let timestampNs = try XCTUnwrap(answer.json["timestamp_ns"] as? Int)
            instants += [timestampNs - 1, timestampNs]
        }
        // After the third transfer account 2 held 1 + 2 + 3 = 6.00, whatever came later.
        let past = try server.request("GET", "/v1/wallet/accounts/2?at_op=\(opsAfter[2])")
        XCTAssertEqual(past.status, 200, past.text)
        XCTAssertEqual(past.json["balance"] as? String, "6.00")
        XCTAssertEqual(past.json["consistency"] as? String, "historical")
        XCTAssertEqual(past.json["op"] as? Int, opsAfter[2])
        XCTAssertEqual(past.json["source"] as? String, "balance_history", "the server saw every op: no replay needed")
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/2").json["balance"] as? String, "15.00")
        // Every op and every transfer's instant, from the balance history, for comparing with a replay below.
        let fields = ["op", "records_of_op", "as_of_ns", "balance", "available", "debits_posted", "credits_posted", "debits_pending", "credits_pending"]
        /// `historyFromOp`: the first op the server's balance history holds (earlier ones are replayed).
        func pastAnswers(_ server: ServeProcess, historyFromOp: Int) throws -> [String] {
            var answers: [String] = []
            for query in (1...opsAfter.last!).map({ "at_op=\($0)" }) + instants.map({ "at_time=\($0)" }) {
                for id in ["1", "2"] {
                    let answer = try server.request("GET", "/v1/wallet/accounts/\(id)?\(query)")
                    if answer.status == 200, let op = answer.json["op"] as? Int {
                        XCTAssertEqual(answer.json["source"] as? String, op >= historyFromOp ? "balance_history" : "replay", query)
                    }
                    answers.append("\(id) \(query) \(answer.status) " + fields.map { "\(answer.json[$0] ?? "-")" }.joined(separator: " "))
                }
            }
            return answers
        }
        // Well formed but not answerable: 422 (a shape the schema allows is never a 400).
        let future = try server.request("GET", "/v1/wallet/accounts/2?at_op=999999")
        XCTAssertEqual(future.status, 422)
        XCTAssertEqual(future.json["type"] as? String, "urn:wallet:problem:op-not-applied")
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/2?at_op=1&at_time=5").status, 422)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/2?at_time=yesterday").status, 400)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/2?colour=red").status, 400)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/2?at_time=2001-01-01T00:00:00Z").status, 404, "before the first record")

        // Its changes, two per page: each with the amount and the balance after it.
        var pages: [[[String: Any]]] = []
        var from = 1
        while pages.count < 10 {
            let page = try server.request("GET", "/v1/wallet/accounts/2/transfers?from_op=\(from)&limit=2")
            XCTAssertEqual(page.status, 200, page.text)
            pages.append(try XCTUnwrap(page.json["entries"] as? [[String: Any]]))
            guard let next = page.json["next_from_op"] as? Int else { break }
            from = next
        }
        let entries = pages.flatMap { $0 }
        XCTAssertEqual(entries.map { $0["amount"] as? String }, ["1.00", "2.00", "3.00", "4.00", "5.00"])
        XCTAssertEqual(entries.map { $0["balance"] as? String }, ["1.00", "3.00", "6.00", "10.00", "15.00"])
        XCTAssertEqual(Set(entries.map { $0["side"] as? String }), ["credit"])
        XCTAssertGreaterThanOrEqual(pages.count, 3)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/2/transfers?limit=5000").status, 400)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/9/transfers").status, 404)

        // Restarted, the server's balance history starts at the op it opened at: the earlier past is
        // now rebuilt by a replay, and must say exactly what the history said.
        let fromHistory = try pastAnswers(server, historyFromOp: 0)
        XCTAssertTrue(fromHistory.contains { $0.hasPrefix("2 at_op=\(opsAfter[2]) 200 \(opsAfter[2]) 1 ") && $0.contains(" 6.00 ") }, fromHistory.joined(separator: "\n"))
        server.stop()
        let restarted = try ServeProcess(data: server.data)
        XCTAssertEqual(try pastAnswers(restarted, historyFromOp: opsAfter.last!), fromHistory)
        let later = try restarted.request("POST", "/v1/wallet/balance_transfer",
                                          body: #"{"from_account":"1","to_account":"2","amount":"0.50","currency":"EUR","transaction_id":"77"}"#)
        let laterOp = try XCTUnwrap(later.json["op"] as? Int)
        let recent = try restarted.request("GET", "/v1/wallet/accounts/2?at_op=\(laterOp)")
        XCTAssertEqual(recent.json["source"] as? String, "balance_history")
        XCTAssertEqual(recent.json["balance"] as? String, "15.50")
    }

    /// docs/openapi.yaml lists exactly the server's routes, and each answers (no route-level 404).
    func testTheOpenAPIDocumentMatchesTheRoutes() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        var documented: Set<String> = []
        var inPaths = false
        var path: String?
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("paths:") { inPaths = true; continue }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") { path = String(line.dropFirst(2).dropLast()); continue }
            if let path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":"),
               let method = ["get:", "post:", "put:", "delete:", "patch:"].first(where: { line.trimmingCharacters(in: .whitespaces) == $0 }) {
                documented.insert(method.dropLast().uppercased() + " " + path)
            }
        }
        let routes = Set(WalletAPI.routes.map { $0.method + " " + $0.path })
        XCTAssertEqual(documented, routes)

        let directory = TemporaryDirectory()
        let server = try ServeProcess(data: directory.path + "/data")
        _ = try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"1","currency":"USD"}"#)
        for route in WalletAPI.routes {
            if route.path.hasSuffix("/events") {
                let stream = try EventStreamReader(port: server.port, path: route.path.replacingOccurrences(of: "{id}", with: "1"))
                XCTAssertEqual(stream.waitForEvents(1).count, 1, "\(route)")
                stream.close()
                continue
            }
            let answer = try server.request(route.method, route.path.replacingOccurrences(of: "{id}", with: "1"), body: route.method == "POST" ? "{}" : nil)
            // A route that exists answers with JSON (a result or a problem) or, for /metrics, the
            // Prometheus text; an unknown one with a bare 404.
            let expected = route.path == "/metrics" ? "text/plain" : "json"
            XCTAssertTrue(answer.headers["content-type"]?.contains(expected) ?? false, "\(route): \(answer.status) \(answer.text)")
        }
        XCTAssertEqual(try server.request("GET", "/v1/wallet/nothing-here").status, 404)
    }
}
