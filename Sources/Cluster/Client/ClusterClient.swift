// The client library: exactly-once submission to a replicated ledger, across leader changes.
import Foundation
import LedgerCore
import NIOCore
import Randomness

/// How a client retries: exponential back-off with jitter and a cap, each limit with its unit.
public struct RetryPolicy: Sendable {
    /// The first back-off delay; it doubles after each failed attempt, up to `backoffMaxMs`.
    public var backoffInitialMs = 10
    public var backoffMaxMs = 1_000
    /// One attempt waits this long for its reply (a batch waits for fsyncs on a majority).
    public var requestTimeoutMs = 5_000
    /// A request gives up (throws) after trying for this long in all.
    public var deadlineMs = 120_000
    /// A request gives up when no replica has answered it at all (not even a redirect) for this
    /// long: nothing listening, a wrong address, every replica hung. A long run of requests that
    /// keep being answered is never cut: each request's silence starts when it is first sent.
    public var silenceTimeoutMs = 10_000
    /// What `silence_timeout_ms` may be set to from outside (a flag).
    public static let silenceTimeoutMsRange = 100...3_600_000
    /// While no replica answers, `waiting` is told what the client is waiting for, this often.
    public var waitingReportIntervalMs = 2_000
    /// Told (on the client's thread) what a request is waiting for while no replica answers it.
    public var waiting: (@Sendable (String) -> Void)?

    public init() {}
}

public enum ClientError: Error, CustomStringConvertible {
    /// The replica refused the request itself (too large, malformed): retrying cannot help.
    case refused(String)
    /// No replica answered within `deadlineMs`; the last error says why.
    case deadlineExceeded(attempts: Int, last: String)
    /// No replica answered anything for `silenceTimeoutMs`: each address tried, and its last error.
    case noAnswer(silentMs: Int, attempts: Int, tried: [String])

    public var description: String {
        switch self {
        case .refused(let message): return "refused by the replica: \(message)"
        case .deadlineExceeded(let attempts, let last): return "gave up after \(attempts) attempts: \(last)"
        case .noAnswer(let silentMs, let attempts, let tried):
            return "no replica answered for \(silentMs) ms (\(attempts) attempts); tried \(tried.joined(separator: "; "))"
        }
    }
}

/// The outcome of one submitted batch of records.
public struct SubmitOutcome: Sendable {
    /// One result code per record, in order (a `TransferResult` or `AccountResult` raw value).
    /// A record that answered `exists` on a retry after an attempt whose outcome is unknown (lost
    /// connection or reply, `unavailable`) was applied by that attempt: it is reported `ok`, the
    /// result its first application had. Redirects (`not_leader`, `busy`) are no such attempt.
    public var results: [UInt8]
    /// The op of the batch that holds the records.
    public var op: UInt64
    public var attempts: Int
    /// Records that answered `exists` on a retry (reported `ok`).
    public var existsOnRetry: Int
    /// Whether an attempt's outcome was unknown (lost connection or reply, `unavailable`).
    public var ambiguous: Bool
}

/// Talks to a cluster given all its replicas' addresses. Not thread-safe: one per thread.
///
/// Exactly-once: a request is retried unchanged (same record ids) until a leader answers it, so a
/// request whose first attempt was applied but whose reply was lost answers `exists` the second
/// time, and nothing is applied twice. Attempts follow the leader's hints; after a failure they
/// back off exponentially (equal jitter: half the delay fixed, half random) up to a cap.
public final class ClusterClient {
    public let addresses: [PeerAddress]
    public let clusterId: UInt128
    public let policy: RetryPolicy
    /// The key every connection proves (a client key, or the cluster key).
    let key: SecretKey
    /// TLS for every connection (the replica's certificate checked against the CA), or nil.
    let tls: ClientTLS?
    private var connections: [FrameConnection?]
    private var leaderGuess = 0
    private var nextRequestId: UInt64 = 1
    private var random: SplitMix64

