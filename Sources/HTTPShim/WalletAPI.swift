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

    // MARK: Reads

    private func account(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request, write: false)
        let id = try accountIdParameter(context)
        let query = request.uri.queryParameters
        try onlyParameters(query, ["at_op", "at_time", "consistency"])
        if try isLinearizable(query) {
            guard query.get("at_op") == nil && query.get("at_time") == nil else {
                throw Problem.conflictingParameters("consistency=linearizable reads the present; at_op and at_time read the past (give one or the other)")
            }
            let (found, op) = try await writer.linearizableAccount(id, timeoutMs: limits.requestTimeoutMs)
            guard let found else { throw Problem.notFound("account \(id) does not exist (as of op \(op))") }
            var object = accountJSON(found)
            object["op"] = op
            object["consistency"] = "linearizable"
            return json(.ok, object)
        }
        if let atOpText = query.get("at_op") {
            guard query.get("at_time") == nil else { throw Problem.conflictingParameters("give at_op or at_time, not both") }
            guard let atOp = UInt64(atOpText) else { throw Problem.invalidField("at_op", "'\(atOpText.prefix(40))' is not an op number") }
            return try await pastAccount(id, atOp: atOp, atTimeNs: nil)
        }
        if let atTimeText = query.get("at_time") {
            guard let atTimeNs = Instant.parseNs(atTimeText) else {
                throw Problem.invalidField("at_time", "'\(atTimeText.prefix(40))' is neither ns since the epoch nor RFC 3339 UTC (2026-11-23T14:20:00Z)")
            }
            return try await pastAccount(id, atOp: nil, atTimeNs: atTimeNs)
        }
        let (found, op) = readModel.account(id: id)
        guard let found else { throw Problem.notFound("account \(id) does not exist (as of op \(op))") }
        // The hot read: written straight to text, the same fields and order as `accountJSON` + JSONText.
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: accountText(found, op: op))))
    }

    /// A past balance, exact to the record: from the read model's balance history when the point is
    /// in its window (microseconds), otherwise the nearest snapshot at or before it plus a replay.
    private func pastAccount(_ id: UInt128, atOp: UInt64?, atTimeNs: UInt64?) async throws -> Response {
        if let atOp, atOp > readModel.op {
            throw Problem.opNotApplied("at_op", atOp, appliedOp: readModel.op)
        }
        if let recent = readModel.pastAccount(id: id, atOp: atOp, atTimeNs: atTimeNs) {
            guard let found = recent.account else { throw Problem.notFound("account \(id) did not exist at op \(recent.point.op)") }
            var object = accountJSON(found)
            object["op"] = recent.point.op
            object["records_of_op"] = recent.point.records
            object["as_of_ns"] = recent.point.timestampNs
            object["source"] = "balance_history"
            object["consistency"] = "historical"
            return json(.ok, object)
        }
        let past = try await self.past.account(id, atOp: atOp, atTimeNs: atTimeNs, appliedOp: readModel.op)
        guard let found = past.account else { throw Problem.notFound("account \(id) did not exist at op \(past.point.op)") }
        var object = accountJSON(found)
        object["op"] = past.point.op
        object["records_of_op"] = past.point.records
        object["as_of_ns"] = past.point.timestampNs
        object["snapshot_op"] = past.snapshotOp
        object["source"] = "replay"
        object["consistency"] = "historical"
        return json(.ok, object)
    }

    /// An account's changes, paged by op: each with the transfer, the amount and the balances after it.
    private func accountTransfers(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request, write: false)
        let id = try accountIdParameter(context)
        let query = request.uri.queryParameters
        try onlyParameters(query, ["from_op", "to_op", "limit"])
        let appliedOp = readModel.op
        guard let account = readModel.account(id: id).account else { throw Problem.notFound("account \(id) does not exist (as of op \(appliedOp))") }
        func number(_ name: String, _ fallback: UInt64) throws -> UInt64 {
            guard let given = query.get(name) else { return fallback }
            guard let value = UInt64(given) else { throw Problem.invalidField(name, "'\(given.prefix(40))' is not a number") }
            return value
        }
        let fromOp = try number("from_op", 1)
        let toOp = try number("to_op", appliedOp)
        let limit = try number("limit", 100)
        guard limit >= 1 && limit <= UInt64(PastReads.pageEntriesMax) else {
            throw Problem.invalidField("limit", "\(limit) is outside 1...\(PastReads.pageEntriesMax) (history_page_entries_max)")
        }
        guard toOp <= appliedOp else { throw Problem.opNotApplied("to_op", toOp, appliedOp: appliedOp) }
        // An empty range (from_op past to_op, or op 0 alone) is an empty page.
        let page: (entries: [AccountHistoryEntry], nextFromOp: UInt64?) = fromOp > toOp || toOp == 0 ? ([], nil) : try await past.transfers(id, fromOp: max(fromOp, 1), toOp: toOp, limit: Int(limit))
        let (code, exponent) = Currency.display(account.ledger)
        let entries = page.entries.map { historyEntryJSON($0, exponent: exponent) }
        var object: [String: Any] = ["account_id": String(id), "currency": code, "from_op": fromOp, "to_op": toOp, "entries": entries]
        object["next_from_op"] = page.nextFromOp.map { $0 as Any } ?? NSNull()
        return json(.ok, object)
    }

    /// Server-sent events: the account's state now (`event: balance`), its changes since `from_op`
    /// if given (`event: change`, one per transfer, from the log), then every later change as it
    /// is applied (`event: balance`, with the op). `id` is the op, so a client that reconnects
    /// with `Last-Event-ID` (or `from_op`) misses nothing. Comments keep idle proxies open.
    private func accountEvents(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request, write: false)
        let id = try accountIdParameter(context)
        let query = request.uri.queryParameters
        try onlyParameters(query, ["from_op"])
        var fromOp: UInt64?
        let lastEventId = request.headers.first { $0.name.canonicalName == "last-event-id" }?.value
        // Last-Event-ID is the op of the last event seen: the stream resumes after it (checked: it is the client's number).
        if let lastEventId, query.get("from_op") == nil {
            guard let seen = UInt64(lastEventId.trimmingCharacters(in: .whitespaces)), seen < UInt64.max else {
                throw Problem.invalidField("Last-Event-ID", "'\(lastEventId.prefix(40))' is not the op of an event")
            }
            fromOp = seen + 1
        } else if let given = query.get("from_op") {
            guard let value = UInt64(given), value >= 1 else { throw Problem.invalidField("from_op", "'\(given.prefix(40))' is not an op number") }
            fromOp = value
        }
        // Subscribe before reading the current state, so no change falls between the two.
        let stream = events.subscribe(id)
        let (current, currentOp) = readModel.account(id: id)
        guard let current else { throw Problem.notFound("account \(id) does not exist (as of op \(currentOp))") }
        let exponent = Currency.display(current.ledger).exponent
        var history: [AccountHistoryEntry] = []
        if let fromOp, fromOp <= currentOp {
            var next: UInt64? = fromOp
            while let start = next {
                let page = try await past.transfers(id, fromOp: start, toOp: currentOp, limit: PastReads.pageEntriesMax)
                history += page.entries
                next = page.nextFromOp
            }
        }
        let keepAliveMs = max(100, min(15_000, limits.connectionIdleTimeoutMs / 2))
        let replay = history
        let body = ResponseBody { writer in
            for entry in replay {
                var change = historyEntryJSON(entry, exponent: exponent)
                change["account_id"] = String(id)
                try await writer.write(serverSentEvent(id: entry.op, event: "change", change))
            }
            var state = accountJSON(current)
            state["op"] = currentOp
            try await writer.write(serverSentEvent(id: currentOp, event: "balance", state))
            // Live changes, with keep-alive comments between them when quiet.
            let merged = AsyncStream<EventHub.Event?> { continuation in
                let forward = Task {
                    for await event in stream { continuation.yield(event) }
                    continuation.finish()
                }
                let ticker = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(keepAliveMs))
                        continuation.yield(nil)
                    }
                }
                continuation.onTermination = { _ in forward.cancel(); ticker.cancel() }
            }
            for await item in merged {
                guard let item else {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    continue
                }
                switch item {
                case .balance(let account, let op):
                    guard op > currentOp else { continue }
                    var object = accountJSON(account)
                    object["op"] = op
                    try await writer.write(serverSentEvent(id: op, event: "balance", object))
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    private func transfer(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request, write: false)
        let text = try context.parameters.require("id")
        guard let id = Identifier.transaction(text) else { throw Problem.invalidTransactionId(text) }
        let query = request.uri.queryParameters
        try onlyParameters(query, ["consistency"])
        let linearizable = try isLinearizable(query)
        let outcome = linearizable
            ? try await writer.linearizableTransfer(id, timeoutMs: limits.requestTimeoutMs)
            : try await writer.submit(.lookupTransfer(id), timeoutMs: limits.requestTimeoutMs)
        guard let stored = outcome.stored else { throw Problem.notFound("transfer \(text.prefix(64)) does not exist (as of op \(outcome.op))") }
        var object = transferJSON(stored.transfer, transactionId: text)
        object["result"] = stored.result.name
        // The op that applied it, as the transfer's own answer names it; the state read is as of `as_of_op`.
        object["op"] = outcome.storedOp.map { $0 as Any } ?? NSNull()
        object["as_of_op"] = outcome.op
        object["consistency"] = linearizable ? "linearizable" : "applied"
        return json(.ok, object)
    }

    // MARK: Helpers

    private func authorize(_ request: Request, write: Bool) throws {
        if let refusal = keys.refusal(authorization: request.headers[.authorization], write: write) { throw refusal }
    }

    /// The body as a JSON object with exactly the expected fields, parsed strictly (`StrictJSON`:
    /// a repeated field, a trailing comma, a byte order mark or bytes that are not UTF-8 are
    /// refused), and unknown fields refused too, so a typo never silently drops a field.
    private func jsonObject(_ request: Request, fields: Set<String>, optional: Set<String> = []) async throws -> [String: JSONValue] {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limits.requestBodyBytesMax)
        } catch is NIOTooManyBytesError {
            throw Problem.bodyTooLarge(limits.requestBodyBytesMax)
        } catch {
            throw Problem(.badRequest, "incomplete-body", "Incomplete body", detail: "the request body could not be read whole: \(error)")
        }
        let parsed: JSONValue
        do {
            parsed = try buffer.withUnsafeReadableBytes { bytes throws(JSONError) in try StrictJSON.parse(bytes.bindMemory(to: UInt8.self)) }
        } catch {
            throw Problem.invalidJSON(error)
        }
        guard case .object(let members) = parsed else { throw Problem.invalidJSON("the body is JSON but not an object") }
        var object: [String: JSONValue] = [:]
        for (key, value) in members {
            guard fields.contains(key) else { throw Problem.unknownField(key) }
            object[key] = value
        }
        for key in fields.sorted() where !optional.contains(key) && object[key] == nil { throw Problem.missingField(key) }
        return object
    }

    /// The `{id}` of the path, as an account id.
    private func accountIdParameter(_ context: BasicRequestContext) throws -> UInt128 {
        let text = try context.parameters.require("id")
        guard let id = Identifier.account(text) else { throw Problem.invalidAccountId(text) }
        return id
    }

    /// `?consistency=`: `applied` (the default: this replica's state, as of the op the answer
    /// names) or `linearizable` (after the leader's read index).
    private func isLinearizable(_ query: FlatDictionary<Substring, Substring>) throws -> Bool {
        guard let consistency = query.get("consistency") else { return false }
        guard consistency == "linearizable" || consistency == "applied" else {
            throw Problem.invalidField("consistency", "'\(consistency.prefix(40))' is neither 'applied' (the default: this replica's state) nor 'linearizable' (the leader's read index)")
        }
        return consistency == "linearizable"
    }

    /// Unknown query parameters are refused, as unknown body fields are; so is a repeated one
    /// (`?at_op=1&at_op=2` means nothing in particular).
    private func onlyParameters(_ query: FlatDictionary<Substring, Substring>, _ allowed: Set<String>) throws {
        var seen = Set<Substring>()
        for (key, _) in query {
            guard allowed.contains(String(key)) else { throw Problem.invalidField(String(key.prefix(64)), "unknown query parameter") }
            guard seen.insert(key).inserted else {
                throw Problem(.badRequest, "duplicate-parameter", "Repeated query parameter", detail: "query parameter '\(key)' appears more than once")
            }
        }
    }

    private func string(_ body: [String: JSONValue], _ name: String) throws -> String {
        guard case .string(let value)? = body[name] else { throw Problem.invalidField(name, "must be a string, not \(body[name]?.kindName ?? "missing")") }
        return value
    }

    private func accountId(_ body: [String: JSONValue], _ name: String) throws -> UInt128 {
        let text = try string(body, name)
        guard let id = Identifier.account(text) else { throw Problem.invalidAccountId(text) }
        return id
    }
}

