// docs/openapi.yaml against a live `wallet serve`, by Schemathesis (property-based, from PyPI;
// scripts/setup.sh installs it): no 5xx, answers as documented, no schema-valid request refused.
import Foundation
import TestSupport
import XCTest

final class SchemathesisTests: XCTestCase {
    func testTheOpenAPIDocumentHoldsAgainstALiveServer() throws {
        let directory = TemporaryDirectory()
        let server = try ServeProcess(data: directory.path + "/data")
        // A few accounts and a transfer, so generated reads and writes meet real ones too.
        for (id, currency) in [("1", "USD"), ("2", "USD"), ("101", "JPY"), ("102", "JPY"), ("42", "BHD")] {
            XCTAssertEqual(try server.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"\#(id)","currency":"\#(currency)"}"#).status, 201)
        }
        XCTAssertEqual(try server.request("POST", "/v1/wallet/balance_transfer",
                                          body: #"{"from_account":"1","to_account":"2","amount":"5.00","currency":"USD","transaction_id":"42"}"#).status, 201)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/schemathesis.sh").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, server.baseURL, "30"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = OutputLines()
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if !chunk.isEmpty { output.append(chunk) }
        }
        try process.run()
        // Bounded: 30 examples per operation take about 15 s here; past 300 s it is stopped and fails.
        let deadline = Date(timeIntervalSinceNow: 300)
        while process.isRunning && Date() < deadline { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        pipe.fileHandleForReading.readabilityHandler = nil
        XCTAssertEqual(process.terminationStatus, 0, output.all)
        XCTAssertTrue(output.all.contains(" passed"), output.all)
        XCTAssertTrue(server.process.isRunning, "the server stopped:\n\(server.output.all)")
        XCTAssertEqual(try server.request("GET", "/healthz").status, 200)
        XCTAssertEqual(try server.request("GET", "/v1/wallet/accounts/2").status, 200)
        try DoorMetrics.waitForNoRequestInFlight(server)
    }
}
