// in_flight_requests_max: the requests being handled at once, counted for both the router and the fast path.
import Foundation
import Hummingbird

/// Requests in flight, counted by the middleware below.
final class InFlightCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func enter(limit: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard count < limit else { return false }
        count += 1
        return true
    }

    func leave() {
        lock.lock()
        precondition(count > 0, "a request left that never entered")
        count -= 1
        lock.unlock()
    }

    /// Requests holding a slot now (`wallet_http_in_flight_requests`).
    var current: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}

/// `in_flight_requests_max`: beyond it a request is answered 503 at once instead of queueing.
struct InFlightLimit: RouterMiddleware {
    typealias Context = BasicRequestContext
    let counter: InFlightCounter
    let limit: Int

    /// Answered at once from memory, and needed most when the server is saturated: never limited.
    static let unlimitedPaths: Set<String> = ["/healthz", "/readyz", "/metrics"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if InFlightLimit.unlimitedPaths.contains(request.uri.path) { return try await next(request, context) }
        guard counter.enter(limit: limit) else { throw Problem.tooManyRequests(limit) }
        defer { counter.leave() }
        return try await next(request, context)
    }
}