    public init(addresses: [PeerAddress], clusterId: UInt128, key: SecretKey, policy: RetryPolicy = RetryPolicy(), seed: UInt64? = nil,
                tls: ClientTLS? = nil) {
        precondition(!addresses.isEmpty)
        self.key = key
        self.tls = tls
        self.addresses = addresses
        self.clusterId = clusterId
        self.policy = policy
        connections = Array(repeating: nil, count: addresses.count)
        var system = SystemRandomNumberGenerator()
        random = SplitMix64(seed: seed ?? system.next())
        leaderGuess = Int(random.below(addresses.count))
    }

    /// Submits accounts or transfers (at most `request_records_max`) and returns once a majority
    /// holds them durably and the leader applied them.
    public func submit(kind: RecordKind, records: UnsafeRawBufferPointer) throws -> SubmitOutcome {
        let count = records.count / Limits.recordSizeBytes
        let requestId = takeRequestId()
        let frame = ClientMessages.submit(kind: kind, records: records, clusterId: clusterId, requestId: requestId)
        let (prefix, body, attempts, ambiguous) = try exchange(frame, requestId: requestId, replyCommand: .submitReply)
        var (_, results) = try body.withUnsafeBytes { try ClientMessages.decodeSubmitReply($0) }
        guard results.count == count else { throw ClientError.refused("reply carries \(results.count) results for \(count) records") }
        var existsOnRetry = 0
        if ambiguous {
            for index in results.indices where results[index] == TransferResult.exists.rawValue {
                results[index] = TransferResult.ok.rawValue
                existsOnRetry += 1
            }
        }
        return SubmitOutcome(results: results, op: prefix.op, attempts: attempts, existsOnRetry: existsOnRetry, ambiguous: ambiguous)
    }

    /// Looks up accounts, linearizably (the leader confirms its leadership first). nil: no such account.
    public func lookupAccounts(_ ids: [UInt128]) throws -> (accounts: [Account?], op: UInt64) {
        let requestId = takeRequestId()
        let frame = ClientMessages.lookupAccounts(ids: ids, clusterId: clusterId, requestId: requestId)
        let (prefix, body, _, _) = try exchange(frame, requestId: requestId, replyCommand: .lookupAccountsReply)
        let (_, accounts) = try body.withUnsafeBytes { try ClientMessages.decodeLookupAccountsReply($0) }
        return (accounts, prefix.op)
    }

    /// One replica's status, in one attempt (no retries: status is about that replica).
    public func status(ofReplica replica: Int) throws -> ReplicaStatus {
        let requestId = takeRequestId()
        let connection = try connection(to: replica)
        do {
            try connection.send(FrameBuilder(command: .status, clusterId: clusterId, requestId: requestId).seal())
            while true {
                let (header, body) = try connection.receive()
                guard header.requestId == requestId else { continue }
                if header.command == .error { throw ClientError.refused(String(decoding: body, as: UTF8.self)) }
                return try body.withUnsafeBytes { try ReplicaStatus.decode($0) }
            }
        } catch {
            drop(replica)
            throw error
        }
    }

    public func close() {
        for index in connections.indices { drop(index) }
    }

    private func takeRequestId() -> UInt64 {
        defer { nextRequestId += 1 }
        return nextRequestId
    }

    private func connection(to replica: Int) throws -> FrameConnection {
        if let existing = connections[replica] { return existing }
        let connection = try FrameConnection(address: addresses[replica], clusterId: clusterId, timeoutMs: policy.requestTimeoutMs, key: key, tls: tls?.context)
        connections[replica] = connection
        return connection
    }

    private func drop(_ replica: Int) {
        connections[replica]?.close()
        connections[replica] = nil
    }

