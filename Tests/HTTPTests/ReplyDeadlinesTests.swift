// The writer's request timeouts: one sweep over deadlines in submission order.
import Foundation
@testable import HTTPShim
import XCTest

final class ReplyDeadlinesTests: XCTestCase {
    private final class Outcomes: @unchecked Sendable {
        private let lock = NSLock()
        private var byIndex: [Int: String] = [:]
        func set(_ index: Int, _ text: String) { lock.lock(); precondition(byIndex[index] == nil, "answered twice"); byIndex[index] = text; lock.unlock() }
        subscript(_ index: Int) -> String? { lock.lock(); defer { lock.unlock() }; return byIndex[index] }
    }

    func testOnlyUnansweredRepliesPastTheirDeadlineTimeOut() {
        let deadlines = LedgerWriter.ReplyDeadlines()
        let outcomes = Outcomes()
        var replies: [LedgerWriter.Reply] = []
        // Ten writes at 1 ms apart with a 100 ms timeout, and one hand-over with a long one.
        for index in 0..<10 {
            let reply = LedgerWriter.Reply(deadlineNs: 1_000_000 * UInt64(index) + 100_000_000) { result in
                switch result {
                case .success: outcomes.set(index, "ok")
                case .failure(let error): outcomes.set(index, (error as? Problem)?.slug ?? "\(error)")
                }
            }
            deadlines.add(reply, timeoutMs: 100)
            replies.append(reply)
        }
        let long = LedgerWriter.Reply(deadlineNs: 600_000_000_000) { _ in outcomes.set(99, "long") }
        deadlines.add(long, timeoutMs: 600_000)
        replies[0].resume(returning: WriteOutcome(result: 0, op: 1, stored: nil, account: nil))
        replies[3].resume(returning: WriteOutcome(result: 0, op: 1, stored: nil, account: nil))

        deadlines.sweep(nowNs: 50_000_000)
        XCTAssertNil(outcomes[1], "not yet due")
        deadlines.sweep(nowNs: 102_500_000)  // deadlines of 0, 1 and 2 have passed
        XCTAssertEqual(outcomes[0], "ok")
        XCTAssertEqual(outcomes[1], "timeout")
        XCTAssertEqual(outcomes[2], "timeout")
        XCTAssertEqual(outcomes[3], "ok")
        XCTAssertNil(outcomes[4])
        replies[4].resume(returning: WriteOutcome(result: 0, op: 2, stored: nil, account: nil))
        replies[1].resume(returning: WriteOutcome(result: 0, op: 2, stored: nil, account: nil))  // too late: ignored
        deadlines.sweep(nowNs: 200_000_000)
        XCTAssertEqual(outcomes[4], "ok")
        for index in 5..<10 { XCTAssertEqual(outcomes[index], "timeout") }
        XCTAssertNil(outcomes[99], "the long wait is not due")
    }
}
