// A replica's reads that wait for an op: answered by the batch that makes them due, by one hop
// when already due, or with a timeout.
import Foundation
@testable import HTTPShim
import LedgerCore
import XCTest

final class AppliedReadsTests: XCTestCase {
    private final class Hops: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var count = 0
        func add() { lock.lock(); count += 1; lock.unlock() }
    }

    func testReadsAreAnsweredWhenTheirOpIsAppliedOrTimeOut() async throws {
        let ledger = Ledger()
        let hops = Hops()
        // The "replica thread" here runs the hop at once, with the ledger at op 3.
        let reads = AppliedReads(hop: { body in hops.add(); body(ledger, 3) })

        // Already applied (op 2 <= 3): one hop answers it.
        let early = try await reads.wait(until: 2, appliedOp: { 3 }, timeoutMs: 1_000) { _ in "early" }
        XCTAssertEqual(early, "early")
        XCTAssertEqual(hops.count, 1)

        // Not yet applied (op 5): no hop; the batch that applies op 5 answers it.
        let later = Task { try await reads.wait(until: 5, appliedOp: { 3 }, timeoutMs: 5_000) { _ in "later" } }
        try await Task.sleep(for: .milliseconds(50))
        reads.drain(ledger, appliedOp: 4)
        try await Task.sleep(for: .milliseconds(20))
        reads.drain(ledger, appliedOp: 5)
        let answer = try await later.value
        XCTAssertEqual(answer, "later")
        XCTAssertEqual(hops.count, 1, "waiting for a batch needs no hop")

        // Never applied: answered 503 after request_timeout_ms (swept every 20 ms).
        let started = Date()
        do {
            _ = try await reads.wait(until: 99, appliedOp: { 5 }, timeoutMs: 100) { _ in "never" }
            XCTFail("op 99 was never applied")
        } catch let problem as Problem {
            XCTAssertEqual(problem.slug, "timeout")
        }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.09)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
    }
}
