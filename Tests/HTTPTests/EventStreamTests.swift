// Server-sent events: a change reaches a subscriber within 100 ms of its commit; from_op replays.
import Foundation
import TestSupport
import XCTest

/// A raw HTTP/1.1 client for one streaming response: each complete event block with the time it arrived.
final class EventStreamReader: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = ""
    private var events: [(block: String, at: Date)] = []
    private let fd: Int32

    init(port: Int, path: String) throws {
        let (socket, connected) = connectLoopback(port: port)
        fd = socket
        guard connected == 0 else { throw NSError(domain: "SSE", code: 1) }
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        let thread = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &chunk, chunk.count, 0)
                if count <= 0 { return }
                append(String(decoding: chunk[0..<count], as: UTF8.self))
            }
        }
        thread.start()
    }

    private func append(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        buffer += text
        while let end = buffer.range(of: "\n\n") {
            let block = String(buffer[..<end.lowerBound])
            buffer = String(buffer[end.upperBound...])
            if block.contains("event: ") { events.append((block.components(separatedBy: "event: ").last!, Date())) }
        }
    }

    /// Waits (at most `timeout` s) until `count` events arrived; returns them.
    func waitForEvents(_ count: Int, timeout: TimeInterval = 10) -> [(block: String, at: Date)] {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            lock.lock()
            let current = events
            lock.unlock()
            if current.count >= count { return current }
            usleep(2_000)
        }
        lock.lock()
        defer { lock.unlock() }
        return events
    }

    func close() { shutdown(fd, Int32(SHUT_RDWR)); Glibc.close(fd) }

    static func data(_ block: String) -> [String: Any] {
        guard let line = block.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }),
              let object = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any] else { return [:] }
        return object
    }
}

final class EventStreamTests: XCTestCase {
    func testAChangeReachesASubscriberWithin100msOfItsCommit() throws {
        let directory = TemporaryDirectory()
        let server = try ServeProcess(data: directory.path + "/data")
        for id in ["1", "2"] { _ = try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"\#(id)","currency":"USD"}"#) }
        let first = try server.request("POST", "/v1/wallet/balance_transfer", body: #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"1"}"#)
        XCTAssertEqual(first.status, 201)

        let stream = try EventStreamReader(port: server.port, path: "/v1/wallet/accounts/2/events")
        defer { stream.close() }
        let initial = stream.waitForEvents(1)
        XCTAssertEqual(initial.count, 1)
        XCTAssertTrue(initial[0].block.hasPrefix("balance"), initial[0].block)
        XCTAssertEqual(EventStreamReader.data(initial[0].block)["balance"] as? String, "1.00")

        var latenciesMs: [Double] = []
        for index in 2...6 {
            let body = #"{"from_account":"1","to_account":"2","amount":"\#(index).00","currency":"USD","transaction_id":"\#(index)"}"#
            let answer = try server.request("POST", "/v1/wallet/balance_transfer", body: body)
            let committedAt = Date()
            XCTAssertEqual(answer.status, 201)
            let events = stream.waitForEvents(index)
            XCTAssertEqual(events.count, index)
            guard let event = events.last else { break }
            XCTAssertEqual(EventStreamReader.data(event.block)["op"] as? Int, answer.json["op"] as? Int)
            latenciesMs.append(event.at.timeIntervalSince(committedAt) * 1000)
        }
        XCTAssertEqual(EventStreamReader.data(stream.waitForEvents(6).last!.block)["balance"] as? String, "21.00")
        // The event is published before the writer answers, so it is usually there first (negative).
        XCTAssertLessThan(latenciesMs.max() ?? 1e9, 100, "\(latenciesMs)")

        // A client that reconnects from an op first gets every change since then, from the log.
        let replay = try EventStreamReader(port: server.port, path: "/v1/wallet/accounts/2/events?from_op=1")
        defer { replay.close() }
        let replayed = replay.waitForEvents(7)
        XCTAssertEqual(replayed.filter { $0.block.hasPrefix("change") }.map { EventStreamReader.data($0.block)["amount"] as? String },
                       ["1.00", "2.00", "3.00", "4.00", "5.00", "6.00"])
        XCTAssertTrue(replayed.last?.block.hasPrefix("balance") ?? false)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/99/events").status, 404)
    }
}
