// Every answer the router cannot give from a route is still a problem document: unknown paths (404),
// known paths asked with another method (405 with Allow), and errors no route turned into a problem.
import Foundation
import Hummingbird
import HTTPTypes

/// The first middleware: turns Hummingbird's own errors into RFC 9457 problems. A request whose
/// path matches a route of `WalletAPI.routes` with another method is answered 405 with the
/// route's methods in `Allow`; any other unmatched request 404; an error that is not already an
/// HTTP answer 500 (with what went wrong, never a crash).
struct RouteProblems: RouterMiddleware {
    typealias Context = BasicRequestContext
    let routes: [(method: String, path: String)]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            throw problem
        } catch let error as HTTPError {
            throw problem(for: error, request: request)
        } catch let error as HTTPResponseError {
            throw Problem(error.status, "http-error", error.status.reasonPhrase, detail: "the request could not be served: \(error.status.code)")
        } catch {
            throw Problem(.internalServerError, "internal-error", "Internal error", detail: "the request failed: \(error)")
        }
    }

    private func problem(for error: HTTPError, request: Request) -> Problem {
        guard error.status == .notFound else {
            var problem = Problem(error.status, "http-error", error.status.reasonPhrase, detail: error.body ?? "the request could not be served")
            problem.headers = error.headers
            return problem
        }
        let allowed = RouteProblems.methods(allowedFor: request.uri.path, in: routes)
        guard !allowed.isEmpty else {
            return Problem.notFound("no resource at \(request.uri.path.prefix(200)): docs/openapi.yaml lists the paths")
        }
        var problem = Problem(.methodNotAllowed, "method-not-allowed", "Method not allowed",
                              detail: "\(request.method.rawValue.prefix(20)) is not served at \(request.uri.path.prefix(200)); allowed: \(allowed.joined(separator: ", "))")
        problem.headers[.allow] = allowed.joined(separator: ", ")
        return problem
    }

    /// The methods the routes serve at `path` (`{name}` matches one non-empty segment), HEAD with every GET.
    static func methods(allowedFor path: String, in routes: [(method: String, path: String)]) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var methods: [String] = []
        for route in routes {
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: false)
            guard pattern.count == segments.count else { continue }
            let matches = zip(pattern, segments).allSatisfy { part, segment in
                part.hasPrefix("{") ? !segment.isEmpty : part == segment
            }
            if matches && !methods.contains(route.method) { methods.append(route.method) }
        }
        if methods.contains("GET") && !methods.contains("HEAD") { methods.append("HEAD") }
        return methods
    }
}
