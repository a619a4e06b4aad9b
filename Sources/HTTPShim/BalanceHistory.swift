// Past balances without a replay: the read model remembers, per account, each balance column's
// value after every batch that changed it, over a bounded window of recent ops.
import LedgerCore

/// What `GET /v1/wallet/accounts/{id}?at_op=N` (or `?at_time=T`) needs for any op in the window,
/// kept as the read model publishes batches: for each account a batch changed, the new value of
/// each of its four balance columns that changed. A past balance is then four binary searches
/// (microseconds) instead of a snapshot restore and a replay (seconds).
///
/// Bounded: at most `entriesMax` entries (24 bytes each, plus the arrays' spare capacity: up to
/// as much again) in two generations. When the newer one
/// reaches half, it becomes the older, the older is dropped, and a new one starts at the current op;
/// so the window always reaches back at least `entriesMax / 2` changes. Ops before the window (and
/// an instant inside a batch that changed the account) are rebuilt from the log by `History` instead.
/// Not thread-safe: the read model holds it under its lock.
struct BalanceHistory {
    /// A column's value from `op` on, until the column's next entry.
    struct Entry {
        var op: UInt64
        var low: UInt64
        var high: UInt64
        var value: UInt128 { UInt128(high) << 64 | UInt128(low) }
    }

    /// The four balance columns of an account; a column never changed in the generation has no
    /// entries (its value at the generation's end is the next one's, or the current).
    struct Track {
        var debitsPending: [Entry] = []
        var debitsPosted: [Entry] = []
        var creditsPending: [Entry] = []
        var creditsPosted: [Entry] = []

        func entries(_ column: Column) -> [Entry] {
            switch column {
            case .debitsPending: debitsPending
            case .debitsPosted: debitsPosted
            case .creditsPending: creditsPending
            case .creditsPosted: creditsPosted
            }
        }

        /// Notes each column `before` and `after` differ in; returns the entries added.
        mutating func record(op: UInt64, startOp: UInt64, before: Account?, after: Account) -> Int {
            Track.note(&debitsPending, before?.debitsPending ?? 0, after.debitsPending, op: op, startOp: startOp)
                + Track.note(&debitsPosted, before?.debitsPosted ?? 0, after.debitsPosted, op: op, startOp: startOp)
                + Track.note(&creditsPending, before?.creditsPending ?? 0, after.creditsPending, op: op, startOp: startOp)
                + Track.note(&creditsPosted, before?.creditsPosted ?? 0, after.creditsPosted, op: op, startOp: startOp)
        }

        /// A column's first change in the generation also notes its value at the generation's start,
        /// so a search never falls off the front.
        private static func note(_ entries: inout [Entry], _ old: UInt128, _ new: UInt128, op: UInt64, startOp: UInt64) -> Int {
            guard old != new else { return 0 }
            var added = 1
            if entries.isEmpty {
                entries.append(Entry(op: startOp, low: UInt64(truncatingIfNeeded: old), high: UInt64(old >> 64)))
                added += 1
            }
            entries.append(Entry(op: op, low: UInt64(truncatingIfNeeded: new), high: UInt64(new >> 64)))
            return added
        }
    }

    enum Column: Int, CaseIterable {
        case debitsPending, debitsPosted, creditsPending, creditsPosted

        func value(of account: Account) -> UInt128 {
            switch self {
            case .debitsPending: account.debitsPending
            case .debitsPosted: account.debitsPosted
            case .creditsPending: account.creditsPending
            case .creditsPosted: account.creditsPosted
            }
        }

        func set(_ value: UInt128, in account: inout Account) {
            switch self {
            case .debitsPending: account.debitsPending = value
            case .debitsPosted: account.debitsPosted = value
            case .creditsPending: account.creditsPending = value
            case .creditsPosted: account.creditsPosted = value
            }
        }
    }

    /// Changes from `startOp` (exclusive) on. Each track's first entry of a column is its value at
    /// `startOp`, so a search never falls off the front.
    struct Generation {
        let startOp: UInt64
        var tracks: [UInt128: Track] = [:]
        var entries = 0
    }

    /// The first record's timestamp and the record count of a batch: enough to place an instant.
    struct BatchTime {
        var timestampNs: UInt64
        var recordCount: Int
        var lastRecordTimestampNs: UInt64 { timestampNs + UInt64(max(recordCount, 1) - 1) }

        init(timestampNs: UInt64, recordCount: Int) {
            self.timestampNs = timestampNs
            self.recordCount = recordCount
        }

        init(_ header: BatchHeader) {
            self.init(timestampNs: header.timestampNs, recordCount: Int(header.recordCount))
        }
    }

    /// `balance_history_entries_max`: entries held at most (0: no history; every past read replays).
    let entriesMax: Int
    private(set) var generations: [Generation]
    /// Times of ops `timesFirstOp...` (the window's start op too when its header was known).
    private var times: [BatchTime] = []
    private var timesFirstOp: UInt64
    private(set) var lastOp: UInt64

