// History: past balances and account histories checked against a brute-force, record-by-record replay.
import Foundation
import LedgerCore
import Randomness
@testable import Replica
import Storage
import TestSupport
import XCTest

final class HistoryTests: XCTestCase {
    static let usd = CurrencyCode.parse("USD")!
    static let accountsCount = 40

    /// A log of many small batches with plain, pending, posted (fully and partly) and voided
    /// transfers, some invalid, and two snapshots along the way. Returns the data path.
    private func makeLog(_ directory: TemporaryDirectory, seed: UInt64) throws -> String {
        let path = directory.path + "/data"
        _ = try DataDirectory.format(path: path, clusterId: 7, segmentSizeBytes: 4 << 20)
        let node = try LocalNode(path: path)
        var random = SplitMix64(seed: seed)
        let accounts = (1...HistoryTests.accountsCount).map { index in
            Account(id: UInt128(index), ledger: HistoryTests.usd, flags: index == 1 ? [] : [.debitsMustNotExceedCredits])
        }
        try node.ingest(accounts: Array(accounts[0..<20]))
        var nextId: UInt128 = 1000
        var pendingIds: [UInt128] = []
        for round in 0..<60 {
            if round == 10 { try node.ingest(accounts: Array(accounts[20...])) }
            var transfers: [Transfer] = []
            let accountsNow = round < 10 ? 20 : HistoryTests.accountsCount
            for _ in 0..<(5 + random.below(120)) {
                nextId += 1
                let debit = UInt128(1 + random.below(accountsNow))
                var credit = UInt128(1 + random.below(accountsNow))
                if credit == debit { credit = debit % UInt128(accountsNow) + 1 }
                let roll = random.below(10)
                if round < 3 || debit == 1 {
                    transfers.append(Transfer(id: nextId, debitAccountId: 1, creditAccountId: credit == 1 ? 2 : credit, amount: UInt128(1_000 + random.below(5_000)), ledger: HistoryTests.usd))
                } else if roll < 2 {
                    transfers.append(Transfer(id: nextId, debitAccountId: debit, creditAccountId: credit, amount: UInt128(1 + random.below(300)), ledger: HistoryTests.usd, flags: .pending))
                    pendingIds.append(nextId)
                } else if roll < 4, !pendingIds.isEmpty {
                    let pendingId = pendingIds.remove(at: random.below(pendingIds.count))
                    let flags: TransferFlags = roll == 2 ? .postPending : .voidPending
                    // Posts are full (amount 0) or partial; some name a pending transfer already resolved.
                    let amount: UInt128 = flags == .postPending && random.below(2) == 0 ? UInt128(1 + random.below(50)) : 0
                    transfers.append(Transfer(id: nextId, debitAccountId: 0, creditAccountId: 0, amount: amount, ledger: 0, flags: flags, pendingId: pendingId))
                    if random.below(4) == 0 { pendingIds.append(pendingId) }
                } else if roll == 4 {
                    // Invalid: unknown account, or more than any wallet holds.
                    transfers.append(Transfer(id: nextId, debitAccountId: debit, creditAccountId: random.below(2) == 0 ? 999 : credit, amount: 1 << 60, ledger: HistoryTests.usd))
                } else {
                    transfers.append(Transfer(id: nextId, debitAccountId: debit, creditAccountId: credit, amount: UInt128(1 + random.below(800)), ledger: HistoryTests.usd))
                }
            }
            try node.ingest(transfers: transfers[...])
            if round == 20 || round == 45 { try node.compact() }
        }
        return path
    }

