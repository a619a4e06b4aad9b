// Many clients at once: how a bulk ingest or a benchmark keeps a leader's group commit full.
import Foundation
import LedgerCore
import Replica

/// One request to submit: records of one kind, at most `request_records_max`.
public struct SubmitRequest: @unchecked Sendable {
    public let kind: RecordKind
    public let records: UnsafeRawBufferPointer

    public init(kind: RecordKind, records: UnsafeRawBufferPointer) {
        precondition(kind != .noop && records.count % Limits.recordSizeBytes == 0)
        precondition(records.count / Limits.recordSizeBytes <= WireLimits.requestRecordsMax)
        self.kind = kind
        self.records = records
    }

    public var count: Int { records.count / Limits.recordSizeBytes }

    /// Splits records into requests of at most `recordsPerRequest`.
    public static func split(kind: RecordKind, records: UnsafeRawBufferPointer, recordsPerRequest: Int) -> [SubmitRequest] {
        precondition(recordsPerRequest >= 1 && recordsPerRequest <= WireLimits.requestRecordsMax)
        let step = recordsPerRequest * Limits.recordSizeBytes
        return stride(from: 0, to: records.count, by: step).map {
            SubmitRequest(kind: kind, records: UnsafeRawBufferPointer(rebasing: records[$0..<min($0 + step, records.count)]))
        }
    }
}

/// What a concurrent submission did, per request and in total.
public struct SubmitReport: Sendable {
    /// Per request, in the order given: its result codes, or nil if it failed for good.
    public var results: [[UInt8]?]
    /// Per request: from the first send to the `ok` reply, retries included, in ns.
    public var latenciesNs: [UInt64]
    public var elapsedNs: UInt64 = 0
    public var attempts = 0
    public var existsOnRetry = 0
    /// Requests with an attempt whose outcome was unknown (a lost connection or reply,
    /// `unavailable`): only such requests can answer `exists` for their own records.
    public var ambiguousRequests = 0
    public var failures: [String] = []

    public func count(kind: RecordKind, result: UInt8, requests: [SubmitRequest]) -> Int {
        var total = 0
        for (index, request) in requests.enumerated() where request.kind == kind {
            total += results[index]?.filter { $0 == result }.count ?? 0
        }
        return total
    }
}

/// Submits requests with `clients` threads, one `ClusterClient` each, one request in flight per
/// client. Requests run in order of kind runs: every request of a run of the same kind may go
/// at once, but a run starts only when the one before it is done (accounts before the transfers
/// that use them).
public final class ConcurrentSubmitter {
    public let addresses: [PeerAddress]
    public let clusterId: UInt128
    let key: SecretKey
    let tls: ClientTLS?
    public let clients: Int
    public let policy: RetryPolicy

    public init(addresses: [PeerAddress], clusterId: UInt128, key: SecretKey, clients: Int, policy: RetryPolicy = RetryPolicy(), tls: ClientTLS? = nil) {
        precondition(clients >= 1)
        self.key = key
        self.tls = tls
        self.addresses = addresses
        self.clusterId = clusterId
        self.clients = clients
        self.policy = policy
    }

    public func run(_ requests: [SubmitRequest], progress: ((Int) -> Void)? = nil) -> SubmitReport {
        let state = SharedState(count: requests.count)
        let startNs = monotonicNowNs()
        var runStart = 0
        while runStart < requests.count {
            var runEnd = runStart
            while runEnd < requests.count && requests[runEnd].kind == requests[runStart].kind { runEnd += 1 }
            state.reset(next: runStart, end: runEnd)
            let group = DispatchGroup()
            for clientIndex in 0..<min(clients, runEnd - runStart) {
                group.enter()
                let thread = Thread { [self] in
                    defer { group.leave() }
                    let client = ClusterClient(addresses: addresses, clusterId: clusterId, key: key, policy: policy, tls: tls)
                    defer { client.close() }
                    while let index = state.take() {
                        let request = requests[index]
                        let sentNs = monotonicNowNs()
                        do {
                            let outcome = try client.submit(kind: request.kind, records: request.records)
                            state.finish(index, results: outcome.results, latencyNs: monotonicNowNs() - sentNs,
                                         attempts: outcome.attempts, existsOnRetry: outcome.existsOnRetry, ambiguous: outcome.ambiguous, records: request.count, progress: progress)
                        } catch {
                            state.fail(index, "\(error)")
                        }
                    }
                }
                thread.name = "wallet-client-\(clientIndex)"
                thread.start()
            }
            group.wait()
            runStart = runEnd
        }
        var report = state.report()
        report.elapsedNs = monotonicNowNs() - startNs
        return report
    }
}

private final class SharedState: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var end = 0
    private var results: [[UInt8]?]
    private var latencies: [UInt64]
    private var attempts = 0
    private var existsOnRetry = 0
    private var ambiguousRequests = 0
    private var failures: [String] = []
    private var recordsDone = 0

    init(count: Int) {
        results = Array(repeating: nil, count: count)
        latencies = Array(repeating: 0, count: count)
    }

    func reset(next: Int, end: Int) {
        lock.lock()
        self.next = next
        self.end = end
        lock.unlock()
    }

    func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < end, failures.isEmpty else { return nil }
        next += 1
        return next - 1
    }

    func finish(_ index: Int, results: [UInt8], latencyNs: UInt64, attempts: Int, existsOnRetry: Int, ambiguous: Bool, records: Int, progress: ((Int) -> Void)?) {
        lock.lock()
        self.results[index] = results
        latencies[index] = latencyNs
        self.attempts += attempts
        self.existsOnRetry += existsOnRetry
        if ambiguous { ambiguousRequests += 1 }
        recordsDone += records
        let done = recordsDone
        lock.unlock()
        progress?(done)
    }

    func fail(_ index: Int, _ message: String) {
        lock.lock()
        failures.append("request \(index): \(message)")
        lock.unlock()
    }

    func report() -> SubmitReport {
        lock.lock()
        defer { lock.unlock() }
        return SubmitReport(results: results, latenciesNs: latencies, attempts: attempts, existsOnRetry: existsOnRetry, ambiguousRequests: ambiguousRequests, failures: failures)
    }
}
