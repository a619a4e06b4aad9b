// The process-level fault test: the leader is killed with SIGKILL during a large ingest, twice.
import Cluster
import Foundation
import LedgerCore
import TestSupport
import Workload
import XCTest

final class FaultTests: XCTestCase {
    /// Transfers ingested; `FAULT_TRANSFERS` overrides (make fault runs the release build).
    static var transfersCount: Int { ProcessInfo.processInfo.environment["FAULT_TRANSFERS"].flatMap(Int.init) ?? 1_000_000 }

    func testLeaderKilledTwiceDuringIngestLosesAndDuplicatesNothing() throws {
        let directory = TemporaryDirectory()
        let clusterId: UInt128 = 11
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path, replicaCount: 3, clusterId: clusterId, segmentSizeMib: 64)
        defer { cluster.stopAll() }
        try cluster.startAll()
        _ = try cluster.waitForLeader()

        var spec = WorkloadSpec(accounts: 1_000, transfers: Self.transfersCount)
        spec.seed = 77
        let workload = Workload(spec: spec)
        let accounts = workload.accounts()
        let transfers = workload.transfers()
        var policy = RetryPolicy()
        policy.deadlineMs = 60_000
        let submitter = ConcurrentSubmitter(addresses: cluster.addresses, clusterId: clusterId, key: cluster.key, clients: 4, policy: policy)

        let accountReport = accounts.withUnsafeBytes { submitter.run(SubmitRequest.split(kind: .accounts, records: $0, recordsPerRequest: 8191)) }
        XCTAssertEqual(accountReport.failures, [])

        // The killer: at a third and at two thirds of the transfers, SIGKILL whoever leads, then
        // restart it half a second later.
        let progress = ProgressCounter()
        let killsDone = ProgressCounter()
        let killer = Thread {
            for round in 1...2 {
                let deadline = Date(timeIntervalSinceNow: 300)
                while progress.value < Self.transfersCount * round / 3 && Date() < deadline { usleep(5_000) }
                guard let leader = try? cluster.waitForLeader(timeoutMs: 20_000) else { continue }
                cluster.kill(leader)
                usleep(500_000)
                try? cluster.start(leader)
                killsDone.add(1)
            }
        }
        killer.start()
        let requests = transfers.withUnsafeBytes { SubmitRequest.split(kind: .transfers, records: $0, recordsPerRequest: 8191) }
        let startNs = DispatchTime.now().uptimeNanoseconds
        let report = transfers.withUnsafeBytes { _ in submitter.run(requests, progress: { progress.set($0) }) }
        let elapsedS = Double(DispatchTime.now().uptimeNanoseconds - startNs) / 1e9
        while !killer.isFinished { usleep(10_000) }
        XCTAssertEqual(killsDone.value, 2, "the leader must have been killed twice during the ingest")
        XCTAssertEqual(report.failures, [], "every request is answered in the end")

        // What the clients were told: every transfer answered, and the ok ones with their amounts.
        var okCount = 0
        var okAmount: UInt128 = 0
        for (index, request) in requests.enumerated() {
            let results = try XCTUnwrap(report.results[index])
            let records = request.records.bindMemory(to: Transfer.self)
            for (position, result) in results.enumerated() where result == TransferResult.ok.rawValue {
                okCount += 1
                okAmount += records[position].amount
            }
        }
        print("fault test: \(Self.transfersCount) transfers in \(String(format: "%.1f", elapsedS)) s, \(okCount) ok, \(report.existsOnRetry) answered exists on a retry, \(report.attempts - requests.count) extra attempts")
        XCTAssertGreaterThan(okCount, Self.transfersCount / 2)

        // Every replica, the restarted ones included, reaches the same state.
        let statuses = try cluster.waitUntilConverged(timeoutMs: 60_000)
        XCTAssertEqual(statuses.count, 3)
        XCTAssertEqual(Set(statuses.map(\.digest)).count, 1, "all replicas report the same state digest")
        // Each transfer id is stored exactly once (ok or failed), none twice, none lost.
        XCTAssertEqual(statuses[0].transfersCount, Self.transfersCount)

        // Money moved is exactly what was acknowledged ok, and money is conserved.
        let client = ClusterClient(addresses: cluster.addresses, clusterId: clusterId, key: cluster.key)
        defer { client.close() }
        let (found, _) = try client.lookupAccounts(accounts.map(\.id))
        var debits: UInt128 = 0
        var credits: UInt128 = 0
        for account in found {
            let account = try XCTUnwrap(account)
            debits += account.debitsPosted
            credits += account.creditsPosted
            XCTAssertEqual(account.debitsPending, 0)
        }
        XCTAssertEqual(debits, credits, "conservation: every debit has its credit")
        XCTAssertEqual(debits, okAmount, "the ledger moved exactly the amounts acknowledged ok, once each")
    }
}

final class ProgressCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
    func set(_ value: Int) { lock.lock(); count = max(count, value); lock.unlock() }
    func add(_ value: Int) { lock.lock(); count += value; lock.unlock() }
}