    /// The brute force: a fresh ledger fed one record at a time, in log order, calling `visit`
    /// after each record with (op, record index, record timestamp, ledger).
    private func bruteForce(_ log: SegmentLog, hashSeed: UInt64, visit: (UInt64, Int, UInt64, Ledger) -> Void) {
        let ledger = Ledger(hashSeed: hashSeed)
        let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 1)
        defer { results.deallocate() }
        for op in 1...log.lastOp {
            let batch = log.batch(op: op)
            let timestampNs = batch.header.timestampNs
            switch batch.recordKind {
            case .noop: ledger.apply(batch, results: results)
            case .accounts:
                for index in 0..<batch.recordCount {
                    ledger.createAccounts(UnsafeBufferPointer(rebasing: batch.accounts[index..<(index + 1)]), timestampNs: timestampNs + UInt64(index), results: results)
                    visit(op, index, timestampNs + UInt64(index), ledger)
                }
            case .transfers:
                for index in 0..<batch.recordCount {
                    ledger.createTransfers(UnsafeBufferPointer(rebasing: batch.transfers[index..<(index + 1)]), timestampNs: timestampNs + UInt64(index), results: results)
                    visit(op, index, timestampNs + UInt64(index), ledger)
                }
            }
        }
    }

    func testBalancesAtRandomOpsAndInstantsMatchABruteForceReplay() throws {
        let directory = TemporaryDirectory()
        let path = try makeLog(directory, seed: 11)
        let data = try DataDirectory.open(path: path)
        let log = try data.openLog(readOnly: true)
        let clusterId = data.superblock.clusterId
        XCTAssertEqual(try SnapshotFile.list(dataPath: path).count, 2)
        XCTAssertGreaterThan(log.lastOp, 60)
        var random = SplitMix64(seed: 99)
        let firstNs = log.batch(op: 1).header.timestampNs
        let lastHeader = log.batch(op: log.lastOp).header
        let lastNs = lastHeader.timestampNs + UInt64(lastHeader.recordCount)
        // Random ops (some right at and around the snapshots) and random instants, each rebuilt by History.
        let snapshotOps = try SnapshotFile.list(dataPath: path).map(\.op)
        var ops = (0..<12).map { _ in UInt64(1 + random.below(Int(log.lastOp))) } + snapshotOps + snapshotOps.map { $0 + 1 } + [1, log.lastOp]
        ops = Array(Set(ops)).sorted()
        // Instants anywhere (mostly between batches: their timestamps are wall-clock ns apart) and
        // instants on records inside batches, where only a prefix of the batch is in the past.
        var instants = (0..<8).map { _ in firstNs + UInt64(random.below(Int(lastNs - firstNs))) }
        for _ in 0..<12 {
            let header = log.batch(op: UInt64(1 + random.below(Int(log.lastOp)))).header
            instants.append(header.timestampNs + UInt64(random.below(Int(max(header.recordCount, 1)))))
        }
        instants = Array(Set(instants)).sorted()
        var expectedAtOp: [UInt64: [Account?]] = [:]
        var expectedAtInstant: [UInt64: [Account?]] = [:]
        var instantCursor = 0
        func accountsNow(_ ledger: Ledger) -> [Account?] { (1...HistoryTests.accountsCount).map { ledger.account(id: UInt128($0)) } }
        bruteForce(log, hashSeed: LocalNode.hashSeed(clusterId: clusterId)) { op, index, timestampNs, ledger in
            // The state at an instant is the state after the last record at or before it.
            while instantCursor < instants.count, instants[instantCursor] < timestampNs {
                instantCursor += 1
            }
            if instantCursor < instants.count {
                for instant in instants[instantCursor...] where instant >= timestampNs { expectedAtInstant[instant] = accountsNow(ledger) }
            }
            if ops.contains(op), index == log.batch(op: op).recordCount - 1 { expectedAtOp[op] = accountsNow(ledger) }
        }
        for op in ops {
            var problems: [String] = []
            let point = try History.point(afterOp: op, in: log)
            let (ledger, snapshotOp) = try History.ledger(at: point, dataPath: path, log: log, clusterId: clusterId, problems: &problems)
            XCTAssertEqual(problems, [])
            XCTAssertLessThanOrEqual(snapshotOp, op)
            if let newest = snapshotOps.filter({ $0 <= op }).max() { XCTAssertEqual(snapshotOp, newest, "the nearest snapshot at or before op \(op) is used") }
            XCTAssertEqual(accountsNow(ledger), expectedAtOp[op], "balances at op \(op)")
        }
        for instant in instants {
            var problems: [String] = []
            let point = try XCTUnwrap(History.point(atTimeNs: instant, in: log))
            XCTAssertLessThanOrEqual(point.timestampNs, instant)
            let (ledger, _) = try History.ledger(at: point, dataPath: path, log: log, clusterId: clusterId, problems: &problems)
            XCTAssertEqual(accountsNow(ledger), expectedAtInstant[instant], "balances at \(Instant.format(ns: instant)) (op \(point.op), \(point.records) records)")
        }
        XCTAssertTrue(try instants.contains { try !History.point(atTimeNs: $0, in: log)!.isWholeBatch }, "some instants fall inside a batch")
        XCTAssertNil(try History.point(atTimeNs: firstNs - 1, in: log), "nothing is at or before an instant before the first record")
        XCTAssertThrowsError(try History.point(afterOp: log.lastOp + 1, in: log))
    }

    func testAccountHistoryListsEveryChangeWithTheBalanceAfterIt() throws {
        let directory = TemporaryDirectory()
        let path = try makeLog(directory, seed: 23)
        let data = try DataDirectory.open(path: path)
        let log = try data.openLog(readOnly: true)
        let clusterId = data.superblock.clusterId
        // The brute force: every record after which the account's balances changed.
        let watched: [UInt128] = [1, 3, 25]
        var changes: [UInt128: [(op: UInt64, index: Int, after: Account)]] = [:]
        var last: [UInt128: Account] = [:]
        bruteForce(log, hashSeed: LocalNode.hashSeed(clusterId: clusterId)) { op, index, _, ledger in
            for id in watched {
                guard let now = ledger.account(id: id) else { continue }
                if let before = last[id], before != now { changes[id, default: []].append((op, index, now)) }
                last[id] = now
            }
        }
        let ranges: [ClosedRange<UInt64>] = [1...log.lastOp, 30...(log.lastOp - 5), 50...50]
        for id in watched {
            XCTAssertFalse(changes[id, default: []].isEmpty)
            for range in ranges {
                var problems: [String] = []
                let found = try History.account(id, ops: range, entriesMax: 1_000_000, dataPath: path, log: log, clusterId: clusterId, problems: &problems)
                XCTAssertNil(found.continueFromOp)
                let expected = changes[id, default: []].filter { range.contains($0.op) }
                XCTAssertEqual(found.entries.map(\.op), expected.map(\.op), "account \(id), ops \(range)")
                XCTAssertEqual(found.entries.map(\.recordIndex), expected.map(\.index), "account \(id), ops \(range)")
                XCTAssertEqual(found.entries.map(\.after), expected.map(\.after), "account \(id), ops \(range)")
            }
        }
        func history(_ id: UInt128, _ range: ClosedRange<UInt64>, fromRecord: Int = 0, entriesMax: Int = 1_000_000, wholeBatches: Bool = false) throws -> AccountHistory {
            var problems: [String] = []
            return try History.account(id, ops: range, fromRecord: fromRecord, entriesMax: entriesMax, wholeBatches: wholeBatches,
                                       dataPath: path, log: log, clusterId: clusterId, problems: &problems)
        }
        // Every kind shows up for the wallets, so the mirror of each rule is exercised.
        var kinds = Set<AccountHistoryEntry.Kind>()
        for id in watched { for entry in try history(id, 1...log.lastOp).entries { kinds.insert(entry.kind) } }
        XCTAssertEqual(kinds, [.posted, .pending, .postPending, .voidPending])
        // Pages of whole batches stop after the batch that reaches the limit and continue at the next op.
        let all = try history(3, 1...log.lastOp)
        XCTAssertTrue(all.accountExists)
        XCTAssertNil(all.next)
        let firstPage = try history(3, 1...log.lastOp, entriesMax: 5, wholeBatches: true)
        let next = try XCTUnwrap(firstPage.continueFromOp)
        XCTAssertGreaterThanOrEqual(firstPage.entries.count, 5)
        let rest = try history(3, next...log.lastOp)
        XCTAssertEqual((firstPage.entries + rest.entries).map(\.after), all.entries.map(\.after))
        // An exact limit lists that many and names the record of the next change; pages of 7
        // from there on, each starting at the position the last one named, give back the whole list.
        var paged: [AccountHistoryEntry] = []
        var position: HistoryPosition? = HistoryPosition(op: 1, record: 0)
        var pages = 0
        while let at = position, pages < 1_000 {
            let page = try history(3, at.op...log.lastOp, fromRecord: at.record, entriesMax: 7)
            XCTAssertEqual(page.entries.count, page.next == nil ? all.entries.count - paged.count : 7)
            if let following = page.next, let last = page.entries.last {
                XCTAssertTrue((following.op, following.record) > (last.op, last.recordIndex))
            }
            paged += page.entries
            position = page.next
            pages += 1
        }
        XCTAssertEqual(paged, all.entries)
        XCTAssertGreaterThan(pages, 2)
        // An account that never existed: no entries, and said so.
        XCTAssertFalse(try history(999_999, 1...log.lastOp).accountExists)
    }

    func testInstantsParseAndFormatInUTC() {
        XCTAssertEqual(Instant.parseNs("0"), 0)
        XCTAssertEqual(Instant.parseNs("1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(Instant.parseNs("2026-11-23T14:20:00Z"), 1_795_443_600 * 1_000_000_000)
        XCTAssertEqual(Instant.parseNs("2026-11-23T14:20:00.5Z"), 1_795_443_600 * 1_000_000_000 + 500_000_000)
        XCTAssertEqual(Instant.parseNs("2024-02-29T23:59:59.123456789Z"), 1_709_251_199_123_456_789)
        XCTAssertEqual(Instant.format(ns: 1_709_251_199_123_456_789), "2024-02-29T23:59:59.123456789Z")
        for bad in ["", "yesterday", "2023-02-29T00:00:00Z", "2026-11-23T14:20:00+01:00", "2026-11-23T24:00:00Z", "2026-11-23T14:20:00.1234567890Z", "-5", "2026-13-01T00:00:00Z"] {
            XCTAssertNil(Instant.parseNs(bad), bad)
        }
        var random = SplitMix64(seed: 3)
        for _ in 0..<1000 {
            let ns = random.next() >> 2
            XCTAssertEqual(Instant.parseNs(Instant.format(ns: ns)), ns)
        }
    }
}
