// What `serve` and `start --http` share: the listen address, the API keys, the metrics registry.
import ArgumentParser
import Cluster
import Foundation
import Glibc
import HTTPShim
import Metrics
import Prometheus

/// HOST:PORT to listen on; port 0 asks the kernel for a free port (tests, scripts), printed once bound.
func parseListenAddress(_ text: String) throws -> PeerAddress {
    text.hasSuffix(":0") ? PeerAddress(host: try PeerAddress.parse(String(text.dropLast(2)) + ":1").host, port: 0) : try PeerAddress.parse(text)
}

/// Refuses, in the wallet's own words, an address the HTTP server could not listen on (in use,
/// not this machine's, a privileged port): a bind of our own, released at once, before the
/// server starts. (Hummingbird logs a failed bind and returns; the server checks that too.)
func checkCanListen(_ address: PeerAddress, flag: String = "--http") throws {
    guard address.port != 0 else { return }
    var hints = addrinfo()
    hints.ai_family = AF_INET
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var found: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(address.host, String(address.port), &hints, &found) == 0, let info = found else {
        throw UserError("cannot listen on \(address) (\(flag)): the host is not an IPv4 address or name of this machine")
    }
    defer { freeaddrinfo(info) }
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw UserError("cannot listen on \(address): socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var one: Int32 = 1
    _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
        let cause = errno
        let hint = cause == EADDRINUSE ? ": another process listens there; stop it or give another \(flag) HOST:PORT"
            : cause == EACCES ? ": ports below 1024 need privileges; give another \(flag) HOST:PORT" : ""
        throw UserError("cannot listen on \(address) (\(flag)): \(String(cString: strerror(cause)))\(hint)")
    }
}

/// The keys of `--api-keys FILE`, or open access without a file.
func loadAPIKeys(file: String?, readsRequireKey: Bool) throws -> APIKeys {
    guard let file else {
        if readsRequireKey { throw UserError("--reads-require-key needs --api-keys FILE") }
        return APIKeys.open
    }
    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw UserError("cannot read the API key file \(file)") }
    return try APIKeys.parse(text, readsRequireKey: readsRequireKey)
}

/// One registry for the ledger's metrics and, through swift-metrics, Hummingbird's (once per process).
func bootstrapMetrics() -> LedgerMetrics {
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    return LedgerMetrics(registry: registry)
}

/// The HTTP server's limits as flags, shared by `serve` and `start --http`; each flag is named
/// after its limit and checked against `HTTPLimits.ranges`.
struct HTTPLimitOptions: ParsableArguments {
    @Option(help: "request_body_bytes_max: bytes of one request body; more get 413.") var requestBodyBytesMax = HTTPLimits().requestBodyBytesMax
    @Option(help: "request_head_bytes_max: bytes of a request line and its headers; more get 431.") var requestHeadBytesMax = HTTPLimits().requestHeadBytesMax
    @Option(help: "request_header_fields_max: header fields of one request; more get 431.") var requestHeaderFieldsMax = HTTPLimits().requestHeaderFieldsMax
    @Option(help: "in_flight_requests_max: requests handled at once; more get 503.") var inFlightRequestsMax = HTTPLimits().inFlightRequestsMax
    @Option(help: "request_timeout_ms: a write's wait for durable-and-applied before 503.") var requestTimeoutMs = HTTPLimits().requestTimeoutMs
    @Option(help: "request_head_timeout_ms: from a request's first byte to the end of its head; then 408.") var requestHeadTimeoutMs = HTTPLimits().requestHeadTimeoutMs
    @Option(help: "request_body_timeout_ms: from a request's head to the end of its body; then 408.") var requestBodyTimeoutMs = HTTPLimits().requestBodyTimeoutMs
    @Option(help: "connections_max: open connections; more wait in the backlog.") var connectionsMax = HTTPLimits().connectionsMax
    @Option(help: "connection_idle_timeout_ms: a connection silent between requests is closed after this.")
    var connectionIdleTimeoutMs = HTTPLimits().connectionIdleTimeoutMs
    @Option(help: "balance_history_entries_max: past balances kept in memory (24 bytes each, about 2 per transfer); 0: every past read replays.")
    var balanceHistoryEntriesMax = HTTPLimits().balanceHistoryEntriesMax
    @Option(help: "storage_retry_backoff_ms_max: after a failed write (disk full), the longest wait between retries (503 meanwhile).")
    var storageRetryBackoffMsMax = HTTPLimits().storageRetryBackoffMsMax

    /// The limits, or a `UserError` naming the first one out of its range.
    func limits() throws -> HTTPLimits {
        var limits = HTTPLimits()
        limits.requestBodyBytesMax = requestBodyBytesMax
        limits.requestHeadBytesMax = requestHeadBytesMax
        limits.requestHeaderFieldsMax = requestHeaderFieldsMax
        limits.inFlightRequestsMax = inFlightRequestsMax
        limits.requestTimeoutMs = requestTimeoutMs
        limits.requestHeadTimeoutMs = requestHeadTimeoutMs
        limits.requestBodyTimeoutMs = requestBodyTimeoutMs
        limits.connectionsMax = connectionsMax
        limits.connectionIdleTimeoutMs = connectionIdleTimeoutMs
        limits.balanceHistoryEntriesMax = balanceHistoryEntriesMax
        limits.storageRetryBackoffMsMax = storageRetryBackoffMsMax
        limits.storageRetryBackoffMsMin = min(limits.storageRetryBackoffMsMin, storageRetryBackoffMsMax)
        if let problem = limits.problem() { throw UserError(problem) }
        return limits
    }
}
