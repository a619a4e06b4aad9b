// The core's view of the log: terms and payloads by index, from `firstIndex` on.

/// In-memory log of the Raft core. Index 0 is the empty prefix with term 0.
///
/// Payloads are whatever the shell chose (in the runtime, small handles to batches in segment
/// files), so holding the whole log here costs little. `stableIndex` is the last index the shell
/// has durably persisted; entries after it exist only in memory and die with the process.
///
/// Entries up to `snapshotIndex` may be compacted away (a snapshot holds their effect); only the
/// term at `snapshotIndex` is kept, so appends after it can still be matched (Raft §7).
struct RaftLog<Payload: Sendable> {
    private(set) var entries: [Entry<Payload>] = []
    /// Index of `entries[0]`: one past the snapshot's index.
    private(set) var firstIndex: UInt64 = 1
    /// The term of the entry at `snapshotIndex` (0 when nothing was compacted).
    private(set) var snapshotTerm: UInt64 = 0
    private(set) var stableIndex: UInt64 = 0

    /// `restored` are the entries after (`snapshotIndex`, `snapshotTerm`).
    init(restored: [Entry<Payload>], snapshotIndex: UInt64 = 0, snapshotTerm: UInt64 = 0) {
        precondition(snapshotIndex > 0 || snapshotTerm == 0)
        entries = restored
        firstIndex = snapshotIndex + 1
        self.snapshotTerm = snapshotTerm
        stableIndex = snapshotIndex + UInt64(restored.count)
    }

    /// The last index whose entry was compacted into a snapshot (0: none).
    var snapshotIndex: UInt64 { firstIndex - 1 }

    var lastIndex: UInt64 { firstIndex + UInt64(entries.count) - 1 }
    var lastTerm: UInt64 { term(at: lastIndex)! }

    /// The term at `index`, 0 at index 0, the snapshot's term at its index; nil past the end or
    /// before the snapshot (compacted).
    func term(at index: UInt64) -> UInt64? {
        if index == 0 { return 0 }
        if index == snapshotIndex { return snapshotTerm }
        guard index >= firstIndex, index <= lastIndex else { return nil }
        return entries[Int(index - firstIndex)].term
    }

    func entry(at index: UInt64) -> Entry<Payload> {
        precondition(index >= firstIndex && index <= lastIndex)
        return entries[Int(index - firstIndex)]
    }

    func entries(from start: UInt64, through end: UInt64) -> [Entry<Payload>] {
        guard start <= end else { return [] }
        precondition(start >= firstIndex && end <= lastIndex)
        return Array(entries[Int(start - firstIndex)...Int(end - firstIndex)])
    }

    /// Raft §5.4.1: a log is at least as up to date as ours if its last term is higher, or equal
    /// with a last index at least ours.
    func isUpToDate(lastIndex otherIndex: UInt64, lastTerm otherTerm: UInt64) -> Bool {
        otherTerm > lastTerm || (otherTerm == lastTerm && otherIndex >= lastIndex)
    }

    mutating func append(_ entry: Entry<Payload>) {
        entries.append(entry)
    }

    /// Drops every entry after `index`; the stable mark follows if it was past it.
    mutating func truncate(after index: UInt64) {
        precondition(index + 1 >= firstIndex && index <= lastIndex)
        entries.removeLast(Int(lastIndex - index))
        stableIndex = min(stableIndex, index)
    }

    /// Drops the entries through `index` (a snapshot now holds them), keeping its term.
    mutating func compact(through index: UInt64) {
        precondition(index >= snapshotIndex && index <= lastIndex, "compact within the log: \(index) is outside \(snapshotIndex)...\(lastIndex)")
        guard index > snapshotIndex else { return }
        snapshotTerm = term(at: index)!
        entries.removeFirst(Int(index - snapshotIndex))
        firstIndex = index + 1
        stableIndex = max(stableIndex, index)
    }

    /// Takes a leader's snapshot at (`index`, `term`): when this log holds that very entry, only
    /// the prefix goes and the suffix stays (returns true); otherwise the whole log is replaced.
    mutating func installSnapshot(index: UInt64, term snapshotTermGiven: UInt64, keepIfMatching: Bool) -> Bool {
        precondition(index > snapshotIndex)
        if keepIfMatching, index <= lastIndex, term(at: index) == snapshotTermGiven {
            compact(through: index)
            return true
        }
        entries = []
        firstIndex = index + 1
        snapshotTerm = snapshotTermGiven
        stableIndex = index
        return false
    }

    mutating func markStable(through index: UInt64) {
        precondition(index <= lastIndex)
        stableIndex = max(stableIndex, index)
    }

    /// The first index of the term at `index` (for a rejection hint that skips a whole term).
    func firstIndex(ofTermAt index: UInt64) -> UInt64 {
        guard let term = term(at: index), index >= firstIndex else { return index }
        var cursor = index
        while cursor > firstIndex, self.term(at: cursor - 1) == term { cursor -= 1 }
        return cursor
    }
}
