// RFC 9457 problem details: every error the API returns, each with a stable type.
import Foundation
import Hummingbird
import LedgerCore

/// An error answered as `application/problem+json`: `type` (stable, one per kind of error),
/// `title`, `status`, `detail`, and for refusals by the ledger its result code.
public struct Problem: Error, HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    /// The stable part of the type URI (`urn:wallet:problem:<slug>`).
    public let slug: String
    public let title: String
    public let detail: String
    /// The ledger's result code (`exceeds_credits`, ...), when the ledger refused the request.
    public let result: String?
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ slug: String, _ title: String, detail: String, result: String? = nil) {
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.result = result
    }

    public var type: String { "urn:wallet:problem:" + slug }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: answerHeaders, body: .init(byteBuffer: ByteBuffer(string: bodyText(instance: request.uri.path))))
    }

    /// The problem+json document, for the request at `instance` (its path; nil when the request
    /// was refused before its path was known).
    func bodyText(instance: String?) -> String {
        var object: [String: Any] = ["type": type, "title": title, "status": Int(status.code), "detail": detail]
        if let result { object["result"] = result }
        if let instance { object["instance"] = instance }
        return JSONText.encode(object)
    }

    /// The problem's own headers and its content type.
    var answerHeaders: HTTPFields {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return fields
    }
}

extension Problem {
    static func invalidJSON(_ detail: String) -> Problem { Problem(.badRequest, "invalid-json", "The body is not a JSON object", detail: detail) }
    static func invalidJSON(_ error: JSONError) -> Problem {
        if case .duplicateKey(let key) = error {
            return Problem(.badRequest, "duplicate-field", "Repeated field", detail: "field '\(key.prefix(64))' appears more than once: a body must say one thing")
        }
        return invalidJSON(error.detail)
    }
    /// Parameters each well formed that ask for two different things at once.
    static func conflictingParameters(_ detail: String) -> Problem { Problem(.unprocessableContent, "conflicting-parameters", "Conflicting parameters", detail: detail) }
    /// A well-formed op this server has not applied (yet).
    static func opNotApplied(_ name: String, _ op: UInt64, appliedOp: UInt64) -> Problem {
        Problem(.unprocessableContent, "op-not-applied", "Op not applied yet", detail: "\(name): op \(op) is past the last applied op \(appliedOp)")
    }
    static func unknownField(_ name: String) -> Problem { Problem(.badRequest, "unknown-field", "Unknown field", detail: "field '\(name)' is not part of this request") }
    static func missingField(_ name: String) -> Problem { Problem(.badRequest, "missing-field", "Missing field", detail: "field '\(name)' is required") }
    static func invalidField(_ name: String, _ why: String) -> Problem { Problem(.badRequest, "invalid-field", "Invalid field", detail: "field '\(name)': \(why)") }
    static func invalidAccountId(_ text: String) -> Problem {
        if case .success(let id) = UInt128.parseDecimal(text), ReservedIds.contains(id) {
            return Problem(.badRequest, "invalid-account-id", "Invalid account id", detail: ReservedIds.refusal("account id", id))
        }
        return Problem(.badRequest, "invalid-account-id", "Invalid account id", detail: "'\(text.prefix(64))' is not the decimal digits of a 128-bit integer (not 0, not 2^128-1)")
    }
    static func invalidTransactionId(_ text: String) -> Problem {
        if let id = Identifier.transactionValue(text), ReservedIds.contains(id) {
            return Problem(.badRequest, "invalid-transaction-id", "Invalid transaction id", detail: ReservedIds.refusal("transaction id", id))
        }
        return Problem(.badRequest, "invalid-transaction-id", "Invalid transaction id", detail: "'\(text.prefix(64))' is neither a UUID nor the decimal digits of a 128-bit integer (not 0, not 2^128-1)")
    }
    static func unknownCurrency(_ code: String) -> Problem {
        Problem(.badRequest, "unknown-currency", "Unknown currency", detail: "'\(code.prefix(16))' is not an ISO 4217 code this ledger accepts")
    }
    static func invalidAmount(_ text: String, _ error: AmountError) -> Problem {
        switch error {
        case .notADecimal: return Problem(.badRequest, "invalid-amount", "Invalid amount", detail: "'\(text.prefix(64))' is not a decimal string such as \"12.34\" (digits, at most one dot, no sign)")
        case .tooManyDecimals(let allowed): return Problem(.badRequest, "too-many-decimals", "Too many decimals", detail: "'\(text.prefix(64))' has more than the currency's \(allowed) decimals")
        case .zero: return Problem(.badRequest, "amount-zero", "Amount is zero", detail: "an amount must be more than zero")
        case .outOfRange:
            return Problem(.badRequest, "amount-out-of-range", "Amount out of range",
                           detail: "'\(text.prefix(64))' does not fit in 128 bits: the amount in minor units must be at most 2^128-1")
        }
    }
    static func bodyTooLarge(_ limit: Int) -> Problem {
        Problem(.contentTooLarge, "body-too-large", "Request body too large", detail: "the body exceeds request_body_bytes_max (\(limit) bytes)")
    }
    static func unauthorized() -> Problem {
        var problem = Problem(.unauthorized, "unauthorized", "API key required", detail: "send 'Authorization: Bearer <key>' with a key the server was given")
        problem.headers[.wwwAuthenticate] = "Bearer"
        return problem
    }
    static func forbidden() -> Problem { Problem(.forbidden, "forbidden", "API key not allowed", detail: "this key may not do this") }
    static func notFound(_ what: String) -> Problem { Problem(.notFound, "not-found", "Not found", detail: what) }
    static func tooManyRequests(_ limit: Int) -> Problem {
        var problem = Problem(.serviceUnavailable, "too-many-requests", "Too many requests in flight", detail: "in_flight_requests_max (\(limit)) reached: retry with back-off")
        problem.headers[.retryAfter] = "1"
        return problem
    }
    static func timeout(_ limitMs: Int) -> Problem {
        Problem(.serviceUnavailable, "timeout", "Request timed out",
                detail: "no answer within request_timeout_ms (\(limitMs)); a write may still be applied: retry with the same transaction_id to learn its outcome")
    }
    static func unavailable(_ detail: String) -> Problem { Problem(.serviceUnavailable, "unavailable", "Ledger unavailable", detail: detail) }
    /// A write refused at once while the storage is failing: not taken, so certainly not applied.
    static func storageUnavailable(_ cause: String, retryAfterS: Int) -> Problem {
        var problem = Problem(.serviceUnavailable, "storage-unavailable", "Writes paused: the storage failed",
                              detail: "the last write failed (\(cause)); this write was not taken: retry after \(retryAfterS) s (reads are served meanwhile)")
        problem.headers[.retryAfter] = String(retryAfterS)
        return problem
    }
}