func accountJSON(_ account: Account) -> [String: Any] {
    let (code, exponent) = Currency.display(account.ledger)
    let (debitsTotal, overflow) = account.debitsPosted.addingReportingOverflow(account.debitsPending)
    var flags: [String] = []
    if account.flags.contains(.debitsMustNotExceedCredits) { flags.append("debits_must_not_exceed_credits") }
    if account.flags.contains(.creditsMustNotExceedDebits) { flags.append("credits_must_not_exceed_debits") }
    return [
        "account_id": String(account.id),
        "currency": code,
        "balance": Amount.formatDifference(account.creditsPosted, minus: account.debitsPosted, exponent: exponent),
        "available": overflow ? "-" : Amount.formatDifference(account.creditsPosted, minus: debitsTotal, exponent: exponent),
        "debits_posted": Amount.format(account.debitsPosted, exponent: exponent),
        "credits_posted": Amount.format(account.creditsPosted, exponent: exponent),
        "debits_pending": Amount.format(account.debitsPending, exponent: exponent),
        "credits_pending": Amount.format(account.creditsPending, exponent: exponent),
        "flags": flags,
    ]
}

/// `accountJSON(account)` plus `op` and `consistency: "applied"`, as JSONText would write it (keys
/// sorted), without the dictionary: the account read is the hottest request.
func accountText(_ account: Account, op: UInt64) -> String {
    var buffer = ByteBufferAllocator().buffer(capacity: 320)
    writeAccountText(account, op: op, into: &buffer)
    return String(buffer: buffer)
}

