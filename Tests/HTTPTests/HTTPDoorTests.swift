// The HTTP door against a real `wallet serve` over raw sockets: malformed requests are refused with
// a problem and the connection closed, clients that close mid-request or trickle bytes are cut off
// by deadlines, and the process keeps serving with its in-flight accounting exact.
import Foundation
import TestSupport
import XCTest

final class HTTPDoorTests: XCTestCase {
    private static let transferBody = #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"77"}"#

    /// The requests that each killed the process before the door refused them, with the status each is answered now.
    static let malformed: [(name: String, bytes: [UInt8], status: Int)] = {
        func b(_ text: String) -> [UInt8] { Array(text.utf8) }
        let post = "POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\n"
        return [
            ("Content-Length -1", b("GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n"), 400),
            ("lower-case method", b("get /healthz HTTP/1.1\r\nHost: t\r\n\r\n"), 501),
            ("Content-Length abc", b("GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n"), 400),
            ("Content-Length 2^64", b("GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551616\r\n\r\n"), 400),
            ("two Content-Lengths", b(post + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"), 400),
            ("Content-Length then Transfer-Encoding", b(post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400),
            ("Transfer-Encoding then Content-Length", b(post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"), 400),
            ("Transfer-Encoding chunked, identity", b(post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"), 400),
            ("Transfer-Encoding with a space before the colon", b(post + "Transfer-Encoding :\r\n\r\n"), 400),
            ("obs-fold", b("GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\r\n  folded\r\n\r\n"), 400),
            ("bare LF line ends", b("GET /healthz HTTP/1.1\nHost: t\n\n"), 505),
            ("CR in a header value", b("GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n"), 400),
            ("NUL in a header value", b("GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a") + [0] + b("b\r\n\r\n"), 400),
            ("100 KB header", b("GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: " + String(repeating: "a", count: 100_000) + "\r\n\r\n"), 431),
            ("200 KB URI", b("GET /" + String(repeating: "a", count: 200_000) + " HTTP/1.1\r\nHost: t\r\n\r\n"), 431),
            ("HTTP/1.2", b("GET /healthz HTTP/1.2\r\nHost: t\r\n\r\n"), 505),
            ("HTTP/2 preface", b("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505),
            ("TLS ClientHello", [0x16, 0x03, 0x01, 0x00, 0xF8, 0x01, 0x00, 0x00, 0xF4, 0x03, 0x03] + [UInt8](repeating: 0x2A, count: 64), 400),
            ("bad chunk size", b(post + "Transfer-Encoding: chunked\r\n\r\nzz\r\n"), 400),
            // Never finishes its head: answered when request_head_timeout_ms passes.
            ("HTTP/0.9", b("GET /\r\n"), 408),
        ]
    }()

    /// A server with short deadlines, and USD accounts `accounts` created.
    private func serve(_ directory: TemporaryDirectory, accounts: [String] = []) throws -> ServeProcess {
        let server = try ServeProcess(data: directory.path + "/data", arguments: [
            "--request-head-timeout-ms", "1000", "--request-body-timeout-ms", "1500", "--connection-idle-timeout-ms", "1500",
        ])
        for id in accounts {
            XCTAssertEqual(try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"\#(id)","currency":"USD"}"#).status, 201)
        }
        return server
    }

    func testMalformedRequestsAreRefusedWithAProblemAndTheConnectionClosed() throws {
        let directory = TemporaryDirectory()
        let server = try serve(directory)
        for (name, bytes, status) in HTTPDoorTests.malformed {
            let (answer, closed, raw) = RawHTTP.exchange(port: server.port, bytes)
            let got = try XCTUnwrap(answer, "\(name): no answer (\(raw.count) bytes)\n\(server.output.all)")
            XCTAssertEqual(got.status, status, "\(name): \(got.body)")
            XCTAssertEqual(got.headers["content-type"], "application/problem+json", name)
            XCTAssertEqual(got.headers["connection"], "close", name)
            XCTAssertEqual(got.json["status"] as? Int, status, name)
            XCTAssertTrue((got.json["type"] as? String ?? "").hasPrefix("urn:wallet:problem:"), name)
            XCTAssertFalse((got.json["detail"] as? String ?? "").isEmpty, name)
            XCTAssertTrue(closed, "\(name): the connection stays open")
            XCTAssertTrue(server.process.isRunning, "\(name) stopped the server:\n\(server.output.all)")
        }
        XCTAssertEqual(try server.request("GET", "/healthz").status, 200)
        // Counted, by reason.
        let metrics = try server.request("GET", "/metrics").text
        XCTAssertEqual(DoorMetrics.refused(metrics, "head_too_large"), 2)
        XCTAssertEqual(DoorMetrics.refused(metrics, "unsupported_version"), 3)
        XCTAssertEqual(DoorMetrics.refused(metrics, "head_timeout"), 1)
        XCTAssertGreaterThanOrEqual(DoorMetrics.refused(metrics, "invalid_content_length"), 5)
        XCTAssertTrue(server.output.all.contains("refused a request from 127.0.0.1:"), "refusals are logged")
        try DoorMetrics.waitForNoRequestInFlight(server)
    }

    func testAPipelinedMalformedRequestIsRefusedAfterTheAnswersBeforeIt() throws {
        let directory = TemporaryDirectory()
        let server = try serve(directory, accounts: ["1", "2"])
        // A write (answered after its fsync), a read, then garbage: two answers, then the refusal.
        let body = HTTPDoorTests.transferBody
        let bytes = Array(("POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            + "GET /v1/wallet/accounts/2 HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n").utf8)
        let (_, closed, raw) = RawHTTP.exchange(port: server.port, bytes)
        let text = String(decoding: raw, as: UTF8.self)
        let statuses = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
        XCTAssertEqual(statuses, ["201", "200", "400"], text)
        XCTAssertTrue(closed)
        XCTAssertTrue(text.contains(#""credits_posted":"1.00""#), "the read sees the write before it")
        try DoorMetrics.waitForNoRequestInFlight(server)
    }

    func testClientsThatCloseMidRequestDoNotStopTheServer() throws {
        let directory = TemporaryDirectory()
        let server = try serve(directory, accounts: ["1", "2"])
        let partialHeads = ["GET /hea", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: b"]
        let partialBodies = [
            "POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nContent-Length: \(HTTPDoorTests.transferBody.utf8.count)\r\n\r\n"
                + HTTPDoorTests.transferBody.prefix(20),
            "POST /v1/wallet/accounts HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\n\r\n{\"account_id\"",
            "POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"from_",
        ]
        for round in 0..<5 {
            for request in partialHeads + partialBodies {
                let (fd, connected) = connectLoopback(port: server.port)
                XCTAssertEqual(connected, 0)
                _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                usleep(round == 0 ? 300_000 : 20_000)
                close(fd)
            }
        }
        XCTAssertEqual(try server.request("GET", "/healthz").status, 200)
        XCTAssertTrue(server.process.isRunning, server.output.all)
        try DoorMetrics.waitForNoRequestInFlight(server)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/2").json["credits_posted"] as? String, "0.00", "no half-sent transfer was applied")
    }

    /// Slowloris: connections trickle their heads one byte at a time. Each is answered 408 when
    /// request_head_timeout_ms passes (before the idle timeout would have closed it silently), and
    /// the server lives through the moment they are all cut off.
    func testSlowHeadsAndSlowBodiesAreTimedOut() throws {
        let directory = TemporaryDirectory()
        let server = try serve(directory)
        let head = Array("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: ".utf8) + [UInt8](repeating: 0x61, count: 400)
        let bodyHead = Array("POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nContent-Length: 16000\r\n\r\n".utf8)
        let slowHeads = (0..<20).map { _ in Trickle(port: server.port, prefix: [], bytes: head) }
        let slowBodies = (0..<5).map { _ in Trickle(port: server.port, prefix: bodyHead, bytes: [UInt8](repeating: 0x20, count: 16000)) }
        let all = slowHeads + slowBodies
        // One byte each every 300 ms: more often than the 1.5 s idle timeout, so only the
        // whole-request deadlines can end them. Bounded: 8 s at most.
        let deadline = Date(timeIntervalSinceNow: 8)
        while Date() < deadline && all.contains(where: { !$0.closed }) {
            for trickle in all { trickle.step() }
            usleep(300_000)
        }
        for (index, trickle) in all.enumerated() {
            XCTAssertTrue(trickle.closed, "connection \(index) still open")
            XCTAssertEqual(RawHTTP.parse(trickle.received)?.status, 408, "connection \(index): \(String(decoding: trickle.received, as: UTF8.self))")
        }
        XCTAssertTrue(slowHeads.allSatisfy { $0.closedAfterS < 4 }, "head deadlines: \(slowHeads.map(\.closedAfterS))")
        XCTAssertTrue(slowBodies.allSatisfy { $0.closedAfterS >= 1.4 && $0.closedAfterS < 5 }, "body deadlines: \(slowBodies.map(\.closedAfterS))")
        XCTAssertTrue(server.process.isRunning, server.output.all)
        let metrics = try server.request("GET", "/metrics").text
        XCTAssertEqual(DoorMetrics.refused(metrics, "head_timeout"), 20)
        XCTAssertEqual(DoorMetrics.refused(metrics, "body_timeout"), 5)

        // A client that stops sending mid-head for longer than the idle timeout is answered 408 too.
        let stalled = RawHTTP.exchange(port: server.port, Array("GET /healthz HTTP/1.1\r\nHo".utf8), waitMs: 4_000)
        XCTAssertEqual(stalled.answer?.status, 408)
        XCTAssertTrue(stalled.closedByServer)
        try DoorMetrics.waitForNoRequestInFlight(server)
    }

    /// NIO's decoder stops parsing after an upgrade request: the request is answered (the upgrade
    /// ignored), nothing more is read and the connection is closed, so what follows cannot pile up.
    func testAnUpgradeRequestIsAnsweredThenTheConnectionClosed() throws {
        let directory = TemporaryDirectory()
        let server = try serve(directory)
        let bytes = Array("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
            + [UInt8](repeating: 0x41, count: 1 << 20)
        let (answer, closed, raw) = RawHTTP.exchange(port: server.port, bytes)
        XCTAssertEqual(answer?.status, 200)
        XCTAssertTrue(closed)
        XCTAssertEqual(String(decoding: raw, as: UTF8.self).components(separatedBy: "HTTP/1.1 ").count, 2, "one answer only")
        XCTAssertEqual(try server.request("GET", "/healthz").status, 200)
    }
}

/// A connection that sends `prefix` at once, then `bytes` one at a time, and notes when the server closes it.
final class Trickle {
    let fd: Int32
    let bytes: [UInt8]
    private var sent = 0
    private let started = Date()
    private(set) var closed = false
    private(set) var closedAfterS = 0.0
    private(set) var received: [UInt8] = []

    init(port: Int, prefix: [UInt8], bytes: [UInt8]) {
        fd = connectLoopback(port: port).socket
        self.bytes = bytes
        _ = prefix.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    deinit { close(fd) }

    func step() {
        guard !closed else { return }
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count > 0 { received += chunk[0..<count]; continue }
            if count == 0 || errno == ECONNRESET { markClosed() }
            break
        }
        guard !closed, sent < bytes.count else { return }
        if send(fd, [bytes[sent]], 1, Int32(MSG_NOSIGNAL)) == 1 { sent += 1 } else if errno != EAGAIN { markClosed() }
    }

    private func markClosed() {
        closed = true
        closedAfterS = Date().timeIntervalSince(started)
    }
}

/// What the door's metrics say.
enum DoorMetrics {
    static func refused(_ metrics: String, _ reason: String) -> Int {
        value(metrics, prefix: #"wallet_http_refused_requests_total{reason="\#(reason)"}"#)
    }

    static func value(_ metrics: String, prefix: String) -> Int {
        guard let line = metrics.split(separator: "\n").first(where: { $0.hasPrefix(prefix + " ") }) else { return -1 }
        return Int(Double(line.split(separator: " ").last!) ?? -1)
    }

    /// Waits (at most 10 s: a refused connection lingers up to 2 s) until no request holds an in-flight slot.
    static func waitForNoRequestInFlight(_ server: ServeProcess, file: StaticString = #filePath, line: UInt = #line) throws {
        let deadline = Date(timeIntervalSinceNow: 10)
        var last = -1
        while Date() < deadline {
            last = value(try server.request("GET", "/metrics").text, prefix: "wallet_http_in_flight_requests")
            if last == 0 { return }
            usleep(50_000)
        }
        XCTFail("wallet_http_in_flight_requests is \(last), not 0", file: file, line: line)
    }
}
