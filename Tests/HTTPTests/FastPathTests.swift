// The event-loop fast path for account reads and transfers: the same answers as the router, in
// request order, counted in the same metrics, and connections that use only it are not cut off as idle.
import Foundation
import NIOCore
@testable import HTTPShim
import LedgerCore
import TestSupport
import XCTest

final class FastPathTests: XCTestCase {
    private func transfer(_ from: String, _ to: String, _ amount: String, id: String) -> String {
        #"{"from_account":"\#(from)","to_account":"\#(to)","amount":"\#(amount)","currency":"USD","transaction_id":"\#(id)"}"#
    }

    private func requestCount(_ server: ServeProcess) throws -> Int {
        let metrics = try server.request("GET", "/metrics").text
        let line = metrics.split(separator: "\n").first {
            $0.hasPrefix("hb_requests{") && $0.contains(#"http_route="/v1/wallet/accounts/{id}""#) && $0.contains(#"http_request_method="GET""#)
                && $0.contains(#"http_response_status_code="200""#)
        }
        return line.flatMap { Int($0.split(separator: " ").last!) } ?? 0
    }

    /// `wallet_fast_path_answers` for a route, method and status (0 when none yet).
    private func fastAnswers(_ server: ServeProcess, route: String, method: String, status: Int) throws -> Int {
        let metrics = try server.request("GET", "/metrics").text
        let line = metrics.split(separator: "\n").first {
            $0.hasPrefix("wallet_fast_path_answers{") && $0.contains(#"http_route="\#(route)""#) && $0.contains(#"http_request_method="\#(method)""#)
                && $0.contains(#"http_response_status_code="\#(status)""#)
        }
        return line.flatMap { Int($0.split(separator: " ").last!) } ?? 0
    }

    /// A transfer body the fast path leaves to the router (an escaped character), meaning the same.
    private func routedTransfer(_ from: String, _ to: String, _ amount: String, id: String) -> String {
        #"{"from_account":"\#(from)","to_account":"\#(to)","amount":"\#(amount)","currency":"US\u0044","transaction_id":"\#(id)"}"#
    }

    /// One request on a connection of its own, for a request the test needs the fast path to
    /// take: on a reused connection an earlier routed answer may still be ending (its `.end`
    /// part is written a moment after the client has read the whole answer), and then the fast
    /// path rightly leaves the next request to the router to keep the answers in order.
    private func onFreshConnection(_ server: ServeProcess, _ method: String, _ path: String, body: String? = nil) throws -> HTTPAnswer {
        let connection = try RawHTTPConnection(port: server.port)
        let content = body.map { "Content-Type: application/json\r\nContent-Length: \($0.utf8.count)\r\n\r\n\($0)" } ?? "\r\n"
        connection.send("\(method) \(path) HTTP/1.1\r\nHost: t\r\n" + content)
        let answer = try XCTUnwrap(connection.readAnswer(), "no answer to \(method) \(path)")
        return HTTPAnswer(status: answer.status, headers: answer.headers, body: Data(answer.body.utf8))
    }

    /// The answer without its `op` (a retry is answered in its own batch).
    private func withoutOp(_ answer: HTTPAnswer) -> String {
        answer.text.replacingOccurrences(of: #","op":[0-9]+,"#, with: ",", options: .regularExpression)
    }

    func testFastTransfersAnswerAsTheRouterDoes() throws {
        let directory = TemporaryDirectory()
        let server = try ServeProcess(data: directory.path + "/data")
        XCTAssertEqual(try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"1","currency":"USD"}"#).status, 201)
        XCTAssertEqual(try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"2","currency":"USD","flags":["debits_must_not_exceed_credits"]}"#).status, 201)
        XCTAssertEqual(try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"3","currency":"JPY"}"#).status, 201)
        let route = "/v1/wallet/balance_transfer"

        // Created on the fast path; its retry through the router answers the first outcome, and the other way round.
        let fast = try onFreshConnection(server, "POST", route, body: transfer("1", "2", "3.00", id: "10"))
        XCTAssertEqual(fast.status, 201, fast.text)
        XCTAssertEqual(try fastAnswers(server, route: route, method: "POST", status: 201), 1)
        let routedRetry = try server.request("POST", route, body: routedTransfer("1", "2", "3.00", id: "10"))
        XCTAssertEqual(routedRetry.status, 200)
        XCTAssertEqual(withoutOp(routedRetry), withoutOp(fast).replacingOccurrences(of: #""replayed":false"#, with: #""replayed":true"#))
        let routed = try server.request("POST", route, body: routedTransfer("1", "2", "2.00", id: "11"))
        XCTAssertEqual(routed.status, 201, routed.text)
        let fastRetry = try onFreshConnection(server, "POST", route, body: transfer("1", "2", "2.00", id: "11"))
        XCTAssertEqual(fastRetry.status, 200)
        XCTAssertEqual(withoutOp(fastRetry), withoutOp(routed).replacingOccurrences(of: #""replayed":false"#, with: #""replayed":true"#))
        XCTAssertEqual(fastRetry.headers["content-type"], "application/json")
        XCTAssertEqual(try fastAnswers(server, route: route, method: "POST", status: 200), 1)

        // Refusals: the same problem from either path (the ledger's result code included).
        for (body, routedBody, status) in [
            (transfer("2", "1", "9.00", id: "12"), routedTransfer("2", "1", "9.00", id: "13"), 422),  // 2 may not go below zero
            (transfer("1", "3", "1.00", id: "14"), routedTransfer("1", "3", "1.00", id: "15"), 422),  // USD to a JPY account
            (transfer("1", "2", "5.00", id: "10"), routedTransfer("1", "2", "5.00", id: "10"), 409),  // id 10 with other fields
        ] {
            let fastRefusal = try onFreshConnection(server, "POST", route, body: body)
            let routedRefusal = try server.request("POST", route, body: routedBody)
            XCTAssertEqual(fastRefusal.status, status, fastRefusal.text)
            XCTAssertEqual(fastRefusal.headers["content-type"], "application/problem+json")
            for field in ["type", "title", "status", "result", "instance"] {
                XCTAssertEqual("\(fastRefusal.json[field] ?? "-")", "\(routedRefusal.json[field] ?? "+")", field)
            }
        }
        XCTAssertEqual(try fastAnswers(server, route: route, method: "POST", status: 422), 2)
        XCTAssertEqual(try fastAnswers(server, route: route, method: "POST", status: 409), 1)
        // What only the router can say (an unknown field) is still said.
        let unknown = try server.request("POST", route, body: #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"16","memo":"x"}"#)
        XCTAssertEqual(unknown.json["type"] as? String, "urn:wallet:problem:unknown-field")
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/2").json["balance"] as? String, "5.00")
    }

    func testFastAnswersEqualTheRoutersAndKeepTheRequestOrder() throws {
        let directory = TemporaryDirectory()
        let server = try ServeProcess(data: directory.path + "/data", arguments: ["--connection-idle-timeout-ms", "600"])
        for id in ["1", "2"] {
            XCTAssertEqual(try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"\#(id)","currency":"USD"}"#).status, 201)
        }
        XCTAssertEqual(try server.request("POST", "/v1/wallet/balance_transfer", body: transfer("1", "2", "1.25", id: "1")).status, 201)

        // The fast answer (no query) and the router's (?consistency=applied) say the same, byte for byte.
        let before = try requestCount(server)
        let fast = try onFreshConnection(server, "GET", "/v1/wallet/accounts/2")
        let routed = try server.request("GET", "/v1/wallet/accounts/2?consistency=applied")
        XCTAssertEqual(fast.status, 200)
        XCTAssertEqual(fast.text, routed.text)
        XCTAssertEqual(fast.headers["content-type"], routed.headers["content-type"])
        XCTAssertEqual(fast.headers["server"], "wallet")
        XCTAssertNotNil(fast.headers["date"])
        XCTAssertEqual(fast.json["credits_posted"] as? String, "1.25")
        XCTAssertEqual(try requestCount(server), before + 2, "both answers are counted under the route")
        XCTAssertEqual(try fastAnswers(server, route: "/v1/wallet/accounts/{id}", method: "GET", status: 200), 1, "one of them on the fast path")
        // What the fast path does not take still gets the router's answer.
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/99").json["type"] as? String, "urn:wallet:problem:not-found")
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/x").json["type"] as? String, "urn:wallet:problem:invalid-account-id")

        // Pipelined on one connection: a write (answered after its fsync) then a read the fast path
        // could answer at once. The answers come in request order, and the read sees the write.
        let connection = try RawHTTPConnection(port: server.port)
        for round in 0..<5 {
            let body = transfer("1", "2", "0.50", id: String(100 + round))
            // Two writes, then reads: the second write waits for the first, the reads for both;
            // the second write goes to the router every other round (an escaped character).
            let second = round % 2 == 0 ? transfer("1", "2", "0.25", id: String(200 + round)) : routedTransfer("1", "2", "0.25", id: String(200 + round))
            connection.send("POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                + "POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nContent-Length: \(second.utf8.count)\r\n\r\n\(second)"
                + "GET /v1/wallet/accounts/2 HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            let written = try XCTUnwrap(connection.readResponse(), server.output.all)
            XCTAssertEqual(written.status, 201, written.body)
            XCTAssertTrue(written.body.contains(#""amount":"0.50""#), written.body)
            let writtenSecond = try XCTUnwrap(connection.readResponse())
            XCTAssertEqual(writtenSecond.status, 201, writtenSecond.body)
            XCTAssertTrue(writtenSecond.body.contains(#""amount":"0.25""#), writtenSecond.body)
            let read = try XCTUnwrap(connection.readResponse())
            XCTAssertEqual(read.status, 200)
            XCTAssertTrue(read.body.contains(#""credits_posted":"\#(String(format: "%.2f", 1.25 + 0.75 * Double(round + 1)))""#), read.body)
            XCTAssertEqual(try XCTUnwrap(connection.readResponse()).body, #"{"status":"ok"}"#)
        }

        // A connection busy with fast reads only is not idle: it outlives the 600 ms idle timeout...
        let started = Date()
        while Date().timeIntervalSince(started) < 1.5 {
            connection.send("GET /v1/wallet/accounts/1 HTTP/1.1\r\nHost: t\r\n\r\n")
            XCTAssertEqual(try XCTUnwrap(connection.readResponse(), "closed while in use").status, 200)
            usleep(150_000)
        }
        // ...and once silent, it is closed.
        let silent = Date()
        XCTAssertNil(connection.readResponse(), "the server closed the idle connection")
        XCTAssertLessThan(Date().timeIntervalSince(silent), 3)
    }

    func testClosedReadsAreNotAnsweredByTheFastPath() throws {
        let directory = TemporaryDirectory()
        let keysFile = directory.path + "/keys"
        try "write-key-0123456789abcdef\nread-key-0123456789abcdef read\n".write(toFile: keysFile, atomically: true, encoding: .utf8)
        let server = try ServeProcess(data: directory.path + "/data", arguments: ["--api-keys", keysFile, "--reads-require-key"])
        let writer = ["Authorization": "Bearer write-key-0123456789abcdef"]
        XCTAssertEqual(try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"1","currency":"USD"}"#, headers: writer).status, 201)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/1").status, 401)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/1", headers: ["Authorization": "Bearer wrong-key-0123456789abcdef"]).status, 401)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/1", headers: ["Authorization": "Bearer read-key-0123456789abcdef"]).status, 200)
    }
}

final class DecimalTextTests: XCTestCase {
    /// The buffer writer of the hot answers writes exactly what `Amount.format` writes.
    func testDecimalTextEqualsAmountFormat() {
        var values: [UInt128] = [0, 1, 9, 10, 99, 100, 101, 1234, 100_000, UInt128(UInt64.max) - 1, UInt128(UInt64.max),
                                 UInt128(UInt64.max) + 1, UInt128(UInt64.max) * 10 + 7, .max - 1, .max]
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 { values.append(UInt128(random.next() as UInt64) << UInt128(random.next() % 70) | UInt128(random.next() % 1000)) }
        for exponent in [0, 2, 3, 4] {
            for value in values {
                var buffer = ByteBufferAllocator().buffer(capacity: 64)
                DecimalText.write(value, exponent: exponent, into: &buffer)
                XCTAssertEqual(String(buffer: buffer), Amount.format(value, exponent: exponent), "\(value) at exponent \(exponent)")
            }
        }
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        DecimalText.writeDifference(5, minus: 1234, exponent: 2, into: &buffer)
        XCTAssertEqual(String(buffer: buffer), Amount.formatDifference(5, minus: 1234, exponent: 2))
    }
}

final class FastTransferBodyTests: XCTestCase {
    /// The fast parse takes only the ordinary body; everything else is left to the router (nil).
    func testOnlyTheOrdinaryBodyIsTaken() throws {
        func parse(_ text: String) -> (transfer: Transfer, transactionText: String)? {
            FastTransferBody.parse(ByteBufferAllocator().buffer(string: text))
        }
        let parsed = try XCTUnwrap(parse(#" { "transaction_id" : "42", "currency":"JPY","amount":"1500","to_account":"2",  "from_account":"1" }"#))
        XCTAssertEqual(parsed.transfer.id, 42)
        XCTAssertEqual(parsed.transfer.debitAccountId, 1)
        XCTAssertEqual(parsed.transfer.creditAccountId, 2)
        XCTAssertEqual(parsed.transfer.amount, 1500)
        XCTAssertEqual(parsed.transfer.ledger, CurrencyCode.parse("JPY"))
        XCTAssertEqual(parsed.transactionText, "42")
        let uuid = try XCTUnwrap(parse(#"{"from_account":"1","to_account":"2","amount":"12.34","currency":"USD","transaction_id":"5f0c6a8e-6f3b-4a51-9c55-0d7a1f2b3c4d"}"#))
        XCTAssertEqual(uuid.transfer.amount, 1234)
        XCTAssertEqual(uuid.transfer.id, 0x5f0c6a8e6f3b4a519c550d7a1f2b3c4d)
        for body in [
            #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"US\u0044","transaction_id":"5"}"#,  // an escape
            #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"5","memo":"x"}"#,  // unknown field
            #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD"}"#,  // missing field
            #"{"from_account":"1","from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"5"}"#,  // twice
            #"{"from_account":1,"to_account":"2","amount":"1.00","currency":"USD","transaction_id":"5"}"#,  // a number
            #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"5"} x"#,  // trailing bytes
            #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"5""#,  // cut short
            #"{"from_account":"1","to_account":"2","amount":"1.001","currency":"USD","transaction_id":"5"}"#,  // too many decimals
            #"{"from_account":"x","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"5"}"#,  // a bad id
            #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"XXX","transaction_id":"5"}"#,  // unknown currency
            #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"0"}"#,  // id 0
            #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"é"}"#,  // not ASCII
            "[]", "", "{}",
        ] {
            XCTAssertNil(parse(body), body)
        }
    }
}