/// `accountText`, written straight into the answer's buffer (no String in between): about 0.4 µs.
func writeAccountText(_ account: Account, op: UInt64, into buffer: inout ByteBuffer) {
    let (code, exponent) = Currency.display(account.ledger)
    let (debitsTotal, overflow) = account.debitsPosted.addingReportingOverflow(account.debitsPending)
    buffer.writeStaticString("{\"account_id\":\"")
    DecimalText.write(account.id, exponent: 0, into: &buffer)
    buffer.writeStaticString("\",\"available\":\"")
    if overflow { buffer.writeStaticString("-") } else { DecimalText.writeDifference(account.creditsPosted, minus: debitsTotal, exponent: exponent, into: &buffer) }
    buffer.writeStaticString("\",\"balance\":\"")
    DecimalText.writeDifference(account.creditsPosted, minus: account.debitsPosted, exponent: exponent, into: &buffer)
    buffer.writeStaticString("\",\"consistency\":\"applied\",\"credits_pending\":\"")
    DecimalText.write(account.creditsPending, exponent: exponent, into: &buffer)
    buffer.writeStaticString("\",\"credits_posted\":\"")
    DecimalText.write(account.creditsPosted, exponent: exponent, into: &buffer)
    buffer.writeStaticString("\",\"currency\":\"")
    buffer.writeString(code)
    buffer.writeStaticString("\",\"debits_pending\":\"")
    DecimalText.write(account.debitsPending, exponent: exponent, into: &buffer)
    buffer.writeStaticString("\",\"debits_posted\":\"")
    DecimalText.write(account.debitsPosted, exponent: exponent, into: &buffer)
    buffer.writeStaticString("\",\"flags\":[")
    let debitsLimited = account.flags.contains(.debitsMustNotExceedCredits)
    if debitsLimited { buffer.writeStaticString("\"debits_must_not_exceed_credits\"") }
    if account.flags.contains(.creditsMustNotExceedDebits) {
        if debitsLimited { buffer.writeStaticString(",") }
        buffer.writeStaticString("\"credits_must_not_exceed_debits\"")
    }
    buffer.writeStaticString("],\"op\":")
    DecimalText.write(UInt128(op), exponent: 0, into: &buffer)
    buffer.writeStaticString("}")
}

