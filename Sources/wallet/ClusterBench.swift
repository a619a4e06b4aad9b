// `wallet bench --replicas N` / `--addresses`: durable, replicated throughput and batch latency.
import Cluster
import Foundation
import Histogram
import LedgerCore
import Replica
import Workload

extension BenchCommand {
    /// Starts `--replicas` replica processes (or uses `--addresses`), creates the accounts, then
    /// sends the transfers in batches of `--batch-size` from `--clients` concurrent clients. A batch's
    /// latency runs from its send to its `ok`: a majority holds it durably and the leader applied it.
    func runClusterBench(_ distribution: Distribution) throws {
        guard clients >= 1 && clients <= 256 else { throw UserError("--clients \(clients) is outside 1...256") }
        keepLargeAllocationsOnTheHeap()
        if FileManager.default.fileExists(atPath: dir) {
            throw UserError("\(dir) exists: give --dir a path that does not exist (it is removed afterwards)")
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        var spec = WorkloadSpec(accounts: accounts, transfers: transfers)
        spec.distribution = distribution
        var cluster: LocalCluster?
        let addresses: [PeerAddress]
        let clusterId: UInt128
        let key: SecretKey
        var clientTLS: ClientTLS?
        if let given = try access.parsed() {
            key = given.key
            clientTLS = try access.tls()
            guard replicas == nil || replicas == given.addresses.count else { throw UserError("--replicas \(replicas!) does not match \(given.addresses.count) --addresses") }
            addresses = given.addresses
            clusterId = given.clusterId
            // Fresh transfer ids for a cluster that may hold an earlier run's.
            var system = SystemRandomNumberGenerator()
            spec.seed = system.next() >> 1
        } else {
            let count = replicas!
            guard count >= 1 && count <= 7 else { throw UserError("--replicas \(count) is outside 1...7") }
            let wallet = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            let local = try LocalCluster(walletPath: wallet, root: dir + "/cluster", replicaCount: count, clusterId: 1, segmentSizeMib: 256)
            // Sized up front, as a production replica would be: no rehash pause inside the run.
            if tls { local.tls = try LocalCertificates.make(in: dir + "/tls") }
            clientTLS = local.clientTLS
            local.startArguments = ["--accounts-capacity", String(accounts + 16), "--transfers-capacity", String(transfers + 16),
                                    "--snapshot-interval-transfers", String(snapshotIntervalTransfers)]
            try local.startAll()
            cluster = local
            addresses = local.addresses
            key = local.key
            clusterId = 1
            let leader = try local.waitForLeader()
            say("started \(count) replicas on \(local.addressList)\(tls ? " with TLS" : "") (replica \(leader) leads); logs in \(dir)/cluster")
        }
        defer { cluster?.stopAll() }

        let replicaCount = addresses.count

        let workload = Workload(spec: spec)
        let accountRecords = workload.accounts()
        let transferRecords = workload.transfers()
        let submitter = ConcurrentSubmitter(addresses: addresses, clusterId: clusterId, key: key, clients: clients, tls: clientTLS)
        let accountReport = accountRecords.withUnsafeBytes {
            submitter.run(SubmitRequest.split(kind: .accounts, records: $0, recordsPerRequest: WireLimits.requestRecordsMax))
        }
        if let failure = accountReport.failures.first { throw UserError("creating accounts failed: \(failure)") }

        let progress = Progress("cluster ingest", total: transfers, unit: "transfers", quiet: json)
        let lock = NSLock()
        let report: SubmitReport = transferRecords.withUnsafeBytes { bytes in
            let requests = SubmitRequest.split(kind: .transfers, records: bytes, recordsPerRequest: batchSize)
            return submitter.run(requests, progress: { done in lock.lock(); progress.update(done); lock.unlock() })
        }
        progress.finish()
        if let failure = report.failures.first { throw UserError("\(report.failures.count) batches failed: \(failure)") }
        var okCount = 0
        for results in report.results { okCount += results?.filter { $0 == TransferResult.ok.rawValue }.count ?? 0 }
        var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
        for latencyNs in report.latenciesNs { _ = histogram.record(max(latencyNs / 1000, 1)) }
        let rate = formatRate(transfers, elapsedNs: report.elapsedNs)
        // The disk's own speed, measured after the run: measured before, freeing its file made
        // the filesystem stall the first seconds of the run.
        let baselineMBps = try measureDiskBaseline(path: dir + "/baseline.bin")
        let diskTransfersPerS = baselineMBps * 1e6 / Double(Limits.recordSizeBytes * replicaCount)
        say("disk baseline (1 MiB writes + fdatasync, same disk, after the run): \(String(format: "%.0f", baselineMBps)) MB/s = \(formatCount(Int(diskTransfersPerS))) transfers/s for \(replicaCount) replicas writing 128 bytes each")
        let p50 = Double(histogram.valueAtPercentile(50)) / 1000
        let p99 = Double(histogram.valueAtPercentile(99)) / 1000
        let maxMs = Double(histogram.max) / 1000
        let share = Double(rate) / diskTransfersPerS * 100
        say("cluster ingest (\(replicaCount) replicas, fsync on every replica, \(clients) clients): \(formatCount(rate)) transfers/s = \(String(format: "%.0f", share))% of the disk baseline for \(replicaCount) replicas; \(formatCount(okCount)) ok")
        say("  batch latency ms: p50 \(fmt(p50)) p99 \(fmt(p99)) max \(fmt(maxMs)) (\(report.latenciesNs.count) batches of up to \(batchSize), \(report.attempts - report.latenciesNs.count) redirects and retries)")
        if let cluster {
            let client = ClusterClient(addresses: cluster.addresses, clusterId: clusterId, key: key, tls: clientTLS)
            let digests = Set(addresses.indices.compactMap { try? client.status(ofReplica: $0).digest })
            client.close()
            say("  replicas reporting a state digest: \(digests.count == 1 ? "all agree" : "\(digests.count) different digests (followers may still be applying)")")
        }
        if json {
            print("{\"replicas\":\(replicaCount),\"transfers\":\(transfers),\"batch_size\":\(batchSize),\"accounts\":\(accounts),\"clients\":\(clients),"
                + "\"distribution\":\"\(distribution.rawValue)\",\"cluster_transfers_per_s\":\(rate),"
                + "\"cluster_batch_latency_ms_p50\":\(fmt(p50)),\"cluster_batch_latency_ms_p99\":\(fmt(p99)),\"cluster_batch_latency_ms_max\":\(fmt(maxMs)),"
                + "\"ok\":\(okCount),\"redirects_and_retries\":\(report.attempts - report.latenciesNs.count),"
                + "\"disk_baseline_mb_per_s\":\(String(format: "%.1f", baselineMBps)),\"cluster_share_of_disk_baseline_pct\":\(String(format: "%.1f", share))}")
        }
    }
}
