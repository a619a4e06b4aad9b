// The wallet's REST API: routes, request validation, and JSON answers.
import Foundation
import Hummingbird
import HummingbirdCore
import LedgerCore
import NIOCore
import Replica

/// Builds the router over a writer and its read model.
public struct WalletAPI: Sendable {
    let writer: any LedgerBackend
    let readModel: ReadModel
    let past: PastReads
    let events: EventHub
    let metrics: LedgerMetrics
    let dataPath: String
    let keys: APIKeys
    let limits: HTTPLimits
    let inFlight = InFlightCounter()

    /// Every route, as docs/openapi.yaml lists them (a test holds the two together).
    public static let routes: [(method: String, path: String)] = [
        ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
        ("POST", "/v1/wallet/balance_transfer"), ("POST", "/v1/wallet/accounts"),
        ("GET", "/v1/wallet/accounts/{id}"), ("GET", "/v1/wallet/accounts/{id}/transfers"),
        ("GET", "/v1/wallet/transfers/{id}"), ("GET", "/v1/wallet/accounts/{id}/events"),
    ]

    func router() -> Router<BasicRequestContext> {
        // HEAD is answered as GET without the body (RFC 9110), from the same route.
        let router = Router(options: .autoGenerateHeadEndpoints)
        router.add(middleware: RouteProblems(routes: WalletAPI.routes))
        router.add(middleware: InFlightLimit(counter: inFlight, limit: limits.inFlightRequestsMax))
        // Request counts and durations per route and status, through swift-metrics.
        router.add(middleware: MetricsMiddleware())
        router.get("/healthz") { _, _ in json(.ok, ["status": "ok"]) }
        router.get("/metrics") { _, _ in
            let state = await writer.consensusState()
            metrics.setConsensus(role: state.role, commitOp: state.commitOp, digestMismatches: state.digestMismatches)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: .init(byteBuffer: ByteBuffer(bytes: metrics.render(dataPath: dataPath, subscribers: events.subscriberCount, history: readModel.historyState,
                                                                                     inFlightRequests: inFlight.current))))
        }
        router.get("/readyz") { _, _ in
            if let reason = writer.writesRefusedBecause {
                var problem = Problem(.serviceUnavailable, "not-ready", "Not ready: writes are refused", detail: reason)
                problem.headers[.retryAfter] = "1"
                throw problem
            }
            return json(.ok, ["status": "ready", "op": readModel.op])
        }
        router.post("/v1/wallet/balance_transfer") { request, context in try await balanceTransfer(request, context) }
        router.post("/v1/wallet/accounts") { request, context in try await createAccount(request, context) }
        router.get("/v1/wallet/accounts/{id}") { request, context in try await account(request, context) }
        router.get("/v1/wallet/accounts/{id}/transfers") { request, context in try await accountTransfers(request, context) }
        router.get("/v1/wallet/transfers/{id}") { request, context in try await transfer(request, context) }
        router.get("/v1/wallet/accounts/{id}/events") { request, context in try await accountEvents(request, context) }
        return router
    }

    // MARK: Writes

    private func balanceTransfer(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request, write: true)
        let body = try await jsonObject(request, fields: ["from_account", "to_account", "amount", "currency", "transaction_id"])
        let from = try accountId(body, "from_account")
        let to = try accountId(body, "to_account")
        let currency = try string(body, "currency")
        guard let exponent = Currency.exponents[currency], let ledger = Currency.ledger(of: currency) else { throw Problem.unknownCurrency(currency) }
        let amountText = try string(body, "amount")
        let amount: UInt128
        switch Amount.minorUnits(amountText, exponent: exponent) {
        case .success(let value): amount = value
        case .failure(let error): throw Problem.invalidAmount(amountText, error)
        }
        let transactionText = try string(body, "transaction_id")
        guard let id = Identifier.transaction(transactionText) else { throw Problem.invalidTransactionId(transactionText) }
        let outcome = try await writer.submit(.transfer(Transfer(id: id, debitAccountId: from, creditAccountId: to, amount: amount, ledger: ledger)),
                                              timeoutMs: limits.requestTimeoutMs)
        let answer = try transferAnswer(outcome, id: id, transactionText: transactionText)
        return Response(status: answer.status, headers: [.contentType: "application/json"], body: .init(byteBuffer: answer.body))
    }

    private func createAccount(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request, write: true)
        let body = try await jsonObject(request, fields: ["account_id", "currency", "flags"], optional: ["flags"])
        let id = try accountId(body, "account_id")
        let currency = try string(body, "currency")
        guard let ledger = Currency.ledger(of: currency) else { throw Problem.unknownCurrency(currency) }
        var flags: AccountFlags = []
        if let given = body["flags"] {
            guard case .array(let elements) = given else { throw Problem.invalidField("flags", "an array of flag names") }
            var names: [String] = []
            for element in elements {
                guard case .string(let name) = element else { throw Problem.invalidField("flags", "an array of flag names (strings)") }
                guard !names.contains(name) else { throw Problem.invalidField("flags", "flag '\(name.prefix(40))' appears more than once") }
                names.append(name)
            }
            for name in names {
                switch name {
                case "debits_must_not_exceed_credits": flags.insert(.debitsMustNotExceedCredits)
                case "credits_must_not_exceed_debits": flags.insert(.creditsMustNotExceedDebits)
                default: throw Problem.invalidField("flags", "unknown flag '\(name.prefix(40))' (debits_must_not_exceed_credits, credits_must_not_exceed_debits)")
                }
            }
        }
        let outcome = try await writer.submit(.account(Account(id: id, ledger: ledger, flags: flags)), timeoutMs: limits.requestTimeoutMs)
        let result = AccountResult(rawValue: outcome.result)
        switch result {
        case .ok?, .exists?:
            guard let account = outcome.account else { throw Problem.unavailable("account \(id) missing after it was created") }
            var object = accountJSON(account)
            object["op"] = outcome.op
            object["replayed"] = result == .exists
            return json(result == .ok ? .created : .ok, object)
        case .existsWithDifferentFields?:
            throw Problem(.conflict, "account-exists", "Account exists", detail: "account \(id) exists with another currency or flags",
                          result: AccountResult.existsWithDifferentFields.name)
        default:
            let name = result?.name ?? "result_\(outcome.result)"
            throw Problem(.unprocessableContent, "account-rejected", "Account rejected", detail: "the ledger refused this account: \(name)", result: name)
        }
    }
}