/// `transferJSON` plus `op` and `replayed`, as JSONText would write it, without the dictionary:
/// the answer to every transfer.
func transferText(_ transfer: Transfer, transactionId: String, op: UInt64?, replayed: Bool) -> String {
    var buffer = ByteBufferAllocator().buffer(capacity: 256)
    writeTransferText(transfer, transactionId: transactionId, op: op, replayed: replayed, into: &buffer)
    return String(buffer: buffer)
}

/// `transferText`, written straight into the answer's buffer.
/// `op` is the op of the batch that applied the transfer (null when the log no longer holds it).
func writeTransferText(_ transfer: Transfer, transactionId: String, op: UInt64?, replayed: Bool, into buffer: inout ByteBuffer) {
    let (code, exponent) = Currency.display(transfer.ledger)
    buffer.writeStaticString("{\"amount\":\"")
    DecimalText.write(transfer.amount, exponent: exponent, into: &buffer)
    buffer.writeStaticString("\",\"currency\":\"")
    buffer.writeString(code)
    buffer.writeStaticString("\",\"from_account\":\"")
    DecimalText.write(transfer.debitAccountId, exponent: 0, into: &buffer)
    buffer.writeStaticString("\",\"op\":")
    if let op { DecimalText.write(UInt128(op), exponent: 0, into: &buffer) } else { buffer.writeStaticString("null") }
    buffer.writeStaticString(replayed ? ",\"replayed\":true,\"timestamp_ns\":" : ",\"replayed\":false,\"timestamp_ns\":")
    DecimalText.write(UInt128(transfer.timestamp), exponent: 0, into: &buffer)
    buffer.writeStaticString(",\"to_account\":\"")
    DecimalText.write(transfer.creditAccountId, exponent: 0, into: &buffer)
    buffer.writeStaticString("\",\"transaction_id\":")
    // A valid transaction id is a UUID or digits: nothing to escape; anything else goes through JSONText.
    if transactionId.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) || ($0 >= 0x61 && $0 <= 0x66) || $0 == 0x2D }) {
        buffer.writeStaticString("\"")
        buffer.writeString(transactionId)
        buffer.writeStaticString("\"")
    } else {
        buffer.writeString(JSONText.encode(transactionId))
    }
    buffer.writeStaticString(",\"transfer_id\":\"")
    DecimalText.write(transfer.id, exponent: 0, into: &buffer)
    buffer.writeStaticString("\"}")
}

