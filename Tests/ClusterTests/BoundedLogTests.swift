// The bounded log that guards the log file against floods (forged frames, refused HTTP requests).
import Cluster
import Dispatch
import XCTest

final class BoundedLogTests: XCTestCase {
    func testAWindowAdmitsItsLinesThenCountsTheRest() {
        var log = BoundedLog()
        let startNs: UInt64 = 50_000_000_000
        let admitted = (0..<12).compactMap { log.admit("line \($0)", nowNs: startNs + UInt64($0)) }
        XCTAssertEqual(admitted, (0..<BoundedLog.linesPerWindowMax).map { "line \($0)" })
        let next = log.admit("later", nowNs: startNs + BoundedLog.windowNs)
        XCTAssertEqual(next, "(\(12 - BoundedLog.linesPerWindowMax) more such lines in the last 10 s)\nlater")
    }

    /// Threads that read the clock before taking the lock hand in readings earlier than a window
    /// another thread just started: that starts a window, it must not trap on `-` (it did: the
    /// HTTP door's refusal log crashed `serve` when 25 slow connections timed out at once).
    func testAReadingEarlierThanTheWindowsStartDoesNotTrap() {
        var log = BoundedLog()
        XCTAssertEqual(log.admit("a", nowNs: 20_000_000_000), "a")
        XCTAssertEqual(log.admit("b", nowNs: 19_999_999_999), "b")
        XCTAssertEqual(log.admit("c", nowNs: 0), "c")
    }

    /// Many threads at once, each reading the clock outside the lock, at the first window (the
    /// moment the door's log crashed): every reading is admitted or counted, none traps.
    func testConcurrentLoggersWithTheirOwnClockReadings() {
        let box = LockedLog()
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<2_000 {
                let nowNs = DispatchTime.now().uptimeNanoseconds
                box.admit("\(thread).\(index)", nowNs: nowNs)
            }
        }
        XCTAssertGreaterThanOrEqual(box.admittedLines, BoundedLog.linesPerWindowMax)
    }
}

private final class LockedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var log = BoundedLog()
    private(set) var admittedLines = 0

    func admit(_ line: String, nowNs: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        if log.admit(line, nowNs: nowNs) != nil { admittedLines += 1 }
    }
}
