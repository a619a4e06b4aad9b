// Messages from peers the Raft core dropped unread: counted for `status`, logged loudly but bounded.
import Consensus
import Foundation

/// A correct peer never sends a message the core drops (`StepResult.dropped`), so each one is
/// logged as an ERROR: a forged or corrupted message, or a bug. The log is bounded: the first
/// `linesPerWindowMax` of every `windowNs` in full, then how many more there were.
struct DroppedMessages {
    static let windowNs: UInt64 = 10_000_000_000
    static let linesPerWindowMax = 5

    private(set) var count: UInt64 = 0
    private var windowStartNs: UInt64 = 0
    private var linesInWindow = 0
    private var suppressedInWindow = 0

    /// Counts `result` if it is a drop; returns the line to log now, if any.
    mutating func record(_ result: StepResult, from peer: Int, term: UInt64, nowNs: UInt64) -> String? {
        guard case .dropped(let why) = result else { return nil }
        count += 1
        var lines: [String] = []
        if nowNs - windowStartNs >= DroppedMessages.windowNs {
            if suppressedInWindow > 0 { lines.append("ERROR: dropped \(suppressedInWindow) more Raft messages in the last 10 s") }
            windowStartNs = nowNs
            linesInWindow = 0
            suppressedInWindow = 0
        }
        if linesInWindow < DroppedMessages.linesPerWindowMax {
            linesInWindow += 1
            lines.append("ERROR: DROPPED a Raft message from replica \(peer) (term \(term)): \(why)")
        } else {
            suppressedInWindow += 1
        }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }
}
