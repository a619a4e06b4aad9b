// What a request refused at the door is answered with, and how refusals are counted and logged.
import Cluster
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Prometheus

/// A request the connection guard refuses before any path sees it: the problem it is answered
/// with (then the connection is closed), and the reason it is counted under.
struct RequestRefusal {
    let problem: Problem
    let reason: Reason

    /// The label of `wallet_http_refused_requests_total`, one per kind of refusal.
    enum Reason: String, CaseIterable {
        case malformed
        case invalidContentLength = "invalid_content_length"
        case invalidChunk = "invalid_chunk"
        case invalidMethod = "invalid_method"
        case unsupportedVersion = "unsupported_version"
        case headTooLarge = "head_too_large"
        case closedMidRequest = "closed_mid_request"
        case headTimeout = "head_timeout"
        case bodyTimeout = "body_timeout"
        case idleTimeout = "idle_timeout"
    }

    init(problem: Problem, reason: Reason) {
        self.problem = problem
        self.reason = reason
    }

    /// NIO's decoder (llhttp) refused the bytes: answered with what the bytes got wrong.
    init(parseError: HTTPParserError, firstByte: UInt8? = nil) {
        let what = parseError.debugDescription
        if firstByte == 0x16 {
            self.init(problem: Problem(.badRequest, "tls-to-plain-port", "TLS sent to a plain HTTP port",
                                       detail: "this port speaks plain HTTP/1.1: use http://, not https://"),
                      reason: .malformed)
            return
        }
        switch parseError {
        case .headerOverflow:
            self.init(problem: Problem(.init(code: 431), "request-head-too-large", "Request head too large",
                                       detail: "the request line and header fields exceed request_head_bytes_max or request_header_fields_max"),
                      reason: .headTooLarge)
        case .invalidVersion:
            self.init(problem: Problem(.init(code: 505), "http-version-not-supported", "HTTP version not supported",
                                       detail: "the request line must end in HTTP/1.1 (or HTTP/1.0) and CRLF: this server speaks HTTP/1.1"),
                      reason: .unsupportedVersion)
        case .paused:
            // llhttp pauses on the HTTP/2 connection preface (PRI * HTTP/2.0).
            self.init(problem: Problem(.init(code: 505), "http-version-not-supported", "HTTP version not supported",
                                       detail: "HTTP/2 with prior knowledge is not served: this server speaks HTTP/1.1"),
                      reason: .unsupportedVersion)
        case .invalidMethod:
            self.init(problem: Problem(.notImplemented, "method-not-implemented", "Method not implemented",
                                       detail: "the request method is not one this server knows (methods are case-sensitive: GET, POST, HEAD)"),
                      reason: .invalidMethod)
        case .invalidContentLength, .unexpectedContentLength:
            self.init(problem: Problem(.badRequest, "invalid-content-length", "Invalid message framing",
                                       detail: "\(what): Content-Length must be one non-negative decimal number, and not sent with Transfer-Encoding"),
                      reason: .invalidContentLength)
        case .invalidChunkSize:
            self.init(problem: Problem(.badRequest, "invalid-chunk", "Invalid chunked body", detail: what), reason: .invalidChunk)
        case .invalidEOFState, .closedConnection:
            self.init(problem: Problem(.badRequest, "incomplete-request", "Incomplete request", detail: "the connection ended inside a request"),
                      reason: .closedMidRequest)
        case .unknown:
            self.init(problem: Problem(.badRequest, "malformed-request", "Malformed HTTP request",
                                       detail: "the request is not valid HTTP/1.1 (for example Content-Length sent with Transfer-Encoding, or a Transfer-Encoding other than chunked)"),
                      reason: .malformed)
        default:
            self.init(problem: Problem(.badRequest, "malformed-request", "Malformed HTTP request", detail: what), reason: .malformed)
        }
    }

    /// Which part of a request was too slow, and by which limit: the whole part took longer than
    /// its own limit, or the client went silent inside it for the idle timeout.
    enum SlowPart { case head, body }

    static func tooSlow(_ part: SlowPart, silent: Bool, limit: TimeAmount) -> RequestRefusal {
        let name = part == .head ? "head" : "body"
        let limitMs = limit.nanoseconds / 1_000_000
        let detail = silent ? "nothing arrived for connection_idle_timeout_ms (\(limitMs)) inside the request \(name)"
            : "the request \(name) was not complete within request_\(name)_timeout_ms (\(limitMs))"
        return RequestRefusal(problem: Problem(.requestTimeout, "request-\(name)-timeout", "Request \(name) too slow", detail: detail),
                              reason: part == .head ? .headTimeout : .bodyTimeout)
    }
}

/// Counts every refusal at the door (`wallet_http_refused_requests_total{reason}`) and logs it:
/// the first few of every 10 s window in full, then how many more there were.
final class DoorCounters: Sendable {
    private let counters: [RequestRefusal.Reason: Counter]
    /// Event loops log concurrently: one bounded log behind a lock.
    private let lines = NIOLockedValueBox(BoundedLog())
    private let logger = Logger(label: "wallet.http.door")

    init(registry: PrometheusCollectorRegistry) {
        counters = Dictionary(uniqueKeysWithValues: RequestRefusal.Reason.allCases.map {
            ($0, registry.makeCounter(descriptor: MetricNameDescriptor(
                metricName: "wallet_http_refused_requests", unitName: "total",
                helpText: "Requests and connections refused or closed at the door (malformed, too large, too slow, idle)."), labels: [("reason", $0.rawValue)]))
        })
    }

    func record(_ reason: RequestRefusal.Reason) { counters[reason]?.increment() }

    func log(_ refusal: RequestRefusal, remote: SocketAddress?) {
        let line = "refused a request from \(remote?.ipAddress ?? "?"):\(remote?.port ?? 0): \(refusal.problem.status.code) \(refusal.problem.slug): \(refusal.problem.detail)"
        guard let admitted = lines.withLockedValue({ $0.admit(line, nowNs: DispatchTime.now().uptimeNanoseconds) }) else { return }
        logger.notice("\(admitted)")
    }
}