/// One change to an account (a page of its transfers, or a replayed `change` event).
func historyEntryJSON(_ entry: AccountHistoryEntry, exponent: Int) -> [String: Any] {
    [
        "op": entry.op, "record": entry.recordIndex, "timestamp_ns": entry.timestampNs, "transfer_id": String(entry.transferId),
        "kind": entry.kind.rawValue, "side": entry.isDebit ? "debit" : "credit", "counterparty": String(entry.counterpartyId),
        "amount": Amount.format(entry.amount, exponent: exponent),
        "balance": Amount.formatDifference(entry.after.creditsPosted, minus: entry.after.debitsPosted, exponent: exponent),
        "debits_pending": Amount.format(entry.after.debitsPending, exponent: exponent),
        "credits_pending": Amount.format(entry.after.creditsPending, exponent: exponent),
    ]
}

func transferJSON(_ transfer: Transfer, transactionId: String) -> [String: Any] {
    let (code, exponent) = Currency.display(transfer.ledger)
    return [
        "transaction_id": transactionId,
        "transfer_id": String(transfer.id),
        "from_account": String(transfer.debitAccountId),
        "to_account": String(transfer.creditAccountId),
        "amount": Amount.format(transfer.amount, exponent: exponent),
        "currency": code,
        "timestamp_ns": transfer.timestamp,
    ]
}

/// What a submitted transfer's outcome is answered with (the router and the fast path alike):
/// 201 with the transfer, 200 with the first outcome for a retry, or the problem.
func transferAnswer(_ outcome: WriteOutcome, id: UInt128, transactionText: String) throws -> (status: HTTPResponse.Status, body: ByteBuffer) {
    let result = TransferResult(rawValue: outcome.result)
    // A retry of the same transaction_id answers what the first attempt got.
    let replayed = result == .exists || result == .idAlreadyFailed
    if let stored = outcome.stored, stored.transfer.id == id, replayed || result == .ok {
        guard stored.result == .ok else {
            throw Problem(.unprocessableContent, "transfer-rejected", "Transfer rejected",
                          detail: "the ledger refused this transfer\(replayed ? " when it was first submitted" : ""): \(stored.result.name)",
                          result: stored.result.name)
        }
        var body = ByteBufferAllocator().buffer(capacity: 256)
        writeTransferText(stored.transfer, transactionId: transactionText, op: outcome.storedOp, replayed: replayed, into: &body)
        return (replayed ? .ok : .created, body)
    }
    if result == .existsWithDifferentFields {
        throw Problem(.conflict, "transaction-id-reused", "Transaction id already used",
                      detail: "transaction_id \(transactionText) names another transfer (different accounts, amount or currency)",
                      result: TransferResult.existsWithDifferentFields.name)
    }
    let name = result?.name ?? "result_\(outcome.result)"
    throw Problem(.unprocessableContent, "transfer-rejected", "Transfer rejected", detail: "the ledger refused this transfer: \(name)", result: name)
}

func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: JSONText.encode(object))))
}

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