    /// Sends `frame` until some replica answers it `ok`; follows leader hints, backs off otherwise.
    /// Also returns whether an earlier attempt may have been applied without an answer (a lost
    /// connection or reply, or `unavailable`): only then is an `exists` the request's own echo.
    private func exchange(_ frame: ByteBuffer, requestId: UInt64, replyCommand: Command) throws -> (ReplyPrefix, [UInt8], Int, Bool) {
        let startNs = DispatchTime.now().uptimeNanoseconds
        var answeredNs = startNs  // the last moment some replica answered this request (or it was first sent)
        var reportedNs = startNs
        var backoffMs = policy.backoffInitialMs
        var attempts = 0
        var lastError = "no attempt made"
        var lastErrors = [String?](repeating: nil, count: addresses.count)
        var ambiguous = false
        while true {
            attempts += 1
            let target = leaderGuess
            var shouldBackOff = true
            var sent = false
            do {
                let connection = try connection(to: target)
                sent = true
                try connection.send(frame)
                var reply: (FrameHeader, [UInt8])
                repeat { reply = try connection.receive() } while reply.0.requestId != requestId
                answeredNs = DispatchTime.now().uptimeNanoseconds
                let (header, body) = reply
                if header.command == .error { throw ClientError.refused(String(decoding: body, as: UTF8.self)) }
                guard header.command == replyCommand else { throw ClientError.refused("unexpected \(String(describing: header.command)) reply") }
                let prefix = try body.withUnsafeBytes { bytes -> ReplyPrefix in
                    var prefixReader = WireReader(bytes)
                    return try ReplyPrefix.read(&prefixReader)
                }
                switch prefix.status {
                case .ok:
                    return (prefix, body, attempts, ambiguous)
                case .notLeader:
                    lastError = "replica \(target) does not lead"
                    if let hint = prefix.leaderHint, hint != target, hint < addresses.count {
                        leaderGuess = hint
                        shouldBackOff = false
                    } else {
                        leaderGuess = (target + 1) % addresses.count
                    }
                case .unavailable:
                    ambiguous = true
                    lastError = "replica \(target): no leader, or leadership lost before the answer"
                    if let hint = prefix.leaderHint, hint < addresses.count { leaderGuess = hint } else { leaderGuess = (target + 1) % addresses.count }
                case .busy:
                    lastError = "replica \(target) is busy (submit_queue_records_max)"
                case .tooLarge, .invalid:
                    throw ClientError.refused("\(prefix.status)")
                }
            } catch let error as ClientError {
                throw error
            } catch {
                if sent { ambiguous = true }
                lastError = "\(error)"
                lastErrors[target] = (error as? ConnectionError)?.message ?? "\(error)"
                drop(target)
                leaderGuess = (target + 1) % addresses.count
            }
            let nowNs = DispatchTime.now().uptimeNanoseconds
            let elapsedMs = Int((nowNs - startNs) / 1_000_000)
            let silentMs = Int((nowNs - answeredNs) / 1_000_000)
            if elapsedMs >= policy.deadlineMs { throw ClientError.deadlineExceeded(attempts: attempts, last: lastError) }
            if silentMs >= policy.silenceTimeoutMs {
                throw ClientError.noAnswer(silentMs: silentMs, attempts: attempts, tried: tried(lastErrors))
            }
            if let waiting = policy.waiting, silentMs >= policy.waitingReportIntervalMs,
               (nowNs - reportedNs) / 1_000_000 >= UInt64(policy.waitingReportIntervalMs) {
                reportedNs = nowNs
                waiting("no replica has answered for \(silentMs / 1000) s (giving up at \(policy.silenceTimeoutMs / 1000) s); tried \(tried(lastErrors).joined(separator: "; "))")
            }
            if shouldBackOff {
                let half = backoffMs / 2
                let sleepMs = half + Int(random.below(max(1, backoffMs - half + 1)))
                let leftMs = min(policy.deadlineMs - elapsedMs, policy.silenceTimeoutMs - silentMs)
                usleep(UInt32(max(0, min(sleepMs, leftMs)) * 1000))
                backoffMs = min(backoffMs * 2, policy.backoffMaxMs)
            }
        }
    }

    /// Each address with the last error it gave, for messages (those not tried yet say so).
    private func tried(_ lastErrors: [String?]) -> [String] {
        addresses.indices.map { "\(addresses[$0]): \(lastErrors[$0] ?? "answered, or not tried")" }
    }
}
