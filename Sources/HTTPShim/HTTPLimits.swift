// Every limit of the HTTP server, in one place, each named with its unit.

/// The HTTP server's limits. Each is a setting (`wallet serve` and `wallet start --http` take them
/// as flags, checked against `ranges`), enforced where it is named.
public struct HTTPLimits: Sendable, Equatable {
    /// Bytes of one request body; more is answered 413.
    public var requestBodyBytesMax = 16 << 10
    /// Bytes of a request line and its header fields together; more is answered 431 (NIO's decoder
    /// counts the URI and every field's name and value).
    public var requestHeadBytesMax = 16 << 10
    /// Header fields of one request; more is answered 431.
    public var requestHeaderFieldsMax = 100
    /// Requests being handled at once; more are answered 503 at once (back off and retry).
    public var inFlightRequestsMax = 4096
    /// How long a write waits for its batch to be durable and applied before 503 (its outcome is
    /// then learned by retrying with the same transaction_id).
    public var requestTimeoutMs = 5_000
    /// From the first byte of a request to the end of its head; past it the request is answered
    /// 408 and the connection closed (a client that trickles its head, slowloris).
    public var requestHeadTimeoutMs = 10_000
    /// From the end of a request's head to the end of its body; past it 408 and close (a client
    /// that trickles its body).
    public var requestBodyTimeoutMs = 20_000
    /// Open connections; more wait in the accept backlog.
    public var connectionsMax = 1024
    /// A connection that sends nothing for this long between requests is closed.
    public var connectionIdleTimeoutMs = 30_000
    /// After a failed write (disk full, EIO) the writer retries it after this long, doubling up
    /// to `storageRetryBackoffMsMax`; meanwhile new writes are answered 503 with Retry-After.
    public var storageRetryBackoffMsMin = 50
    public var storageRetryBackoffMsMax = 2_000
    /// Balance-history entries kept in memory (24 bytes each, about two per transfer): past balances
    /// within that many recent changes are read without a replay; 0 keeps none.
    public var balanceHistoryEntriesMax = 16 << 20

    public init() {}

    /// What each setting may be set to. Each range's unit is its name's.
    public static let ranges: [(name: String, keyPath: WritableKeyPath<HTTPLimits, Int>, range: ClosedRange<Int>)] = [
        ("request_body_bytes_max", \.requestBodyBytesMax, 256...(1 << 20)),
        ("request_head_bytes_max", \.requestHeadBytesMax, 1024...(1 << 20)),
        ("request_header_fields_max", \.requestHeaderFieldsMax, 8...10_000),
        ("in_flight_requests_max", \.inFlightRequestsMax, 1...(1 << 20)),
        ("request_timeout_ms", \.requestTimeoutMs, 10...600_000),
        ("request_head_timeout_ms", \.requestHeadTimeoutMs, 100...600_000),
        ("request_body_timeout_ms", \.requestBodyTimeoutMs, 100...600_000),
        ("connections_max", \.connectionsMax, 1...(1 << 20)),
        ("connection_idle_timeout_ms", \.connectionIdleTimeoutMs, 100...3_600_000),
        ("balance_history_entries_max", \.balanceHistoryEntriesMax, 0...(1 << 32)),
        ("storage_retry_backoff_ms_min", \.storageRetryBackoffMsMin, 1...60_000),
        ("storage_retry_backoff_ms_max", \.storageRetryBackoffMsMax, 1...600_000),
    ]

    /// Nil when every setting is in its range, else what is wrong, naming the setting and its range.
    public func problem() -> String? {
        for (name, keyPath, range) in HTTPLimits.ranges where !range.contains(self[keyPath: keyPath]) {
            return "\(name) \(self[keyPath: keyPath]) is outside \(range.lowerBound)...\(range.upperBound)"
        }
        if storageRetryBackoffMsMin > storageRetryBackoffMsMax { return "storage_retry_backoff_ms_min is more than storage_retry_backoff_ms_max" }
        return nil
    }
}
