// Log lines for what a stranger or a faulty peer can cause at will: loud, but bounded.
import Consensus
import Foundation

/// At most `linesPerWindowMax` lines per `windowNs` in full, then a count of the rest: a flood of
/// forged frames cannot flood the log. Not thread-safe: callers share one behind a lock (and
/// may read their clock outside it, so a reading earlier than the window's start is expected).
public struct BoundedLog: Sendable {
    public static let windowNs: UInt64 = 10_000_000_000
    public static let linesPerWindowMax = 5

    private var windowStartNs: UInt64 = 0
    private var linesInWindow = 0
    private var suppressedInWindow = 0

    public init() {}

    /// What to write now for `line` (nil: suppressed, counted for the next window's summary).
    public mutating func admit(_ line: String, nowNs: UInt64) -> String? {
        var lines: [String] = []
        // A clock reading earlier than the window's start (callers on different threads) starts a window too.
        if nowNs < windowStartNs || nowNs - windowStartNs >= BoundedLog.windowNs {
            if suppressedInWindow > 0 { lines.append("(\(suppressedInWindow) more such lines in the last 10 s)") }
            windowStartNs = nowNs
            linesInWindow = 0
            suppressedInWindow = 0
        }
        if linesInWindow < BoundedLog.linesPerWindowMax {
            linesInWindow += 1
            lines.append(line)
        } else {
            suppressedInWindow += 1
        }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }
}

/// Messages from peers the Raft core dropped unread (`StepResult.dropped`): a correct peer never
/// sends one, so each is an ERROR (a forged or corrupted message, or a bug), counted for `status`.
struct DroppedMessages {
    private(set) var count: UInt64 = 0
    private var log = BoundedLog()

    /// Counts `result` if it is a drop; returns the line to log now, if any.
    mutating func record(_ result: StepResult, from peer: Int, term: UInt64, nowNs: UInt64) -> String? {
        guard case .dropped(let why) = result else { return nil }
        count += 1
        return log.admit("ERROR: DROPPED a Raft message from replica \(peer) (term \(term)): \(why)", nowNs: nowNs)
    }
}
