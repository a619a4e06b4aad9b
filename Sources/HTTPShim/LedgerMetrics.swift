// What `GET /metrics` exposes (Prometheus text): the ledger's own figures, plus the HTTP request
// metrics Hummingbird records through swift-metrics into the same registry.
import Foundation
import Prometheus
import Storage

/// The ledger's metrics, updated by the writer after each batch; gauges that describe the data
/// directory (snapshot age) are read when scraped.
public final class LedgerMetrics: @unchecked Sendable {
    public let registry: PrometheusCollectorRegistry
    let transfers: Counter
    let accounts: Counter
    let batches: Counter
    let refused: Counter
    let batchLatency: DurationHistogram
    let appliedOp: Gauge
    let commitOp: Gauge
    let snapshotAge: Gauge
    /// One gauge per role, 1 for the current one.
    let roles: [String: Gauge]
    let digestMismatches: Gauge
    let eventSubscribers: Gauge
    let balanceHistoryEntries: Gauge
    let balanceHistoryStartOp: Gauge
    let inFlight: Gauge
    let storageWriteFailures: Counter
    /// 1 while writes are taken, 0 while the storage is failing and writes are refused.
    let storageWritable: Gauge
    /// Refusals at the connection's door (malformed, too large, too slow, idle).
    let door: DoorCounters

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        transfers = registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "wallet_transfers_applied", unitName: "total", helpText: "Transfers applied with result ok."))
        accounts = registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "wallet_accounts_created", unitName: "total", helpText: "Accounts created with result ok."))
        refused = registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "wallet_records_refused", unitName: "total", helpText: "Records the ledger refused (any result but ok and exists)."))
        batches = registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "wallet_batches", unitName: "total", helpText: "Batches made durable and applied."))
        batchLatency = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(metricName: "wallet_batch_latency", unitName: "seconds", helpText: "From the first request of a batch taken by the writer to the batch durable (fsync) and applied."),
            buckets: [.microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                      .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1)])
        appliedOp = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "wallet_applied_op", unitName: "", helpText: "The last op applied (and visible to reads)."))
        commitOp = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "wallet_commit_op", unitName: "", helpText: "The last op known durable (committed; a single node commits what it syncs)."))
        snapshotAge = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "wallet_snapshot_age", unitName: "seconds", helpText: "Seconds since the newest snapshot file was written (-1: none)."))
        roles = Dictionary(uniqueKeysWithValues: ["leader", "follower", "candidate", "pre_candidate"].map {
            ($0, registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "wallet_replica_role", unitName: "", helpText: "1 for the role this replica has now (a single node leads)."), labels: [("role", $0)]))
        })
        digestMismatches = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "wallet_digest_mismatches", unitName: "", helpText: "State digests that differed from a peer's at the same op (non-determinism)."))
        eventSubscribers = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "wallet_event_subscribers", unitName: "", helpText: "Open server-sent event streams."))
        balanceHistoryEntries = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "wallet_balance_history_entries", unitName: "", helpText: "Balance-history entries held (at most balance_history_entries_max, 24 bytes each)."))
        balanceHistoryStartOp = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: "wallet_balance_history_start_op", unitName: "", helpText: "The oldest op a past balance is read at without a replay (-1: no history kept)."))
        door = DoorCounters(registry: registry)
        inFlight = registry.makeGauge(descriptor: MetricNameDescriptor(
            metricName: "wallet_http_in_flight_requests", unitName: "",
            helpText: "Requests holding an in_flight_requests_max slot (being handled) when scraped; health, readiness and metrics requests take none."))
        storageWriteFailures = registry.makeCounter(descriptor: MetricNameDescriptor(
            metricName: "wallet_storage_write_failures", unitName: "total", helpText: "Batch writes (append or fsync) that failed and were retried."))
        storageWritable = registry.makeGauge(descriptor: MetricNameDescriptor(
            metricName: "wallet_storage_writable", unitName: "", helpText: "1 while writes are taken; 0 while the storage is failing (writes get 503, retried with back-off)."))
        storageWritable.set(to: 1)
        digestMismatches.set(to: 0)
    }

    /// Raft's view, read at scrape time.
    func setConsensus(role: String, commitOp committed: UInt64, digestMismatches mismatches: Int) {
        for (name, gauge) in roles { gauge.set(to: name == role ? 1 : 0) }
        commitOp.set(to: Double(committed))
        digestMismatches.set(to: Double(mismatches))
    }

    /// After a batch of `records` records at `op` (`ok` of them applied with result ok).
    func recordBatch(isTransfers: Bool, ok: Int, refused refusedCount: Int, op: UInt64, elapsedNs: UInt64) {
        batches.increment()
        if isTransfers { transfers.increment(by: Int64(ok)) } else { accounts.increment(by: Int64(ok)) }
        if refusedCount > 0 { refused.increment(by: Int64(refusedCount)) }
        batchLatency.recordNanoseconds(Int64(elapsedNs))
        appliedOp.set(to: Double(op))
    }

    /// The Prometheus text, with the scrape-time gauges brought up to date.
    func render(dataPath: String, subscribers: Int, history: (entries: Int, windowStartOp: UInt64?), inFlightRequests: Int) -> [UInt8] {
        inFlight.set(to: Double(inFlightRequests))
        balanceHistoryEntries.set(to: Double(history.entries))
        balanceHistoryStartOp.set(to: history.windowStartOp.map(Double.init) ?? -1)
        let newest = (try? SnapshotFile.list(dataPath: dataPath))?.last
        if let newest, let attributes = try? FileManager.default.attributesOfItem(atPath: newest.path),
           let modified = attributes[.modificationDate] as? Date {
            snapshotAge.set(to: Date().timeIntervalSince(modified))
        } else {
            snapshotAge.set(to: -1)
        }
        eventSubscribers.set(to: Double(subscribers))
        return registry.emitToBuffer()
    }
}