    /// A window that starts at `op`; `startBatch`: that op's batch time, when known.
    init(entriesMax: Int, startOp op: UInt64, startBatch: BatchTime?) {
        precondition(entriesMax >= 0)
        self.entriesMax = entriesMax
        generations = entriesMax == 0 ? [] : [Generation(startOp: op)]
        lastOp = op
        timesFirstOp = op + 1
        if let startBatch, entriesMax > 0 {
            times = [startBatch]
            timesFirstOp = op
        }
    }

    var entriesCount: Int { generations.reduce(0) { $0 + $1.entries } }
    /// The oldest op a past balance can be read at without a replay (nil: no history kept).
    var windowStartOp: UInt64? { generations.first?.startOp }

    /// Batch `op` (the next after `lastOp`) changed `changes` (each account before and after it).
    mutating func record(op: UInt64, batch: BatchTime, changes: [(before: Account?, after: Account)]) {
        precondition(op == lastOp + 1, "the history moves forward one batch at a time")
        lastOp = op
        guard !generations.isEmpty else { return }
        times.append(batch)
        let last = generations.count - 1
        let startOp = generations[last].startOp
        for (before, after) in changes where before.map({ !Self.sameBalances($0, after) }) ?? true {
            generations[last].entries += generations[last].tracks[after.id, default: Track()].record(op: op, startOp: startOp, before: before, after: after)
        }
        if generations[last].entries >= max(entriesMax / 2, 1) {
            generations.append(Generation(startOp: op))
            if generations.count > 2 { generations.removeFirst() }
            let keepFrom = generations[0].startOp
            if keepFrom > timesFirstOp {
                times.removeFirst(Int(keepFrom - timesFirstOp))
                timesFirstOp = keepFrom
            }
        }
    }

    private static func sameBalances(_ a: Account, _ b: Account) -> Bool {
        a.debitsPending == b.debitsPending && a.debitsPosted == b.debitsPosted && a.creditsPending == b.creditsPending && a.creditsPosted == b.creditsPosted
    }

    /// The batch time of `op`, when the window holds it.
    func batchTime(op: UInt64) -> BatchTime? {
        guard op >= timesFirstOp, op <= lastOp else { return nil }
        return times[Int(op - timesFirstOp)]
    }

    /// `current` (the account now, at `lastOp`) as it was right after batch `op`; nil when `op` is
    /// before the window. Existence at that op is the caller's (by the account's timestamp).
    func account(_ current: Account, atOp op: UInt64) -> Account? {
        guard let start = windowStartOp, op >= start, op <= lastOp else { return nil }
        var past = current
        let newest = generations.lastIndex { $0.startOp <= op }!
        for column in Column.allCases {
            var index = newest
            var at = op
            var found: UInt128?
            while index < generations.count {
                if let entries = generations[index].tracks[current.id]?.entries(column), !entries.isEmpty {
                    found = entries.value(atOp: at)
                    break
                }
                index += 1
                if index < generations.count { at = generations[index].startOp }
            }
            column.set(found ?? column.value(of: current), in: &past)
        }
        return past
    }

    /// Whether batch `op` changed any balance of the account.
    func changed(_ id: UInt128, inOp op: UInt64) -> Bool {
        for generation in generations where generation.startOp < op {
            guard let track = generation.tracks[id] else { continue }
            for column in Column.allCases where track.entries(column).contains(op: op) { return true }
        }
        return false
    }

    /// The last op in the window whose batch starts at or before `timestampNs` (nil: none does).
    func lastOp(startingAtOrBefore timestampNs: UInt64) -> UInt64? {
        guard let first = times.first, first.timestampNs <= timestampNs else { return nil }
        var low = 0
        var high = times.count - 1
        while low < high {
            let middle = low + (high - low + 1) / 2
            if times[middle].timestampNs <= timestampNs { low = middle } else { high = middle - 1 }
        }
        return timesFirstOp + UInt64(low)
    }
}

extension Array where Element == BalanceHistory.Entry {
    /// The value of the last entry at or before `op` (the first entry is at or before any op asked).
    fileprivate func value(atOp op: UInt64) -> UInt128 {
        var low = 0
        var high = count - 1
        precondition(self[0].op <= op)
        while low < high {
            let middle = low + (high - low + 1) / 2
            if self[middle].op <= op { low = middle } else { high = middle - 1 }
        }
        return self[low].value
    }

    fileprivate func contains(op: UInt64) -> Bool {
        var low = 0
        var high = count - 1
        while low <= high {
            let middle = (low + high) / 2
            if self[middle].op == op { return true }
            if self[middle].op < op { low = middle + 1 } else { high = middle - 1 }
        }
        return false
    }
}
