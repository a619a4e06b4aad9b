// At least 10,000 malformed requests at a live server; afterwards it still serves, its in-flight
// accounting is exact (exactly in_flight_requests_max concurrent transfers all succeed, and the
// gauge reads 0), and verify passes. `make fuzz-http SECONDS=N` runs the same for N seconds.
import Foundation
import TestSupport
import XCTest

final class HTTPFuzzTests: XCTestCase {
    private static let inFlightRequestsMax = 16

    func testMalformedRequestsLeaveTheServerServingWithExactAccounting() throws {
        let environment = ProcessInfo.processInfo.environment
        let seconds = environment["FUZZ_HTTP_SECONDS"].flatMap(Double.init)
        let casesMin = environment["FUZZ_HTTP_CASES"].flatMap(Int.init) ?? 10_000
        let seed = environment["FUZZ_HTTP_SEED"].flatMap(UInt64.init) ?? 20_261_202
        // Every loop is bounded: the cases asked for, or the seconds asked for, and never past this.
        let hardLimitS = max(seconds ?? 0, 240) + 60
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        var server: ServeProcess? = try ServeProcess(data: data, arguments: [
            "--in-flight-requests-max", String(HTTPFuzzTests.inFlightRequestsMax), "--connections-max", "64",
            "--request-head-timeout-ms", "1000", "--request-body-timeout-ms", "1000", "--connection-idle-timeout-ms", "1000",
            "--request-timeout-ms", "3000",
        ])
        defer { server?.stop(signal: SIGKILL) }
        for id in ["1", "2"] {
            XCTAssertEqual(try server!.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"\#(id)","currency":"USD"}"#).status, 201)
        }

        let fuzzer = HTTPFuzzer(seed: seed)
        let port = server!.port
        let next = Locked(0)
        let mergedReports = Locked(FuzzReport())
        let started = Date()
        @Sendable func more() -> Int? {
            next.with { next in
                let elapsed = Date().timeIntervalSince(started)
                let wanted = next < casesMin || (seconds.map { elapsed < $0 } ?? false)
                guard wanted, elapsed < hardLimitS else { return nil }
                next += 1
                return next - 1
            }
        }
        let done = DispatchGroup()
        let workers = (0..<8).map { _ in
            Thread {
                defer { done.leave() }
                var report = FuzzReport()
                while let index = more() { runFuzzCase(fuzzer.fuzzCase(index), index: index, port: port, report: &report) }
                mergedReports.with { merged in
                    merged.cases += report.cases
                    merged.answered += report.answered
                    merged.statuses.merge(report.statuses, uniquingKeysWith: +)
                    merged.problems += report.problems
                }
            }
        }
        for worker in workers {
            done.enter()
            worker.start()
        }
        XCTAssertEqual(done.wait(timeout: .now() + hardLimitS + 30), .success, "the fuzzing client hung")
        let elapsed = Date().timeIntervalSince(started)
        let merged = mergedReports.with { $0 }
        print("fuzz-http: seed \(seed): \(merged.cases) cases in \(String(format: "%.1f", elapsed)) s, \(merged.answered) answered; statuses \(merged.statuses.sorted { $0.key < $1.key })")

        XCTAssertGreaterThanOrEqual(merged.cases, casesMin)
        XCTAssertTrue(merged.problems.isEmpty, "\(merged.problems.count) bad answers (replay one with FUZZ_HTTP_SEED=\(seed)):\n" + merged.problems.prefix(20).joined(separator: "\n"))
        XCTAssertTrue(server!.process.isRunning, "the server died:\n\(server!.output.all.suffix(4000))")
        XCTAssertEqual(try server!.request("GET", "/healthz").status, 200)
        try DoorMetrics.waitForNoRequestInFlight(server!)

        // Exactly in_flight_requests_max transfers at once, one per connection, on the fast path and
        // through the router: a slot leaked by any case above would turn one of them into a 503.
        for routed in [false, true] {
            let connections = try (0..<HTTPFuzzTests.inFlightRequestsMax).map { _ in try RawHTTPConnection(port: port) }
            for (index, connection) in connections.enumerated() {
                let id = 900_000 + index + (routed ? 100 : 0)
                let body = routed ? #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"US\u0044","transaction_id":"\#(id)"}"#
                    : #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"\#(id)"}"#
                connection.send("POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            }
            for (index, connection) in connections.enumerated() {
                let answer = connection.readAnswer()
                XCTAssertEqual(answer?.status, 201, "\(routed ? "routed" : "fast") transfer \(index): \(answer?.body ?? "no answer")")
            }
            try DoorMetrics.waitForNoRequestInFlight(server!)
        }

        server!.stop()
        XCTAssertEqual(server!.process.terminationStatus, 0, server!.output.all.suffix(2000).description)
        server = nil
        let verify = try runWallet(["verify", "--data", data])
        XCTAssertEqual(verify.status, 0, verify.output)
        XCTAssertTrue(verify.output.contains("verify: OK"), verify.output)
    }
}
