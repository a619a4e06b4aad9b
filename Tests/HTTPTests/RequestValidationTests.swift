// What the REST API refuses, against a real `wallet serve`: bodies and queries that could be read
// two ways, reserved ids, and the exact problem each refusal names.
import Foundation
import TestSupport
import XCTest

final class RequestValidationTests: XCTestCase {
    private func transfer(_ from: String, _ to: String, _ amount: String, id: String) -> String {
        #"{"from_account":"\#(from)","to_account":"\#(to)","amount":"\#(amount)","currency":"USD","transaction_id":"\#(id)"}"#
    }

    private func post(_ port: Int, _ path: String, _ body: [UInt8], headers: String = "") -> RawAnswer? {
        RawHTTP.exchange(port: port, Array("POST \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n\(headers)Content-Length: \(body.count)\r\n\r\n".utf8) + body).answer
    }

    private func serveWithTwoAccounts(_ directory: TemporaryDirectory) throws -> ServeProcess {
        let server = try ServeProcess(data: directory.path + "/data")
        for id in ["1", "2"] {
            XCTAssertEqual(try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"\#(id)","currency":"USD"}"#).status, 201)
        }
        return server
    }

    /// `{"amount":"1.00","amount":"999999.00"}` once moved 999,999.00 (the last key won). Now any
    /// body a lenient parser would read one way and a strict one another is refused, on the fast
    /// path and the router alike, and nothing moves.
    func testAmbiguousBodiesAreRefusedAndMoveNothing() throws {
        let directory = TemporaryDirectory()
        let server = try serveWithTwoAccounts(directory)
        let route = "/v1/wallet/balance_transfer"
        let duplicate = #"{"from_account":"1","to_account":"2","amount":"1.00","amount":"999999.00","currency":"USD","transaction_id":"5"}"#
        let answer = try XCTUnwrap(post(server.port, route, Array(duplicate.utf8)))
        XCTAssertEqual(answer.status, 400, answer.body)
        XCTAssertEqual(answer.json["type"] as? String, "urn:wallet:problem:duplicate-field")
        XCTAssertTrue((answer.json["detail"] as? String ?? "").contains("'amount'"), answer.body)
        // Escaped so the fast path leaves it to the router: the router refuses it too.
        let escapedDuplicate = #"{"from_account":"1","to_account":"2","amount":"1.00","\u0061mount":"999999.00","currency":"USD","transaction_id":"5"}"#
        XCTAssertEqual(post(server.port, route, Array(escapedDuplicate.utf8))?.json["type"] as? String, "urn:wallet:problem:duplicate-field")
        let accountDuplicate = #"{"account_id":"3","account_id":"4","currency":"USD"}"#
        XCTAssertEqual(post(server.port, "/v1/wallet/accounts", Array(accountDuplicate.utf8))?.json["type"] as? String, "urn:wallet:problem:duplicate-field")

        let body = Array(transfer("1", "2", "1.00", id: "6").utf8)
        let refused: [(String, [UInt8])] = [
            ("trailing comma", Array(body.dropLast()) + Array(",}".utf8)),
            ("byte order mark", [0xEF, 0xBB, 0xBF] + body),
            ("not UTF-8", Array(#"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"6","x":""#.utf8) + [0xE9, 0x22, 0x7D]),
            ("Latin-1 in a value", Array(#"{"from_account":"1","to_account":"2","amount":"1.00","currency":"US"#.utf8) + [0xC4] + Array(#"","transaction_id":"6"}"#.utf8)),
            ("two objects", body + body),
        ]
        for (name, bytes) in refused {
            let answer = try XCTUnwrap(post(server.port, route, bytes), name)
            XCTAssertEqual(answer.status, 400, "\(name): \(answer.body)")
            XCTAssertEqual(answer.headers["content-type"], "application/problem+json", name)
            XCTAssertEqual(answer.json["type"] as? String, "urn:wallet:problem:invalid-json", "\(name): \(answer.body)")
        }
        // A repeated query parameter means nothing in particular: refused, naming it.
        let query = try server.request("GET", "/v1/wallet/accounts/1?at_op=1&at_op=2")
        XCTAssertEqual(query.status, 400)
        XCTAssertEqual(query.json["type"] as? String, "urn:wallet:problem:duplicate-parameter")
        XCTAssertTrue((query.json["detail"] as? String ?? "").contains("'at_op'"))
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/1/transfers?limit=1&limit=2").json["type"] as? String, "urn:wallet:problem:duplicate-parameter")

        for id in ["1", "2"] {
            let account = try server.request("GET", "/v1/wallet/accounts/\(id)").json
            XCTAssertEqual(account["debits_posted"] as? String, "0.00", "account \(id) moved")
            XCTAssertEqual(account["credits_posted"] as? String, "0.00", "account \(id) moved")
        }
        // The ordinary body still goes through.
        XCTAssertEqual(post(server.port, route, body)?.status, 201)
    }

    /// The REST API refuses the reserved ids 0 and 2^128-1 wherever an id is read, in the words
    /// the CLI and the CSV reader use.
    func testReservedIdsAreRefusedEverywhereAnIdIsRead() throws {
        let directory = TemporaryDirectory()
        let server = try serveWithTwoAccounts(directory)
        let max = "340282366920938463463374607431768211455"
        for (method, path, body, type, words) in [
            ("GET", "/v1/wallet/accounts/0", nil, "invalid-account-id", "account id 0 is reserved"),
            ("GET", "/v1/wallet/accounts/\(max)", nil, "invalid-account-id", "account id 2^128-1 is reserved"),
            ("GET", "/v1/wallet/accounts/0/transfers", nil, "invalid-account-id", "account id 0 is reserved"),
            ("GET", "/v1/wallet/accounts/0/events", nil, "invalid-account-id", "account id 0 is reserved"),
            ("GET", "/v1/wallet/transfers/0", nil, "invalid-transaction-id", "transaction id 0 is reserved"),
            ("GET", "/v1/wallet/transfers/ffffffff-ffff-ffff-ffff-ffffffffffff", nil, "invalid-transaction-id", "transaction id 2^128-1 is reserved"),
            ("POST", "/v1/wallet/accounts", #"{"account_id":"0","currency":"USD"}"#, "invalid-account-id", "account id 0 is reserved"),
            ("POST", "/v1/wallet/balance_transfer", transfer("0", "2", "1.00", id: "8"), "invalid-account-id", "account id 0 is reserved"),
            ("POST", "/v1/wallet/balance_transfer", transfer("1", max, "1.00", id: "8"), "invalid-account-id", "account id 2^128-1 is reserved"),
            ("POST", "/v1/wallet/balance_transfer", transfer("1", "2", "1.00", id: "0"), "invalid-transaction-id", "transaction id 0 is reserved"),
            ("POST", "/v1/wallet/balance_transfer", transfer("1", "2", "1.00", id: "00000000-0000-0000-0000-000000000000"), "invalid-transaction-id",
             "transaction id 0 is reserved"),
        ] as [(String, String, String?, String, String)] {
            let answer = try server.request(method, path, body: body)
            XCTAssertEqual(answer.status, 400, "\(method) \(path) \(body ?? ""): \(answer.text)")
            XCTAssertEqual(answer.json["type"] as? String, "urn:wallet:problem:" + type, "\(method) \(path)")
            XCTAssertTrue((answer.json["detail"] as? String ?? "").contains(words), "\(method) \(path): \(answer.text)")
        }
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/1").json["debits_posted"] as? String, "0.00")
    }

    /// A retried transfer is answered with its first outcome, and the op it names is the op that
    /// applied it (it once named the retry's own batch), on the fast path, the router and a look-up.
    func testARetryNamesTheOpThatAppliedTheTransfer() throws {
        let directory = TemporaryDirectory()
        let server = try serveWithTwoAccounts(directory)
        let route = "/v1/wallet/balance_transfer"
        let first = try server.request("POST", route, body: transfer("1", "2", "1.00", id: "40"))
        XCTAssertEqual(first.status, 201)
        let op = try XCTUnwrap(first.json["op"] as? Int)
        // Batches in between, so a retry's batch is a later op.
        XCTAssertEqual(try server.request("POST", route, body: transfer("1", "2", "1.00", id: "41")).status, 201)
        let fastRetry = try server.request("POST", route, body: transfer("1", "2", "1.00", id: "40"))
        let escaped = #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"US\u0044","transaction_id":"40"}"#
        let routedRetry = try server.request("POST", route, body: escaped)
        for retry in [fastRetry, routedRetry] {
            XCTAssertEqual(retry.status, 200, retry.text)
            XCTAssertEqual(retry.json["replayed"] as? Bool, true)
            XCTAssertEqual(retry.json["op"] as? Int, op, retry.text)
        }
        let lookUp = try server.request("GET", "/v1/wallet/transfers/40")
        XCTAssertEqual(lookUp.json["op"] as? Int, op)
        XCTAssertGreaterThan(try XCTUnwrap(lookUp.json["as_of_op"] as? Int), op)
    }

    /// An amount too large for 128 bits says so (it once said it was not a decimal); a chunked
    /// body with a bad chunk size is a 400 (it was a 413).
    func testAnOversizedAmountAndABadChunkAreNamedForWhatTheyAre() throws {
        let directory = TemporaryDirectory()
        let server = try serveWithTwoAccounts(directory)
        let amount = String(repeating: "9", count: 41)
        for body in [transfer("1", "2", amount, id: "50"), #"{"from_account":"1","to_account":"2","amount":"\#(amount)","currency":"US\u0044","transaction_id":"50"}"#] {
            let answer = try server.request("POST", "/v1/wallet/balance_transfer", body: body)
            XCTAssertEqual(answer.status, 400)
            XCTAssertEqual(answer.json["type"] as? String, "urn:wallet:problem:amount-out-of-range", answer.text)
            XCTAssertTrue((answer.json["detail"] as? String ?? "").contains("does not fit in 128 bits"), answer.text)
        }
        let chunked = Array("POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".utf8)
        let answer = RawHTTP.exchange(port: server.port, chunked).answer
        XCTAssertEqual(answer?.status, 400)
        XCTAssertEqual(answer?.json["type"] as? String, "urn:wallet:problem:invalid-chunk")
    }

    private func raw(_ port: Int, _ method: String, _ path: String) -> (answer: RawAnswer?, bytes: [UInt8]) {
        let (answer, _, bytes) = RawHTTP.exchange(port: port, Array("\(method) \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8))
        return (method == "HEAD" ? RawHTTP.parse(bytes, bodyless: true) : answer, bytes)
    }

    /// Unknown paths and methods once answered 404 with an empty body.
    func testUnknownPathsAndMethodsAreProblemsAndHeadIsGetWithoutABody() throws {
        let directory = TemporaryDirectory()
        let server = try serveWithTwoAccounts(directory)
        for path in ["/nope", "/v1/wallet", "/v1/wallet/accounts/1/x", "/v1/wallet/accounts/"] {
            let answer = try XCTUnwrap(raw(server.port, "GET", path).answer, path)
            XCTAssertEqual(answer.status, 404, path)
            XCTAssertEqual(answer.headers["content-type"], "application/problem+json", path)
            XCTAssertEqual(answer.json["type"] as? String, "urn:wallet:problem:not-found", path)
        }
        for (method, path, allow) in [("TRACE", "/healthz", "GET, HEAD"), ("DELETE", "/v1/wallet/accounts/1", "GET, HEAD"),
                                      ("PUT", "/v1/wallet/balance_transfer", "POST"), ("OPTIONS", "/v1/wallet/accounts/1/transfers", "GET, HEAD"),
                                      ("PATCH", "/v1/wallet/accounts", "POST"), ("GET", "/v1/wallet/balance_transfer", "POST")] {
            let answer = try XCTUnwrap(raw(server.port, method, path).answer, "\(method) \(path)")
            XCTAssertEqual(answer.status, 405, "\(method) \(path)")
            XCTAssertEqual(answer.headers["allow"], allow, "\(method) \(path)")
            XCTAssertEqual(answer.json["type"] as? String, "urn:wallet:problem:method-not-allowed", "\(method) \(path)")
        }
        // HEAD: the GET's status and headers (its Content-Length included), no body.
        for path in ["/healthz", "/v1/wallet/accounts/1", "/v1/wallet/accounts/1/transfers", "/readyz"] {
            let get = try XCTUnwrap(raw(server.port, "GET", path).answer, path)
            let (head, bytes) = raw(server.port, "HEAD", path)
            XCTAssertEqual(head?.status, 200, path)
            XCTAssertEqual(head?.headers["content-type"], get.headers["content-type"], path)
            XCTAssertEqual(head?.headers["content-length"], String(get.body.utf8.count), path)
            let text = String(decoding: bytes, as: UTF8.self)
            XCTAssertTrue(text.hasSuffix("\r\n\r\n"), "HEAD \(path) has a body: \(text)")
        }
        let (missing, bytes) = raw(server.port, "HEAD", "/v1/wallet/accounts/99")
        XCTAssertEqual(missing?.status, 404)
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).hasSuffix("\r\n\r\n"), "a HEAD error has no body either")
    }

    /// The auth scheme is case-insensitive (RFC 9110): `bearer KEY` was refused.
    func testTheBearerSchemeIsMatchedWithoutCase() throws {
        let directory = TemporaryDirectory()
        let keysFile = directory.path + "/keys"
        try "writer-key-0123456789\nreader-key-0123456789 read\n".write(toFile: keysFile, atomically: true, encoding: .utf8)
        let server = try ServeProcess(data: directory.path + "/data", arguments: ["--api-keys", keysFile])
        var id = 0
        func create(_ authorization: String?) throws -> Int {
            id += 1
            return try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"\#(id)","currency":"USD"}"#,
                                      headers: authorization.map { ["Authorization": $0] } ?? [:]).status
        }
        for accepted in ["Bearer writer-key-0123456789", "bearer writer-key-0123456789", "BEARER writer-key-0123456789", "beARer   writer-key-0123456789  "] {
            XCTAssertEqual(try create(accepted), 201, accepted)
        }
        for (refused, status) in [("Basic writer-key-0123456789", 401), ("Bearer", 401), ("Bearerwriter-key-0123456789", 401), ("bearer writer-key-012345678", 401),
                                  ("bearer writer-key-0123456789x", 401), ("bearer reader-key-0123456789", 403)] {
            XCTAssertEqual(try create(refused), status, refused)
        }
        XCTAssertEqual(try create(nil), 401)
        // The fast path (the ordinary transfer body) checks the same way.
        let body = transfer("1", "2", "1.00", id: "60")
        XCTAssertEqual(try server.request("POST", "/v1/wallet/balance_transfer", body: body, headers: ["Authorization": "bearer writer-key-0123456789"]).status, 201)
        XCTAssertEqual(try server.request("POST", "/v1/wallet/balance_transfer", body: body, headers: ["Authorization": "bearer reader-key-0123456789"]).status, 403)
    }
}
